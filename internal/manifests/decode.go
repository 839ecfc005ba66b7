package manifests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	yaml3 "gopkg.in/yaml.v3"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/puretasks/k8s-conformance/internal/kubeversion"
)

// apiServerDecoder decodes as the API server does for `kubectl apply`, whose
// field validation is Strict by default: an unknown field or a field given
// twice is an error, not silently dropped. lenientAPIDecoder is only used to
// find which field a fatal decoding error is about.
var (
	apiServerDecoder  = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	lenientAPIDecoder = serializer.NewCodecFactory(scheme.Scheme).UniversalDeserializer()
)

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

// servedMinor is the Kubernetes minor every tier targets (internal/kubeversion,
// K8S_VERSION): the minor the live tier runs and Helm renders for. An API
// version whose generated lifecycle says it was removed at or before it is
// not served, so `kubectl apply` would fail with "no matches for kind".
// Load refuses an unsupported K8S_VERSION before anything is decoded.
func servedMinor() int {
	r, err := kubeversion.Target()
	if err != nil {
		return kubeversion.Default.Minor()
	}
	return r.Minor()
}

// removedAPI is implemented by every k8s.io/api type with a generated
// prerelease lifecycle (zz_generated.prerelease-lifecycle.go).
type removedAPI interface {
	APILifecycleRemoved() (major, minor int)
	APILifecycleReplacement() schema.GroupVersionKind
}

// decodeMode says what a decode is for: a set's objects (every check), or a
// kustomize resource file read before krusty runs, where only the API
// server's own rules apply (krusty renders, the set decode checks kinds).
type decodeMode int

const (
	forSet decodeMode = iota
	forStrictness
)

// document is one document of a file and the file line it starts on.
type document struct {
	raw  []byte
	line int
	json bool
}

// decodeBytes decodes every object of one file as kubectl's YAML-or-JSON
// decoder reads it (k8s.io/apimachinery/pkg/util/yaml): content starting
// with '{' is a stream of JSON objects, anything else YAML documents split
// on "---" lines; a List yields its items.
func decodeBytes(file string, raw []byte, mode decodeMode) ([]Object, error) {
	var docs []document
	var err error
	if hasJSONPrefix(raw) {
		docs, err = splitJSONOrYAML(file, raw)
	} else {
		docs, err = splitYAML(file, raw)
	}
	if err != nil {
		return nil, err
	}
	var objs []Object
	for _, d := range docs {
		if !d.json && isEmptyDocument(d.raw) {
			continue
		}
		o, err := decodeDocument(file, d, mode)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o...)
	}
	return objs, nil
}

func hasJSONPrefix(raw []byte) bool {
	t := bytes.TrimLeft(raw, " \t\r\n")
	return len(t) > 0 && t[0] == '{'
}

// splitYAML mirrors apimachinery's YAMLReader: a line starting with "---"
// ends a document, and may be followed only by spaces or a comment. Lines
// have no length limit (the file itself is capped).
func splitYAML(file string, raw []byte) ([]document, error) {
	var docs []document
	start, line, from := 1, 0, 0
	for pos := 0; pos < len(raw); {
		end := bytes.IndexByte(raw[pos:], '\n')
		if end < 0 {
			end = len(raw)
		} else {
			end += pos + 1
		}
		l := raw[pos:end]
		line++
		if bytes.HasPrefix(l, []byte("---")) {
			rest := strings.TrimSpace(string(l[3:]))
			if rest != "" && rest[0] != '#' {
				return nil, fmt.Errorf("manifests: %s:%d: malformed YAML: invalid document separator %q (only a comment may follow ---)", file, line, strings.TrimSpace(string(l)))
			}
			if pos > from {
				docs = append(docs, document{raw: raw[from:pos], line: start})
			}
			from, start = end, line+1
		}
		pos = end
	}
	if len(raw) > from {
		docs = append(docs, document{raw: raw[from:], line: start})
	}
	return docs, nil
}

