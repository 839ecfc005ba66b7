// Package manifests loads the manifests under test into typed Kubernetes
// objects, reading them exactly as the tools that deploy them do:
//
//   - plain files and directories as `kubectl apply -f [-R]` reads them:
//     multi-document YAML, streams of JSON objects, `kind: List`;
//   - a directory with a kustomization as `kubectl apply -k` renders it,
//     through kustomize's own library (sigs.k8s.io/kustomize/api/krusty)
//     with its default load restrictions (files only in or below the root);
//   - a directory with a Chart.yaml as `helm template` renders it, through
//     the Helm SDK (helm.go).
//
// Every object is decoded as the API server decodes `kubectl apply` with
// its default strict field validation: unknown and duplicate fields are
// errors, and so is an API version the server no longer serves.
//
// What is refused, and why (each error names the file, and the line and
// field path where the parser knows them):
//   - anything but a regular file (FIFO, device, socket; also through a
//     symlink): reading one hangs or never ends;
//   - a file over MaxFileBytes (3 MiB, the API server's request limit);
//   - a symlink loop, an unreadable file (named, with the cause);
//   - a remote kustomize resource (URL or git ref): nothing is fetched, no
//     network is tried; vendor the base into the repository;
//   - a kustomization file outside its root (kustomize's own restriction);
//   - a kind other than the todo-app's seven (supported), and an object
//     defined twice in one set.
package manifests

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/puretasks/k8s-conformance/internal/kubeversion"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Object is one decoded object and where it came from.
type Object struct {
	client.Object
	Source string // file:line of the document (the origin file of a rendered object)
}

// Key identifies an object within a set.
type Key struct {
	Kind, Namespace, Name string
}

func (k Key) String() string {
	if k.Namespace == "" {
		return k.Kind + "/" + k.Name
	}
	return k.Kind + " " + k.Namespace + "/" + k.Name
}

// KeyOf returns the object's key.
func KeyOf(o client.Object) Key {
	return Key{Kind: o.GetObjectKind().GroupVersionKind().Kind, Namespace: o.GetNamespace(), Name: o.GetName()}
}

// Set is the objects of one apply unit (a directory, a kustomization, a
// chart, a file).
type Set struct {
	Name    string
	Path    string
	Objects []Object
	// Excluded lists what the renderer produced but is left out of the set
	// under test, each with why: a chart's hook and test templates
	// (helm.sh/hook), which `helm install` runs around the release rather
	// than as part of it.
	Excluded []string
	// Hooks are a chart's hook and test objects (helm.sh/hook). They are not
	// the seed's objects, but helm install creates them and, without a
	// delete policy, keeps them: checks that read every object read them.
	Hooks []Object
}

// Installed returns every object applying the set creates: its objects and,
// for a chart, its hooks. Rules that hold for any object (credentials,
// exposure, pod security) read this; the seed's checks read Objects.
func (s *Set) Installed() []Object {
	return append(slices.Clip(s.Objects), s.Hooks...)
}

// kustomizationNames are the file names kustomize recognises.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

func kustomizationIn(dir string) string {
	for _, n := range kustomizationNames {
		p := filepath.Join(dir, n)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}

// loader decodes each file once; sets that share files get deep copies.
type loader struct {
	files map[string][]Object
	// resourceFiles are the objects of kustomize resource files, decoded
	// before krusty runs; they give rendered objects a file:line Source.
	resourceFiles map[string][]Object
}

func newLoader() *loader {
	return &loader{files: map[string][]Object{}, resourceFiles: map[string][]Object{}}
}

func (l *loader) decodeFile(path string) ([]Object, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	objs, ok := l.files[abs]
	if !ok {
		raw, err := readFile(path)
		if err != nil {
			return nil, err
		}
		if objs, err = decodeBytes(path, asKubectlReads(raw), forSet); err != nil {
			return nil, err
		}
		l.files[abs] = objs
	}
	out := make([]Object, len(objs))
	for i, o := range objs {
		out[i] = Object{Object: o.DeepCopyObject().(client.Object), Source: o.Source}
	}
	return out, nil
}

// Load reads one set from a file or a directory: a chart is rendered as
// `helm template` (settings from HelmSettingsFromEnv), a kustomization as
// `kubectl apply -k`, any other directory contributes every
// .yaml/.yml/.json file below it.
func Load(path string) (*Set, error) {
	if _, err := kubeversion.Target(); err != nil {
		return nil, fmt.Errorf("manifests: %w", err)
	}
	if chartIn(path) {
		hs, err := HelmSettingsFromEnv()
		if err != nil {
			return nil, err
		}
		return newLoader().loadChart(path, filepath.Base(path), hs)
	}
	return newLoader().load(path)
}

func (l *loader) load(path string) (*Set, error) {
	st, err := statInput(path)
	if err != nil {
		return nil, err
	}
	set := &Set{Name: filepath.Base(path), Path: path}
	var objs []Object
	switch {
	case !st.IsDir():
		objs, err = l.decodeFile(path)
	case chartIn(path):
		return nil, fmt.Errorf("manifests: %s is a Helm chart; it is rendered with the MANIFESTS_* Helm settings, not read as plain YAML", path)
	case kustomizationIn(path) != "":
		objs, err = l.renderKustomization(path)
	default:
		objs, err = l.loadTree(path)
	}
	if err != nil {
		return nil, err
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("manifests: %s holds no Kubernetes objects (looked for .yaml, .yml and .json files)", path)
	}
	if err := checkDuplicates(objs); err != nil {
		return nil, err
	}
	set.Objects = objs
	return set, nil
}

// loadChart renders a chart and decodes what it renders as any manifest.
func (l *loader) loadChart(dir, name string, hs HelmSettings) (*Set, error) {
	docs, hooks, err := renderChart(dir, hs)
	if err != nil {
		return nil, err
	}
	set := &Set{Name: name, Path: dir}
	for _, h := range hooks {
		set.Excluded = append(set.Excluded, h+": a Helm hook or test, run around the release, not part of it")
	}
	// A template that renders several documents gives each the same name;
	// they are numbered so that two objects from one template are told
	// apart (and a duplicate is not mistaken for one file read twice).
	perTemplate := map[string]int{}
	for _, d := range docs {
		perTemplate[d.Source]++
	}
	seen := map[string]int{}
	for _, d := range docs {
		objs, err := decodeBytes(d.Source, d.YAML, forSet)
		if err != nil {
			return nil, fmt.Errorf("%w (rendered by Helm from %s)", err, dir)
		}
		seen[d.Source]++
		if perTemplate[d.Source] > 1 {
			for i := range objs {
				objs[i].Source = fmt.Sprintf("%s (document %d)", objs[i].Source, seen[d.Source])
			}
		}
		set.Objects = append(set.Objects, objs...)
	}
	if len(set.Objects) == 0 {
		return nil, fmt.Errorf("manifests: the chart %s renders no Kubernetes objects with these settings", dir)
	}
	if err := checkDuplicates(set.Objects); err != nil {
		return nil, err
	}
	return set, nil
}

func (l *loader) loadTree(root string) ([]Object, error) {
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrPermission) {
				return fmt.Errorf("manifests: %s: permission denied: the suite cannot list it (check the directory's mode and owner)", p)
			}
			return fmt.Errorf("manifests: %w", err)
		}
		if d.IsDir() {
			// Hidden directories are read too: kubectl apply -R walks
			// them (filepath.Walk, no exception), so a Secret in .extra/
			// would be applied and must be checked.
			if p != root && chartIn(p) {
				return fmt.Errorf("manifests: %s is a Helm chart inside a directory of plain manifests; point MANIFESTS_DIR at the chart itself (its templates are not YAML until rendered)", p)
			}
			return nil
		}
		if isManifestFile(p) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var objs []Object
	for _, f := range files {
		o, err := l.decodeFile(f)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o...)
	}
	return objs, nil
}

