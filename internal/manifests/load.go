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
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/puretasks/k8s-conformance/internal/kubeversion"
	"github.com/puretasks/k8s-conformance/internal/printsafe"
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
	// Hooks are a chart's hook and test objects (helm.sh/hook). They are not
	// the seed's objects, but helm install creates them and, without a
	// delete policy, keeps them: checks that read every object read them.
	// A hook of a kind built into Kubernetes is decoded strictly into its
	// type; one of another kind (a custom resource) is kept unstructured.
	Hooks []Object
	// HookList describes every hook, decoded or not, for the run's output.
	HookList []Hook
	// Notes are a chart's rendered NOTES.txt files.
	Notes []RenderedDoc
	// Values are the values a chart's release stores: the user's, and each
	// chart's values.yaml.
	Values []ValuesSource
	// Lookups name the templates of a chart that called `lookup`; the render
	// is offline, where lookup finds nothing, as in `helm template`.
	Lookups []string
}

// Hook is one Helm hook of a set: what it is, when Helm runs it, and how
// the suite read it.
type Hook struct {
	Kind, Namespace, Name string
	Source                string   // the template
	Events                []string // hook phases: pre-install, post-upgrade, test, ...
	DeletePolicies        []string // empty: the object stays in the cluster
	// Read says how the suite read the hook: decoded strictly into its
	// Kubernetes type, or (a kind Kubernetes does not build in) kept as
	// unstructured data, which only the credential scan reads.
	Read string
}

// Hook.Read values.
const (
	HookTyped        = "decoded strictly"
	HookUnstructured = "not a built-in Kubernetes kind: read as unstructured data (credential scan only)"
)

func (h Hook) String() string {
	k := Key{Kind: h.Kind, Namespace: h.Namespace, Name: h.Name}
	kept := "kept after it runs (no helm.sh/hook-delete-policy)"
	if len(h.DeletePolicies) > 0 {
		kept = "delete policy " + strings.Join(h.DeletePolicies, ", ")
	}
	return fmt.Sprintf("%s, phase %s, from %s, %s; %s", k, strings.Join(h.Events, ", "), h.Source, kept, h.Read)
}

// Installed returns every object applying the set creates: its objects and,
// for a chart, its hooks. Rules that hold for any object (credentials,
// exposure, pod security) read this; the seed's checks read Objects.
func (s *Set) Installed() []Object {
	return append(slices.Clip(s.Objects), s.Hooks...)
}

// printableError is a loader error whose text is safe to print: file names,
// kinds, keys and quoted tool errors come from input, and a control
// character in them could print a line of its own (a fake "--- PASS", a
// GitHub Actions "::warning", a terminal escape).
type printableError struct {
	msg string
	err error
}

func (e *printableError) Error() string { return e.msg }
func (e *printableError) Unwrap() error { return e.err }

// printable escapes an error's text (printsafe). The loader's own line
// breaks are kept: they are those that start another "manifests: " message
// (a document with several unknown fields lists each); every other control
// character is escaped, so no continuation line starts with input.
func printable(err error) error {
	if err == nil {
		return nil
	}
	var done *printableError
	if errors.As(err, &done) && done.msg == err.Error() {
		return err
	}
	const sep = "\nmanifests: "
	parts := strings.Split(err.Error(), sep)
	for i, p := range parts {
		parts[i] = printsafe.String(p)
	}
	return &printableError{msg: strings.Join(parts, sep), err: err}
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
func Load(path string) (set *Set, err error) {
	defer func() { err = printable(err) }()
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
	r, err := renderChart(dir, hs)
	if err != nil {
		return nil, err
	}
	set := &Set{Name: name, Path: dir, Notes: r.Notes, Values: r.Values, Lookups: r.Lookups}
	// A template that renders several documents gives each the same name;
	// they are numbered so that two objects from one template are told
	// apart (and a duplicate is not mistaken for one file read twice).
	perTemplate := map[string]int{}
	for _, d := range r.Docs {
		perTemplate[d.Source]++
	}
	seen := map[string]int{}
	for _, d := range r.Docs {
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
	for _, h := range r.Hooks {
		obj, read, err := decodeHook(h)
		if err != nil {
			return nil, fmt.Errorf("%w (a Helm hook, rendered from %s)", err, dir)
		}
		set.Hooks = append(set.Hooks, obj)
		set.HookList = append(set.HookList, Hook{
			Kind: h.Kind, Namespace: obj.GetNamespace(), Name: h.Name, Source: h.Source,
			Events: h.Events, DeletePolicies: h.DeletePolicies, Read: read,
		})
	}
	if len(set.Objects) == 0 {
		return nil, fmt.Errorf("manifests: the chart %s renders no Kubernetes objects with these settings", dir)
	}
	if err := checkDuplicates(set.Objects); err != nil {
		return nil, err
	}
	if err := checkDuplicates(set.Installed()); err != nil {
		return nil, fmt.Errorf("%w (a Helm hook and an object of the release are the same object: helm install fails on it)", err)
	}
	return set, nil
}

// decodeHook decodes one hook document. Hooks are not limited to the seed's
// kinds (they are often Jobs, Pods, ServiceAccounts): a kind built into
// Kubernetes is decoded strictly into its type, as the API server decodes
// it, so every-object rules read it; any other kind (a custom resource,
// whose schema is not known here) is kept unstructured and reported so.
func decodeHook(h RenderedHook) (Object, string, error) {
	var hd head
	if js, err := yaml.YAMLToJSON(h.YAML); err == nil {
		_ = json.Unmarshal(js, &hd)
	}
	gvk := schema.FromAPIVersionAndKind(hd.APIVersion, hd.Kind)
	if hd.Kind != "List" && !supported[gvk] && !scheme.Scheme.Recognizes(gvk) && hd.Kind != "" && hd.APIVersion != "" {
		js, err := yaml.YAMLToJSONStrict(h.YAML)
		if err != nil {
			return Object{}, "", malformedYAML(h.Source, 1, err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(js); err != nil {
			return Object{}, "", fmt.Errorf("manifests: %s: %s %s: %v", h.Source, hd.APIVersion, hd.key(), err)
		}
		if u.GetName() == "" {
			return Object{}, "", fmt.Errorf("manifests: %s: %s without metadata.name", h.Source, hd.Kind)
		}
		return Object{Object: u, Source: h.Source}, HookUnstructured, nil
	}
	objs, err := decodeBytes(h.Source, h.YAML, forStrictness)
	if err != nil {
		return Object{}, "", err
	}
	if len(objs) != 1 {
		return Object{}, "", fmt.Errorf("manifests: %s: a Helm hook document holds %d objects; Helm creates one object per hook", h.Source, len(objs))
	}
	if objs[0].GetName() == "" {
		return Object{}, "", fmt.Errorf("manifests: %s: %s without metadata.name", h.Source, hd.Kind)
	}
	return objs[0], HookTyped, nil
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
	out := &Set{Name: s.Name, Path: s.Path, HookList: slices.Clone(s.HookList),
		Notes: slices.Clone(s.Notes), Values: slices.Clone(s.Values), Lookups: slices.Clone(s.Lookups)}
	for _, o := range s.Objects {
		out.Objects = append(out.Objects, Object{Object: o.DeepCopyObject().(client.Object), Source: o.Source})
	}
	for _, o := range s.Hooks {
		out.Hooks = append(out.Hooks, Object{Object: o.DeepCopyObject().(client.Object), Source: o.Source})
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