// splitJSONOrYAML reads content that starts with '{' as kubectl's
// YAMLOrJSONDecoder does (k8s.io/apimachinery/pkg/util/yaml): as a stream of
// JSON values first; when that fails before a second value was read, the
// stream is read again as YAML from the end of the value read so far, since
// flow-style YAML ({kind: ConfigMap, ...}) starts with '{' too. When both
// fail, both reasons are given (kubectl reports only the JSON one).
func splitJSONOrYAML(file string, raw []byte) ([]document, error) {
	docs, consumed, jsonErr := splitJSON(file, raw)
	if jsonErr == nil || len(docs) > 1 {
		return docs, jsonErr
	}
	rest := raw[consumed:]
	yamlDocs, err := splitYAML(file, rest)
	if err != nil {
		return nil, fmt.Errorf("%w; read as YAML (kubectl's fallback): %v", jsonErr, err)
	}
	offset := lineAt(raw, consumed) - 1
	for _, d := range yamlDocs {
		if isEmptyDocument(d.raw) {
			continue
		}
		if _, err := yaml.YAMLToJSON(d.raw); err != nil {
			return nil, fmt.Errorf("%w; read as YAML (kubectl's fallback): %v", jsonErr, malformedYAML(file, offset+d.line, err))
		}
		d.line += offset
		docs = append(docs, d)
	}
	return docs, nil
}

// splitJSON reads a stream of JSON values, as kubectl does for a file whose
// content starts with '{': every object is read, not only the first. It
// returns the values read and the offset after the last of them, also on
// error.
func splitJSON(file string, raw []byte) ([]document, int, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	var docs []document
	consumed := 0
	for {
		off := int(dec.InputOffset())
		var m json.RawMessage
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return docs, consumed, nil
		}
		if err != nil {
			at := off
			var se *json.SyntaxError
			if errors.As(err, &se) {
				at = int(se.Offset)
			}
			return docs, consumed, fmt.Errorf("manifests: %s:%d: malformed JSON: %s", file, lineAt(raw, at), strings.TrimPrefix(err.Error(), "json: "))
		}
		consumed = int(dec.InputOffset())
		for off < len(raw) && strings.IndexByte(" \t\r\n", raw[off]) >= 0 {
			off++
		}
		docs = append(docs, document{raw: m, line: lineAt(raw, off), json: true})
	}
}

func lineAt(raw []byte, off int) int {
	off = min(off, len(raw))
	return 1 + bytes.Count(raw[:off], []byte("\n"))
}

// firstContentLine is the offset of a document's first line that is neither
// blank nor a comment, so a Source points at the object, not its preamble.
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
		if t != "" && !strings.HasPrefix(t, "#") {
			return false
		}
	}
	return true
}

// head is what identifies a document before it is decoded.
type head struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

func (h head) key() Key {
	return Key{Kind: h.Kind, Namespace: h.Metadata.Namespace, Name: h.Metadata.Name}
}

