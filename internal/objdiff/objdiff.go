// Package objdiff tells, object by object and field by field, what changes
// between two revisions of the manifests, for the L-UPGRADE report. A
// Secret's values are never shown: only that a key was added, removed or
// changed.
package objdiff

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/puretasks/k8s-conformance/internal/manifests"
)

// Change is one difference between the old and the new revision.
type Change struct {
	Object manifests.Key
	// Path is the field path ("spec.template.spec.containers[backend].image");
	// empty when the whole object was added or removed.
	Path     string
	Old, New string // as printed: "(absent)", "(not shown)" for Secret values, or redacted
}

func (c Change) String() string {
	if c.Path == "" {
		return fmt.Sprintf("%s: %s → %s", c.Object, c.Old, c.New)
	}
	return fmt.Sprintf("%s %s: %s → %s", c.Object, c.Path, c.Old, c.New)
}

const (
	absent   = "(absent)"
	present  = "(present)"
	notShown = "(not shown)"
)

// Redactor turns a value that may hold a credential into printable text;
// key is the name the value sits under (a data key, an env var's name, the
// last field of its path), as staticcheck.Redact reads it.
type Redactor func(key, text string) string

// Diff compares the objects of two sets. redact is applied to every value
// printed outside Secrets (nil prints values as they are); Secret data and
// stringData are never printed at all.
func Diff(old, new []manifests.Object, redact Redactor) ([]Change, error) {
	if redact == nil {
		redact = func(_, s string) string { return s }
	}
	before, err := index(old)
	if err != nil {
		return nil, err
	}
	after, err := index(new)
	if err != nil {
		return nil, err
	}
	keys := map[manifests.Key]bool{}
	for k := range before {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	sorted := make([]manifests.Key, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].String() < sorted[j].String() })

	var changes []Change
	for _, k := range sorted {
		b, inB := before[k]
		a, inA := after[k]
		switch {
		case !inB:
			changes = append(changes, Change{Object: k, Old: absent, New: "added"})
		case !inA:
			changes = append(changes, Change{Object: k, Old: "present", New: "removed"})
		default:
			w := walker{key: k, redact: redact, secret: k.Kind == "Secret"}
			w.walk("", b, a)
			changes = append(changes, w.changes...)
		}
	}
	return changes, nil
}

func index(objs []manifests.Object) (map[manifests.Key]map[string]any, error) {
	out := make(map[manifests.Key]map[string]any, len(objs))
	for _, o := range objs {
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o.Object)
		if err != nil {
			return nil, fmt.Errorf("objdiff: %s: %w", manifests.KeyOf(o.Object), err)
		}
		// Fields the server owns are no part of a manifest change.
		delete(u, "status")
		if md, ok := u["metadata"].(map[string]any); ok {
			delete(md, "creationTimestamp")
		}
		out[manifests.KeyOf(o.Object)] = u
	}
	return out, nil
}

type walker struct {
	key     manifests.Key
	redact  Redactor
	secret  bool
	changes []Change
}

func (w *walker) add(path string, old, new any) {
	c := Change{Object: w.key, Path: path, Old: w.show(path, old), New: w.show(path, new)}
	if c.Old == notShown && c.New == notShown {
		c.New = "(changed, not shown)"
	}
	w.changes = append(w.changes, c)
}

// show prints a value, never a Secret's.
func (w *walker) show(path string, v any) string {
	if v == nil {
		return absent
	}
	if w.secret && !secretShown(path) {
		return notShown
	}
	switch t := v.(type) {
	case map[string]any, []any:
		return present
	case string:
		return strconv.Quote(w.redact(valueKey(path), t))
	default:
		return w.redact(valueKey(path), fmt.Sprint(t))
	}
}

// secretShown are the fields of a Secret whose values may be printed: its
// type and labels. Everything else (data, stringData, and annotations such
// as kubectl's last-applied-configuration, which holds the data) is not.
func secretShown(path string) bool {
	return path == "type" || path == "immutable" || strings.HasPrefix(path, "metadata.labels.")
}

// valueKey is the name a value sits under: the item name of an env entry
// (env[DB_PASSWORD].value), else the last field of the path
// (data.DATABASE_URL).
func valueKey(path string) string {
	if strings.HasSuffix(path, "].value") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			name := path[i+1 : len(path)-len("].value")]
			if j := strings.LastIndexByte(name, '#'); j >= 0 { // a repeated name: NAME#index
				name = name[:j]
			}
			return name
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[i+1:]
	}
	return path
}

