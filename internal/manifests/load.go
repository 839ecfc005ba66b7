// Package manifests loads the manifests under test into typed Kubernetes
// objects: one file or many, multi-document files, nested folders, and the
// small kustomize subset the repository uses (resources + strategic-merge
// patches), so that `kubectl apply -k` and the suite see the same objects.
// Every error names the file, and the line where the parser knows it.
package manifests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// Object is one decoded object and where it came from.
type Object struct {
	client.Object
	Source string // file:line of the document
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

// Set is the objects of one apply unit (a directory, a kustomization, a file).
type Set struct {
	Name    string
	Path    string
	Objects []Object
}

// supported are the kinds a todo-app manifest set may hold.
var supported = map[schema.GroupVersionKind]bool{
	{Version: "v1", Kind: "Namespace"}:                 true,
	{Version: "v1", Kind: "ConfigMap"}:                 true,
	{Version: "v1", Kind: "Secret"}:                    true,
	{Version: "v1", Kind: "Service"}:                   true,
	{Version: "v1", Kind: "PersistentVolume"}:          true,
	{Version: "v1", Kind: "PersistentVolumeClaim"}:     true,
	{Group: "apps", Version: "v1", Kind: "Deployment"}: true,
}

var decoder = serializer.NewCodecFactory(scheme.Scheme).UniversalDeserializer()

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

// loader decodes each file once; sets that share files (an overlay and its
// base) get deep copies, since patches change objects.
type loader struct {
	files map[string][]Object
}

func newLoader() *loader { return &loader{files: map[string][]Object{}} }

func (l *loader) decodeFile(path string) ([]Object, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	objs, ok := l.files[abs]
	if !ok {
		if objs, err = decodeFile(path); err != nil {
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

// Load reads one set from a file or a directory. A directory holding a
// kustomization is rendered as kustomize would; any other directory
// contributes every .yaml/.yml/.json file below it.
func Load(path string) (*Set, error) { return newLoader().load(path) }

func (l *loader) load(path string) (*Set, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("manifests: %s does not exist", path)
	}
	if err != nil {
		return nil, fmt.Errorf("manifests: %w", err)
	}
	set := &Set{Name: filepath.Base(path), Path: path}
	var objs []Object
	switch {
	case !st.IsDir():
		objs, err = l.decodeFile(path)
	case kustomizationIn(path) != "":
		objs, err = l.renderKustomization(path, map[string]bool{})
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

func (l *loader) loadTree(root string) ([]Object, error) {
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		if isManifestFile(p) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("manifests: %w", err)
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

func isManifestFile(p string) bool {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".yaml", ".yml", ".json":
		return !slicesContains(kustomizationNames, filepath.Base(p))
	}
	return false
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// document is one YAML document of a file and the line it starts on.
type document struct {
	raw  []byte
	line int
}

// splitDocuments splits a multi-document YAML file on "---" lines, keeping
// the file line each document starts on.
func splitDocuments(path string, raw []byte) ([]document, error) {
	var docs []document
	var cur strings.Builder
	start := 1
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	line := 0
	for sc.Scan() {
		line++
		l := sc.Text()
		if l == "---" || strings.HasPrefix(l, "--- ") || strings.HasPrefix(l, "---\t") {
			docs = append(docs, document{raw: []byte(cur.String()), line: start})
			cur.Reset()
			start = line + 1
			continue
		}
		cur.WriteString(l)
		cur.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, line, err)
	}
	return append(docs, document{raw: []byte(cur.String()), line: start}), nil
}

// firstContentLine is the offset of a document's first line that is neither
// blank nor a comment, so an error points at the object, not its preamble.
func firstContentLine(doc []byte) int {
	n := 0
	for _, l := range strings.Split(string(doc), "\n") {
		t := strings.TrimSpace(l)
		if t != "" && !strings.HasPrefix(t, "#") {
			break
		}
		n++
	}
	return n
}

func isEmptyDocument(doc []byte) bool {
	for _, l := range strings.Split(string(doc), "\n") {
		t := strings.TrimSpace(l)
		if t != "" && t != "---" && !strings.HasPrefix(t, "#") {
			return false
		}
	}
	return true
}

func decodeFile(path string) ([]Object, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("manifests: %w", err)
	}
	docs, err := splitDocuments(path, raw)
	if err != nil {
		return nil, fmt.Errorf("manifests: malformed YAML: %w", err)
	}
	var objs []Object
	for _, d := range docs {
		if isEmptyDocument(d.raw) {
			continue
		}
		o, err := decodeDocument(path, d)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o)
	}
	return objs, nil
}

func decodeDocument(path string, d document) (Object, error) {
	where := fmt.Sprintf("%s:%d", path, d.line+firstContentLine(d.raw))
	js, err := yaml.YAMLToJSON(d.raw)
	if err != nil {
		return Object{}, fmt.Errorf("manifests: %s: malformed YAML: %s", path, fileLine(err.Error(), path, d.line))
	}
	var meta struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := json.Unmarshal(js, &meta); err != nil {
		return Object{}, fmt.Errorf("manifests: %s: not a Kubernetes object: %w", where, err)
	}
	if meta.Kind == "" || meta.APIVersion == "" {
		return Object{}, fmt.Errorf("manifests: %s: not a Kubernetes object (apiVersion and kind are required)", where)
	}
	gvk := schema.FromAPIVersionAndKind(meta.APIVersion, meta.Kind)
	if !supported[gvk] {
		return Object{}, fmt.Errorf("manifests: %s: unsupported kind %s %s (a todo-app set holds %s)", where, meta.APIVersion, meta.Kind, supportedList())
	}
	obj, _, err := decoder.Decode(js, nil, nil)
	if err != nil {
		return Object{}, fmt.Errorf("manifests: %s: %s %s: %w", where, meta.APIVersion, meta.Kind, err)
	}
	co, ok := obj.(client.Object)
	if !ok {
		return Object{}, fmt.Errorf("manifests: %s: %s is not an object with metadata", where, meta.Kind)
	}
	co.GetObjectKind().SetGroupVersionKind(gvk)
	if co.GetName() == "" {
		return Object{}, fmt.Errorf("manifests: %s: %s without metadata.name", where, meta.Kind)
	}
	return Object{Object: co, Source: where}, nil
}

// fileLine turns the parser's "yaml: line N: msg" (N counted within the
// document) into "file:line: msg".
func fileLine(msg, path string, docStart int) string {
	var n int
	if rest, ok := strings.CutPrefix(msg, "yaml: line "); ok {
		if _, err := fmt.Sscanf(rest, "%d", &n); err == nil {
			if i := strings.Index(rest, ": "); i >= 0 {
				return fmt.Sprintf("%s:%d: %s", path, docStart+n-1, rest[i+2:])
			}
		}
	}
	return fmt.Sprintf("%s:%d: %s", path, docStart, msg)
}

func supportedList() string {
	var kinds []string
	for gvk := range supported {
		kinds = append(kinds, gvk.Kind)
	}
	sort.Strings(kinds)
	return strings.Join(kinds, ", ")
}

func checkDuplicates(objs []Object) error {
	seen := map[Key]string{}
	for _, o := range objs {
		k := KeyOf(o)
		if first, ok := seen[k]; ok {
			return fmt.Errorf("manifests: %s is defined twice: %s and %s", k, first, o.Source)
		}
		seen[k] = o.Source
	}
	return nil
}

// DeepCopy returns a set whose objects can be mutated freely.
func (s *Set) DeepCopy() *Set {
	out := &Set{Name: s.Name, Path: s.Path}
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