// decodeDocument decodes one document (possibly a List) strictly.
func decodeDocument(file string, d document, mode decodeMode) ([]Object, error) {
	where := file
	if d.line > 0 {
		startLine := d.line
		if !d.json {
			startLine += firstContentLine(d.raw)
		}
		where = fmt.Sprintf("%s:%d", file, startLine)
	}
	js := []byte(d.raw)
	// One YAML parse: the strict conversion finds duplicate keys (as the
	// API server's YAML decoding does); only then is the document parsed
	// again leniently, to tell a duplicate from malformed YAML. The decoder
	// below gets JSON, whose unknown and duplicate fields it finds itself.
	var strictErrs []error
	if !d.json {
		var dupErr, err error
		if js, dupErr = yaml.YAMLToJSONStrict(d.raw); dupErr != nil {
			if js, err = yaml.YAMLToJSON(d.raw); err != nil {
				return nil, malformedYAML(file, d.line, err)
			}
			// The strict conversion also counts a key that overrides one a
			// merge key (<<: *anchor) brought in; YAML and kubectl's reader
			// do not. Only a key written twice in one mapping is refused.
			root := parseNode(d.raw)
			switch dups := duplicateKeys(root); {
			case len(dups) > 0:
				strictErrs = append(strictErrs, dups...)
			case root == nil || !hasMergeKey(root):
				// Keys that differ in spelling but not in value to
				// kubectl's YAML 1.1 reader (y and true): its word stands.
				strictErrs = append(strictErrs, dupErr)
			}
		}
	}
	t := bytes.TrimSpace(js)
	if bytes.Equal(t, []byte("null")) {
		return nil, nil
	}
	if len(t) == 0 || t[0] != '{' {
		return nil, fmt.Errorf("manifests: %s: not a Kubernetes object: the document is %s, not a mapping with apiVersion and kind (only Kubernetes manifests belong here)", where, jsonShape(t))
	}
	var h head
	if err := json.Unmarshal(js, &h); err != nil {
		return nil, fmt.Errorf("manifests: %s: not a Kubernetes object: apiVersion and kind must be strings and metadata a mapping", where)
	}
	if h.Kind == "" || h.APIVersion == "" {
		return nil, fmt.Errorf("manifests: %s: not a Kubernetes object (apiVersion and kind are required; is this file meant to be among the manifests?)", where)
	}
	gvk := schema.FromAPIVersionAndKind(h.APIVersion, h.Kind)
	if err := servedAPI(where, gvk); err != nil {
		return nil, err
	}
	if h.Kind == "List" {
		return decodeList(file, d, js, mode)
	}
	if !supported[gvk] {
		if mode == forStrictness {
			if !scheme.Scheme.Recognizes(gvk) {
				return nil, nil // krusty renders it; the set's decode names it
			}
		} else {
			return nil, fmt.Errorf("manifests: %s: unsupported kind %s %s (a todo-app set holds %s)", where, h.APIVersion, h.Kind, supportedList())
		}
	}
	obj, _, err := apiServerDecoder.Decode(js, nil, nil)
	if err != nil && !runtime.IsStrictDecodingError(err) {
		return nil, decodeError(file, d, where, h, js, err, nil)
	}
	if se, ok := runtime.AsStrictDecodingError(err); ok {
		strictErrs = append(strictErrs, se.Errors()...)
	}
	if len(strictErrs) > 0 {
		return nil, decodeError(file, d, where, h, js, nil, strictErrs)
	}
	co, ok := obj.(client.Object)
	if !ok {
		return nil, fmt.Errorf("manifests: %s: %s is not an object with metadata", where, h.Kind)
	}
	co.GetObjectKind().SetGroupVersionKind(gvk)
	if co.GetName() == "" && mode == forSet {
		return nil, fmt.Errorf("manifests: %s: %s without metadata.name", where, h.Kind)
	}
	return []Object{{Object: co, Source: where}}, nil
}

func jsonShape(js []byte) string {
	if len(js) == 0 {
		return "empty"
	}
	switch js[0] {
	case '[':
		return "a list"
	case '"':
		return "a string"
	}
	return "a scalar"
}

// decodeList yields a List's items, as kubectl does (`kind: List`).
func decodeList(file string, d document, js []byte, mode decodeMode) ([]Object, error) {
	var l struct {
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(js, &l); err != nil {
		return nil, fmt.Errorf("manifests: %s:%d: List: items must be a list of objects", file, d.line)
	}
	root := parseNode(d.raw)
	var objs []Object
	for i, item := range l.Items {
		line := d.line
		if n := nodeAt(root, fmt.Sprintf("items[%d]", i), false); n != nil && d.line > 0 {
			line = d.line + n.Line - 1
		}
		o, err := decodeDocument(file, document{raw: item, line: line, json: true}, mode)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o...)
	}
	return objs, nil
}