// isManifestFile is kubectl's choice of files in a directory
// (cli-runtime's FileExtensions and ignoreFile): the extension compared
// case-sensitively, so x.YAML is not applied by kubectl and not read here.
func isManifestFile(p string) bool {
	switch filepath.Ext(p) {
	case ".yaml", ".yml", ".json":
		return !slices.Contains(kustomizationNames, filepath.Base(p))
	}
	return false
}

// clusterScoped are the supported kinds without a namespace.
var clusterScoped = map[string]bool{"Namespace": true, "PersistentVolume": true}

// checkDuplicates refuses an object defined twice. A namespaced object
// without metadata.namespace is put by kubectl in the namespace of the
// current context, unknown here: it is the same object as one of its kind
// and name in any namespace the context may name, so the two are refused
// too (one would silently overwrite the other, and the checks would see
// only one of them).
func checkDuplicates(objs []Object) error {
	seen := map[Key]string{}
	type kindName struct{ kind, name string }
	byName := map[kindName][]Object{}
	for _, o := range objs {
		k := KeyOf(o)
		if first, ok := seen[k]; ok {
			if first == o.Source {
				return fmt.Errorf("manifests: %s from %s is in the set twice: the same file is included through two paths", k, first)
			}
			return fmt.Errorf("manifests: %s is defined twice: %s and %s", k, first, o.Source)
		}
		seen[k] = o.Source
		if !clusterScoped[k.Kind] {
			byName[kindName{k.Kind, k.Name}] = append(byName[kindName{k.Kind, k.Name}], o)
		}
	}
	for _, o := range objs {
		k := KeyOf(o)
		if clusterScoped[k.Kind] || k.Namespace != "" {
			continue
		}
		for _, other := range byName[kindName{k.Kind, k.Name}] {
			if other.GetNamespace() != "" {
				return fmt.Errorf("manifests: %s is defined twice: %s has no metadata.namespace, so kubectl applies it to the current context's namespace, which may be %s, where it is the same object as %s from %s (one overwrites the other); give it a namespace", KeyOf(other), o.Source, other.GetNamespace(), KeyOf(other), other.Source)
			}
		}
	}
	return nil
}

// DeepCopy returns a set whose objects can be mutated freely.
func (s *Set) DeepCopy() *Set {
	out := &Set{Name: s.Name, Path: s.Path, Excluded: slices.Clone(s.Excluded)}
	for _, o := range s.Objects {
		out.Objects = append(out.Objects, Object{Object: o.DeepCopyObject().(client.Object), Source: o.Source})
	}
	return out
}

// Find returns the object of that kind and name (any namespace if ns is "*").
func (s *Set) Find(kind, namespace, name string) (Object, bool) {
	for _, o := range s.Objects {
		k := KeyOf(o)
		if k.Kind == kind && k.Name == name && (namespace == "*" || k.Namespace == namespace) {
			return o, true
		}
	}
	return Object{}, false
}

// Typed returns the objects of type T.
func Typed[T runtime.Object](s *Set) []T {
	var out []T
	for _, o := range s.Objects {
		if t, ok := o.Object.(T); ok {
			out = append(out, t)
		}
	}
	return out
}