func (w *walker) walk(path string, old, new any) {
	if reflect.DeepEqual(old, new) {
		return
	}
	switch o := old.(type) {
	case map[string]any:
		n, ok := new.(map[string]any)
		if !ok {
			w.add(path, old, new)
			return
		}
		for _, k := range unionKeys(o, n) {
			w.walk(join(path, k), o[k], n[k])
		}
	case []any:
		n, ok := new.([]any)
		if !ok {
			w.add(path, old, new)
			return
		}
		// Lists of named items (containers, ports, env, volumes) are matched
		// by name, so inserting one item does not show every later one as
		// changed; other lists by position.
		if on, nn, ok := byName(o), byName(n), true; ok && on != nil && nn != nil {
			for _, k := range unionKeys(on, nn) {
				w.walk(fmt.Sprintf("%s[%s]", path, k), on[k], nn[k])
			}
			return
		}
		if isArgList(path) {
			w.walkArgs(path, o, n)
			return
		}
		for i := 0; i < max(len(o), len(n)); i++ {
			ov, nv := at(o, i), at(n, i)
			// An item that has a name (an env var listed twice, which the
			// API server accepts) keeps it in the path, so its value is
			// redacted under that name.
			item := fmt.Sprintf("%s[%d]", path, i)
			if name := itemName(ov, nv); name != "" {
				item = fmt.Sprintf("%s[%s#%d]", path, name, i)
			}
			w.walk(item, ov, nv)
		}
	default:
		w.add(path, old, new)
	}
}

// itemName is the "name" of a list item (either side), "" for none.
func itemName(items ...any) string {
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			if n, ok := m["name"].(string); ok {
				return n
			}
		}
	}
	return ""
}

// isArgList reports a container's command or args.
func isArgList(path string) bool {
	return strings.HasSuffix(path, ".args") || strings.HasSuffix(path, ".command")
}

// walkArgs compares a command line element by element. An element's key
// is its own flag name (--db-password=x is under DB_PASSWORD), or the flag
// before it (--db-password x): a credential passed on the command line is
// redacted as one in the environment is.
func (w *walker) walkArgs(path string, o, n []any) {
	for i := 0; i < max(len(o), len(n)); i++ {
		ov, nv := at(o, i), at(n, i)
		if reflect.DeepEqual(ov, nv) {
			continue
		}
		key := argKey(o, i)
		if k := argKey(n, i); k != "" {
			key = k
		}
		if key == "" {
			key = "ARG"
		}
		w.changes = append(w.changes, Change{Object: w.key, Path: fmt.Sprintf("%s[%d]", path, i), Old: w.showAs(key, ov), New: w.showAs(key, nv)})
	}
}

// argKey is the flag name element i of a command line sits under, in the
// form of an environment variable's name (DB_PASSWORD), or "".
func argKey(list []any, i int) string {
	flag := func(v any) (string, string, bool) {
		s, ok := v.(string)
		if !ok || !strings.HasPrefix(s, "-") {
			return "", "", false
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(s, "-"), "=")
		if !hasValue {
			value = ""
		}
		return strings.ToUpper(strings.ReplaceAll(name, "-", "_")), value, hasValue
	}
	if i >= len(list) {
		return ""
	}
	if name, _, hasValue := flag(list[i]); name != "" && hasValue {
		return name
	}
	if i > 0 {
		if name, _, hasValue := flag(list[i-1]); name != "" && !hasValue {
			return name
		}
	}
	return ""
}

// showAs prints a value redacted under key.
func (w *walker) showAs(key string, v any) string {
	switch t := v.(type) {
	case nil:
		return absent
	case string:
		return strconv.Quote(w.redact(key, t))
	default:
		return w.redact(key, fmt.Sprint(t))
	}
}

// byName indexes a list whose every item is a map with a distinct string
// "name"; nil otherwise.
func byName(items []any) map[string]any {
	if len(items) == 0 {
		return map[string]any{}
	}
	out := make(map[string]any, len(items))
	for _, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil
		}
		name, ok := m["name"].(string)
		if !ok || name == "" {
			return nil
		}
		if _, dup := out[name]; dup {
			return nil
		}
		out[name] = it
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// unionKeys are the keys of both maps, sorted.
func unionKeys(a, b map[string]any) []string {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	return sortedKeys(keys)
}

// at is item i of a list, nil past its end.
func at(list []any, i int) any {
	if i < len(list) {
		return list[i]
	}
	return nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
