package staticcheck

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/puretasks/k8s-conformance/internal/manifests"
)

// scannedValue is one value of the set that may hold a credential, where it
// sits, and the name the credential rules see beside it.
type scannedValue struct {
	resource string // Kind namespace/name (source)
	field    string // field path, list items and keys by name
	context  string // the key name given to the rules, as in KEY=value
	text     string
}

// secretContext marks a Secret's keys for the rules. A Secret's value is a
// credential by its kind, whatever its key is called (gitleaks' own
// kubernetes-secret-yaml rule flags Secret manifests on that ground). The
// suffix gives the generic-api-key rule the keyword it needs, so a
// high-entropy value under a neutral key (data.FOO) is found too, while
// low-entropy values (REPLACE_ME, HS256) stay below its entropy threshold.
const secretContext = ".secret"

// credentialValues lists every value SEC-2 scans, object by object:
//   - every Secret's data (decoded) and stringData;
//   - every ConfigMap's data and binaryData;
//   - every annotation and every label of every object and of every object
//     embedded in it (pod templates, job templates, claim templates: any
//     nested metadata); a label value holds 63 characters, room enough for
//     a GitHub or AWS key;
//   - every env value of every container of any kind (containers,
//     initContainers, ephemeralContainers; Deployments and any other
//     workload kind the loader returns), and every word of its command and
//     args (--api-key=... on a command line is as deployed as an env value);
//   - every HTTP header value of a probe or lifecycle hook (an
//     Authorization header is a credential);
//   - for a chart: every hook object (as any object), the rendered
//     NOTES.txt line by line, and every value of the user's values and of
//     each chart's values.yaml (helm_scan.go).
//
// Annotations, labels, env values, command lines and headers are found by walking the object generically,
// so a kind added to the loader later is covered without a change here.
func credentialValues(s *manifests.Set) ([]scannedValue, error) {
	var out []scannedValue
	// Installed: a chart's hooks too (helm install creates them).
	for _, o := range s.Installed() {
		vs, err := objectValues(o)
		if err != nil {
			return nil, err
		}
		out = append(out, vs...)
	}
	return append(out, releaseValues(s)...), nil
}

func resourceName(o manifests.Object) string {
	return fmt.Sprintf("%s (%s)", manifests.KeyOf(o), o.Source)
}

func objectValues(o manifests.Object) ([]scannedValue, error) {
	w := walker{res: resourceName(o)}
	var obj runtime.Object = o.Object
	if u, ok := obj.(*unstructured.Unstructured); ok {
		typed, err := typedPayload(u)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", w.res, err)
		}
		if typed == nil {
			w.walkMap("", "", u.Object)
			return w.out, nil
		}
		obj = typed
	}
	switch x := obj.(type) {
	case *corev1.Secret:
		for _, k := range slices.Sorted(maps.Keys(x.Data)) {
			w.add("data."+k+" (decoded)", k+secretContext, string(x.Data[k]))
		}
		for _, k := range slices.Sorted(maps.Keys(x.StringData)) {
			w.add("stringData."+k, k+secretContext, x.StringData[k])
		}
	case *corev1.ConfigMap:
		for _, k := range slices.Sorted(maps.Keys(x.Data)) {
			w.add("data."+k, k, x.Data[k])
		}
		for _, k := range slices.Sorted(maps.Keys(x.BinaryData)) {
			w.add("binaryData."+k+" (decoded)", k, string(x.BinaryData[k]))
		}
	}
	w.walkTyped("", reflect.ValueOf(obj))
	return w.out, nil
}

// typedPayload converts an unstructured core Secret or ConfigMap to its
// typed form, so Secret data is read decoded as the API server reads it.
func typedPayload(u *unstructured.Unstructured) (runtime.Object, error) {
	gvk := u.GroupVersionKind()
	var typed runtime.Object
	switch {
	case gvk.Group != "" || gvk.Version != "v1":
		return nil, nil
	case gvk.Kind == "Secret":
		typed = &corev1.Secret{}
	case gvk.Kind == "ConfigMap":
		typed = &corev1.ConfigMap{}
	default:
		return nil, nil
	}
	return typed, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, typed)
}

// walker collects annotations and env values anywhere in an object.
type walker struct {
	res string
	out []scannedValue
}