// servedAPI names an API version the server no longer serves, and what to
// use instead, from k8s.io/api's generated lifecycle of the type.
func servedAPI(where string, gvk schema.GroupVersionKind) error {
	o, err := scheme.Scheme.New(gvk)
	if err != nil {
		return nil
	}
	l, ok := o.(removedAPI)
	if !ok {
		return nil
	}
	major, minor := l.APILifecycleRemoved()
	if major == 0 || major > 1 || minor > servedMinor() {
		return nil
	}
	instead := "it has no replacement"
	if r := l.APILifecycleReplacement(); !r.Empty() {
		instead = "use " + r.GroupVersion().String() + " " + r.Kind
	}
	return fmt.Errorf("manifests: %s: %s %s is no longer served by the API server (removed in Kubernetes %d.%d); %s", where, gvk.GroupVersion(), gvk.Kind, major, minor, instead)
}

// malformedYAML turns the parser's "yaml: line N: msg" (N counted within
// the document) into "file:line: malformed YAML: msg", the path once.
func malformedYAML(file string, docStart int, err error) error {
	msg := err.Error()
	line := docStart
	if rest, ok := strings.CutPrefix(msg, "yaml: line "); ok {
		if i := strings.Index(rest, ": "); i >= 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				line, msg = docStart+n-1, rest[i+2:]
			}
		}
	} else if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		line, msg = docStart+n-1, m[2]
	}
	return fmt.Errorf("manifests: %s:%d: malformed YAML: %s", file, line, strings.TrimPrefix(msg, "yaml: "))
}

var (
	yamlErrLine   = regexp.MustCompile(`line (\d+): (.*)`)
	yamlDupKey    = regexp.MustCompile(`line (\d+): key (?:"((?:[^"\\]|\\.)*)"|(\S+)) already set in map`)
	strictField   = regexp.MustCompile(`^(unknown|duplicate) field "(.*)"$`)
	yamlErrPrefix = "yaml: unmarshal errors:"
)

// decodeError explains a decoding failure: each strict error (unknown or
// duplicate field) with its line and field path, or a fatal one (bad
// base64, bad quantity, wrong type) with the field it is about.
func decodeError(file string, d document, where string, h head, js []byte, err error, strictErrs []error) error {
	var root *yaml3.Node
	if d.line > 0 { // a rendered document's lines are not a file's
		root = parseNode(d.raw)
	}
	lineOf := func(n int) int { return d.line + n - 1 }
	obj := fmt.Sprintf("%s %s", h.APIVersion, h.key())
	if err != nil {
		path := faultPath(js)
		at := where
		if n := nodeAt(root, path, false); n != nil {
			at = fmt.Sprintf("%s:%d", file, lineOf(n.Line))
		}
		if path == "" {
			return fmt.Errorf("manifests: %s: %s: %v", at, obj, err)
		}
		return fmt.Errorf("manifests: %s: %s: %s: %v", at, obj, path, err)
	}
	var msgs []string
	for _, e := range strictErrs {
		text := e.Error()
		if m := strictField.FindStringSubmatch(text); m != nil {
			at := where
			if n := nodeAt(root, m[2], m[1] == "duplicate"); n != nil {
				at = fmt.Sprintf("%s:%d", file, lineOf(n.Line))
			}
			why := "kubectl apply's strict field validation rejects it"
			if m[1] == "duplicate" {
				why = duplicateWhy
			}
			msgs = append(msgs, fmt.Sprintf("manifests: %s: %s: %s field %q (%s)", at, obj, m[1], m[2], why))
			continue
		}
		var dup *duplicateKeyError
		if errors.As(e, &dup) {
			msgs = append(msgs, fmt.Sprintf("manifests: %s:%d: %s: duplicate field %q (%s)", file, lineOf(dup.line), obj, dup.path, duplicateWhy))
			continue
		}
		if strings.HasPrefix(text, yamlErrPrefix) {
			matches := yamlDupKey.FindAllStringSubmatch(text, -1)
			if len(matches) == 0 {
				msgs = append(msgs, fmt.Sprintf("manifests: %s: %s: %s", where, obj, text))
			}
			for _, m := range matches {
				n, _ := strconv.Atoi(m[1])
				key := m[2] + m[3] // quoted, or a scalar of another type (true, 1)
				path := pathOfKey(root, n, key)
				if path == "" {
					path = key
				}
				msgs = append(msgs, fmt.Sprintf("manifests: %s:%d: %s: duplicate field %q (%s)", file, lineOf(n), obj, path, duplicateWhy))
			}
			continue
		}
		msgs = append(msgs, fmt.Sprintf("manifests: %s: %s: %s", where, obj, text))
	}
	return errors.New(strings.Join(msgs, "\n"))
}

// faultPath finds the field a fatal decoding error is about: the deepest
// field whose removal lets the object decode. The decoder's own error
// (encoding/base64, resource.ParseQuantity) does not say which field it was.
//
// At each level the children are searched by bisection, not one by one: the
// shortest prefix of them (sorted keys, or list items) whose removal lets
// the object decode ends with the culprit. That is O(log n) decodes of the
// object per level, so a 3 MiB ConfigMap with tens of thousands of keys and
// one bad value is explained in milliseconds (one decode per key made it
// run for minutes). The rest of the prefix stays removed while the culprit
// is searched, so another bad field beside it does not hide it.
func faultPath(js []byte) string {
	var root any
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	if dec.Decode(&root) != nil {
		return ""
	}
	decodes := func() bool {
		b, err := json.Marshal(root)
		if err != nil {
			return false
		}
		_, _, err = lenientAPIDecoder.Decode(b, nil, nil)
		return err == nil
	}
	// culprit returns the smallest n in 1..count such that removing the
	// first n children lets the object decode (the children are restored),
	// or 0 if removing them all does not.
	culprit := func(count int, remove func(n int), restore func()) int {
		lo, hi := 1, count
		remove(count)
		ok := decodes()
		restore()
		if !ok {
			return 0
		}
		for lo < hi {
			mid := (lo + hi) / 2
			remove(mid)
			ok := decodes()
			restore()
			if ok {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
		return lo
	}
	path := ""
	cur := root
	for {
		switch c := cur.(type) {
		case map[string]any:
			keys := make([]string, 0, len(c))
			for k := range c {
				if k != "apiVersion" && k != "kind" {
					keys = append(keys, k)
				}
			}
			sort.Strings(keys)
			saved := maps.Clone(c)
			restore := func() { maps.Copy(c, saved) }
			n := culprit(len(keys), func(n int) {
				for _, k := range keys[:n] {
					delete(c, k)
				}
			}, restore)
			if n == 0 {
				return path
			}
			for _, k := range keys[:n-1] {
				delete(c, k) // other faults stay out of the way
			}
			k := keys[n-1]
			if path != "" {
				path += "."
			}
			path += k
			cur = c[k]
		case []any:
			saved := slices.Clone(c)
			restore := func() { copy(c, saved) }
			n := culprit(len(c), func(n int) {
				for i := range n {
					c[i] = nil
				}
			}, restore)
			if n == 0 {
				return path
			}
			for i := range n - 1 {
				c[i] = nil
			}
			path += fmt.Sprintf("[%d]", n-1)
			cur = c[n-1]
		default:
			return path
		}
	}
}

// parseNode parses a document with yaml.v3, only to find lines; nil if it
// does not parse.
func parseNode(raw []byte) *yaml3.Node {
	var n yaml3.Node
	if yaml3.Unmarshal(raw, &n) != nil || len(n.Content) == 0 {
		return nil
	}
	return n.Content[0]
}

// pathSegments splits "spec.containers[0].name" into spec, containers, [0],
// name.
func pathSegments(path string) []string {
	var segs []string
	for _, part := range strings.Split(path, ".") {
		for part != "" {
			i := strings.IndexByte(part, '[')
			switch {
			case i < 0:
				segs = append(segs, part)
				part = ""
			case i > 0:
				segs = append(segs, part[:i])
				part = part[i:]
			default:
				j := strings.IndexByte(part, ']')
				if j < 0 {
					segs = append(segs, part)
					part = ""
					continue
				}
				segs = append(segs, part[:j+1])
				part = part[j+1:]
			}
		}
	}
	return segs
}

// nodeAt returns the node of a field path (the key node for a mapping
// field, so its line is the field's), the last of repeated keys if last.
func nodeAt(n *yaml3.Node, path string, last bool) *yaml3.Node {
	if n == nil || path == "" {
		return nil
	}
	var at *yaml3.Node
	for _, seg := range pathSegments(path) {
		for n != nil && n.Kind == yaml3.AliasNode {
			n = n.Alias
		}
		if n == nil {
			return nil
		}
		if strings.HasPrefix(seg, "[") {
			i, err := strconv.Atoi(strings.Trim(seg, "[]"))
			if err != nil || n.Kind != yaml3.SequenceNode || i >= len(n.Content) {
				return at
			}
			n = n.Content[i]
			at = n
			continue
		}
		if n.Kind != yaml3.MappingNode {
			return at
		}
		var key, val *yaml3.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == seg {
				key, val = n.Content[i], n.Content[i+1]
				if !last {
					break
				}
			}
		}
		if key == nil {
			return at
		}
		at, n = key, val
	}
	return at
}

// pathOfKey finds the field path of the mapping key at a line.
func pathOfKey(n *yaml3.Node, line int, name string) string {
	var walk func(n *yaml3.Node, path string) string
	walk = func(n *yaml3.Node, path string) string {
		switch n.Kind {
		case yaml3.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				if k.Line == line && k.Value == name {
					return p
				}
				if r := walk(n.Content[i+1], p); r != "" {
					return r
				}
			}
		case yaml3.SequenceNode:
			for i, c := range n.Content {
				if r := walk(c, fmt.Sprintf("%s[%d]", path, i)); r != "" {
					return r
				}
			}
		}
		return ""
	}
	if n == nil {
		return ""
	}
	return walk(n, "")
}