func (w *walker) add(field, context, text string) {
	w.out = append(w.out, scannedValue{resource: w.res, field: field, context: context, text: text})
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

var (
	objectMetaType = reflect.TypeFor[metav1.ObjectMeta]()
	envVarType     = reflect.TypeFor[corev1.EnvVar]()
	httpHeaderType = reflect.TypeFor[corev1.HTTPHeader]()
	stringsType    = reflect.TypeFor[[]string]()
	// holds caches, per type, whether a value of it can hold an ObjectMeta
	// or an EnvVar; the walk skips every other field (quantities, ports...).
	holds sync.Map
)

func mayHold(t reflect.Type) bool {
	if v, ok := holds.Load(t); ok {
		return v.(bool)
	}
	holds.Store(t, false) // recursive types: assume no until proven
	r := computeMayHold(t)
	holds.Store(t, r)
	return r
}

func computeMayHold(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Struct:
		if t == objectMetaType || t == envVarType || t == httpHeaderType {
			return true
		}
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() && mayHold(f.Type) {
				return true
			}
		}
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		return mayHold(t.Elem())
	case reflect.Interface:
		return true
	}
	return false
}

// walkTyped walks a typed object by its JSON field names.
func (w *walker) walkTyped(path string, v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			w.walkTyped(path, v.Elem())
		}
	case reflect.Struct:
		switch v.Type() {
		case objectMetaType:
			meta := v.Interface().(metav1.ObjectMeta)
			for _, k := range slices.Sorted(maps.Keys(meta.Annotations)) {
				w.add(path+".annotations["+k+"]", k, meta.Annotations[k])
			}
			for _, k := range slices.Sorted(maps.Keys(meta.Labels)) {
				w.add(path+".labels["+k+"]", k, meta.Labels[k])
			}
			return
		case httpHeaderType:
			h := v.Interface().(corev1.HTTPHeader)
			w.add(path+".value", h.Name, h.Value)
			return
		case envVarType:
			e := v.Interface().(corev1.EnvVar)
			if e.Value != "" {
				w.add(path+".value", e.Name, e.Value)
			}
			return
		}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.IsExported() && f.Type == stringsType && (name == "command" || name == "args") && hasEnv(t) {
				for j, word := range v.Field(i).Interface().([]string) {
					w.add(fmt.Sprintf("%s[%d]", join(path, name), j), name, word)
				}
				continue
			}
			if !f.IsExported() || !mayHold(f.Type) {
				continue
			}
			switch name {
			case "-":
				continue
			case "":
				w.walkTyped(path, v.Field(i)) // inline
			default:
				w.walkTyped(join(path, name), v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		if !mayHold(v.Type().Elem()) {
			return
		}
		for i := range v.Len() {
			w.walkTyped(path+"["+itemName(v.Index(i), i)+"]", v.Index(i))
		}
	case reflect.Map:
		if !mayHold(v.Type().Elem()) {
			return
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		for _, k := range keys {
			w.walkTyped(fmt.Sprintf("%s[%v]", path, k), v.MapIndex(k))
		}
	}
}

// hasEnv reports whether a struct is a container (Container,
// EphemeralContainerCommon: whatever has an env list beside its command).
func hasEnv(t reflect.Type) bool {
	f, ok := t.FieldByName("Env")
	return ok && f.Type == reflect.TypeFor[[]corev1.EnvVar]()
}

// itemName names a list item by its name field (containers[backend],
// env[API_KEY]), or by its index when it has none.
func itemName(v reflect.Value, i int) string {
	for v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if v.Kind() == reflect.Struct {
		if f := v.FieldByName("Name"); f.IsValid() && f.Kind() == reflect.String && f.String() != "" {
			return f.String()
		}
	}
	return fmt.Sprint(i)
}

// walkMap walks an unstructured object (a kind the loader does not type):
// every nested metadata.annotations and every env list's values.
func (w *walker) walkMap(path, name string, v any) {
	switch x := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if name == "metadata" && (k == "annotations" || k == "labels") {
				ann, _ := x[k].(map[string]any)
				for _, a := range slices.Sorted(maps.Keys(ann)) {
					if s, ok := ann[a].(string); ok {
						w.add(join(path, k)+"["+a+"]", a, s)
					}
				}
				continue
			}
			if words, ok := x[k].([]any); ok && (k == "command" || k == "args") {
				for j, word := range words {
					if s, ok := word.(string); ok {
						w.add(fmt.Sprintf("%s[%d]", join(path, k), j), k, s)
					}
				}
				continue
			}
			w.walkMap(join(path, k), k, x[k])
		}
	case []any:
		for i, item := range x {
			m, _ := item.(map[string]any)
			n, _ := m["name"].(string)
			if n == "" {
				n = fmt.Sprint(i)
			}
			p := path + "[" + n + "]"
			if s, ok := m["value"].(string); ok && name == "env" {
				w.add(p+".value", n, s)
				continue
			}
			w.walkMap(p, name, item)
		}
	}
}