func supportedList() string {
	var kinds []string
	for gvk := range supported {
		kinds = append(kinds, gvk.Kind)
	}
	sort.Strings(kinds)
	return strings.Join(kinds, ", ")
}

// duplicateWhy is why a field given twice is refused. kubectl's reader
// (sigs.k8s.io/yaml, encoding/json) keeps the last value without a word and
// sends only that one; refusing it keeps a typo or a pasted-twice key from
// hiding the value the author meant.
const duplicateWhy = "kubectl would keep the last value silently; refused here so a typo cannot hide"

// duplicateKeyError is a mapping key written twice in one mapping.
type duplicateKeyError struct {
	line int    // within the document
	path string // field path of the second key
}

func (e *duplicateKeyError) Error() string {
	return fmt.Sprintf("line %d: duplicate field %q", e.line, e.path)
}

// duplicateKeys finds every key written twice in one mapping of a parsed
// document. A merge key (<<) is not a key of the mapping, and a key beside
// it that overrides a merged one is not a duplicate: YAML's merge keys exist
// for exactly that. Mappings reached through an alias are checked where the
// anchor defines them, once.
func duplicateKeys(root *yaml3.Node) []error {
	if root == nil {
		return nil
	}
	var errs []error
	var walk func(n *yaml3.Node, path string)
	walk = func(n *yaml3.Node, path string) {
		switch n.Kind {
		case yaml3.MappingNode:
			seen := make(map[string]bool, len(n.Content)/2)
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				if k.Kind == yaml3.AliasNode && k.Alias != nil {
					k = k.Alias
				}
				if k.Tag == "!!merge" {
					continue
				}
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				if seen[k.Value] {
					errs = append(errs, &duplicateKeyError{line: n.Content[i].Line, path: p})
				}
				seen[k.Value] = true
				walk(n.Content[i+1], p)
			}
		case yaml3.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	walk(root, "")
	return errs
}

// hasMergeKey reports whether a document uses a merge key anywhere.
func hasMergeKey(n *yaml3.Node) bool {
	if n.Kind == yaml3.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Tag == "!!merge" {
				return true
			}
		}
	}
	for _, c := range n.Content {
		if hasMergeKey(c) {
			return true
		}
	}
	return false
}
