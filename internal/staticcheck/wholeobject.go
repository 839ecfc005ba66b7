package staticcheck

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/spec"
)

// The whole-object comparison: no field of a seed object goes unjudged.
//
// Each object of the set that is one of the seed's (by kind and name) is
// defaulted as the API server defaults it and compared, field by field, with
// the seed's object built from the typed spec and defaulted alike
// (expected.go). Every field the seed does not set must then hold the API
// server's default: a Service's publishNotReadyAddresses, a pod's
// terminationGracePeriodSeconds, a container's stdin are judged although no
// check names them. A difference is a finding of the object's own check
// (areaID picks BD-4 or BD-7 by where in a Deployment it is), with its path,
// the expected value (the default, or <unset>) and the actual one.
//
// The allowed variations are few and explicit:
//   - extra labels and annotations, at any depth (labels are a floor; the
//     field-by-field checks hold the seed's labels; selectors stay exact);
//   - fields the server fills per object (serverFilled): UIDs, resource
//     versions, timestamps, cluster IPs and IP families, a node port the
//     seed does not set;
//   - the persistent variant's volume (the expected object is built per
//     profile);
//   - the Secret's and the ConfigMap's data, which SEC-1, SEC-2 and CM-1
//     judge key by key (their values may be credentials);
//   - the spellings the field-by-field checks accept as the same: a Service
//     targetPort or a probe port given as the container port's name, list
//     items in another order (lists of named items are matched by name).

// difference is one field that differs from the expected object.
type difference struct {
	path     string
	expected any // absent when the expected object does not set it
	actual   any
	hasExp   bool
	hasAct   bool
}

// wholeObjectTargets maps a check to the seed object whose whole-object
// differences it reports (with areaID choosing among a Deployment's IDs).
var wholeObjectTargets = map[string]manifests.Key{}

func init() {
	add := func(kind, name string, ids ...string) {
		for _, id := range ids {
			wholeObjectTargets[id] = manifests.Key{Kind: kind, Name: name}
		}
	}
	add("Namespace", seed.Namespace.Name, "NS-1")
	add("ConfigMap", seed.ConfigMap.Name, "CM-1")
	add("Secret", seed.Secret.Name, "SEC-1")
	add("Deployment", seed.Backend.Deployment.Name, "BD-1", "BD-2", "BD-3", "BD-4", "BD-5", "BD-6", "BD-7", "BD-8")
	add("Service", seed.Backend.Service.Name, "BS-1")
	add("Deployment", seed.Frontend.Deployment.Name, "FD-1", "FD-2", "FD-3", "FD-4", "FD-5", "FD-6", "FD-7")
	add("Service", seed.Frontend.Service.Name, "FS-1")
	add("PersistentVolume", seed.Uploads.PV.Name, "PV-1")
	add("PersistentVolumeClaim", seed.Uploads.PVC.Name, "PVC-1")
}

// compareWhole adds the whole-object differences that belong to c's check
// and that its field-by-field comparison has not already reported.
func (c *checker) compareWhole(shared *runCache) {
	target, ok := wholeObjectTargets[c.id]
	if !ok {
		return
	}
	o, found := c.set.Find(target.Kind, "*", target.Name)
	if !found {
		return // the field-by-field check says it is missing (or skips)
	}
	key := manifests.Key{Kind: target.Kind, Namespace: o.GetNamespace(), Name: target.Name}
	diffs, ok := shared.diffs[key]
	if !ok {
		want := expectedObjects(c.profile)[manifests.Key{Kind: target.Kind, Namespace: expectedNamespace(target.Kind), Name: target.Name}]
		if want == nil {
			return
		}
		diffs = compareObjects(want, o.Object)
		if shared.diffs == nil {
			shared.diffs = map[manifests.Key][]difference{}
		}
		shared.diffs[key] = diffs
	}
	res := fmt.Sprintf("%s %s (%s)", target.Kind, target.Name, o.Source)
	reported := make([]string, 0, len(c.findings))
	for _, f := range c.findings {
		reported = append(reported, f.Field)
	}
	if target.Kind == "Deployment" && target.Name == seed.Frontend.Deployment.Name {
		// The way the frontend reaches the Secret is SEC-3's finding; the
		// frontend's own checks do not report it again.
		sec3 := &checker{id: "SEC-3", set: c.set, profile: c.profile}
		checkSecretBackendOnly(sec3)
		for _, f := range sec3.findings {
			reported = append(reported, f.Field)
		}
	}
	for _, d := range diffs {
		if areaID(c.id, target.Kind, d.path) != c.id || alreadyReported(reported, d.path) {
			continue
		}
		exp, act := any(rawText("<unset>")), any(rawText("<unset>"))
		if d.hasExp {
			exp = d.expected
		}
		if d.hasAct {
			act = d.actual
		}
		c.fail(res, d.path, exp, act)
	}
}

func expectedNamespace(kind string) string {
	if kind == "Namespace" || kind == "PersistentVolume" {
		return ""
	}
	return spec.Namespace
}

// areaID is the check a difference in a Deployment belongs to, by where it
// is; other kinds have one check each.
func areaID(id, kind, path string) string {
	if kind != "Deployment" {
		return id
	}
	prefix := id[:strings.Index(id, "-")+1] // BD- or FD-
	ctr := strings.Index(path, "containers[")
	inCtr := func(field string) bool {
		if ctr < 0 {
			return false
		}
		rest := path[ctr:]
		i := strings.Index(rest, "].")
		return i >= 0 && strings.HasPrefix(rest[i+2:], field)
	}
	switch {
	case strings.HasPrefix(path, "metadata.") || strings.HasPrefix(path, "spec.selector") || strings.HasPrefix(path, "spec.template.metadata"):
		return prefix + "1"
	case path == "spec.replicas":
		return prefix + "2"
	case strings.HasPrefix(path, "spec.strategy") || path == "spec.minReadySeconds" || path == "spec.revisionHistoryLimit" ||
		path == "spec.progressDeadlineSeconds" || path == "spec.paused":
		return prefix + "3"
	case inCtr("env"): // env and envFrom
		return prefix + "5"
	case inCtr("resources"):
		return prefix + "6"
	case inCtr("startupProbe") || inCtr("livenessProbe") || inCtr("readinessProbe"):
		return prefix + "7"
	case prefix == "BD-" && (strings.HasPrefix(path, "spec.template.spec.volumes") || inCtr("volumeMounts")):
		return prefix + "8"
	}
	// Everything else is what runs and how: the pod and its containers.
	return prefix + "4"
}

// alreadyReported says whether a field-by-field finding covers the path:
// the same field, a field above it or below it, with list items named by
// name or by index (both spellings are compared with the brackets' content
// dropped, and with brackets read as path segments).
func alreadyReported(reported []string, path string) bool {
	stripped, dotted := stripBrackets(path), dotBrackets(path)
	for _, r := range reported {
		if related(stripBrackets(r), stripped) || related(dotBrackets(r), dotted) {
			return true
		}
	}
	return false
}

func related(a, b string) bool {
	return a == b || strings.HasPrefix(b, a+".") || strings.HasPrefix(a, b+".")
}

func stripBrackets(p string) string {
	var b strings.Builder
	depth := 0
	for _, r := range p {
		switch {
		case r == '[':
			depth++
		case r == ']':
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func dotBrackets(p string) string {
	p = strings.NewReplacer("[name=", ".", "[", ".", "]", "").Replace(p)
	return p
}

// runCache holds what the checks of one run share: the set as the API
// server stores it, and each seed object's differences.
type runCache struct {
	stored *manifests.Set
	diffs  map[manifests.Key][]difference
}

// readsStored says whether a check reads the defaulted set: the seed's
// objects' checks, SEC-3 and X-1 (a Service port without targetPort reaches
// the container port of the same number). The credential rules read the
// set as written: what they report is where a value was written.
func readsStored(id string) bool {
	_, ok := wholeObjectTargets[id]
	return ok || id == "SEC-3" || id == "X-1"
}

// storedView is the set with every object defaulted (copies; the set is
// not changed).
func (r *runCache) storedView(s *manifests.Set) *manifests.Set {
	if r.stored != nil {
		return r.stored
	}
	v := *s
	v.Objects = make([]manifests.Object, len(s.Objects))
	for i, o := range s.Objects {
		v.Objects[i] = o
		if d, ok := defaulted(o.Object).(client.Object); ok {
			v.Objects[i].Object = d
		}
	}
	r.stored = &v
	return r.stored
}

// compareObjects lists the differences of an object as stored (defaulted)
// from the expected one (defaulted alike).
func compareObjects(want, got runtime.Object) []difference {
	got = defaulted(got) // a copy: sameSpellings rewrites it; defaulting twice changes nothing
	sameSpellings(want, got)
	w, err := comparedMap(want, want)
	if err != nil {
		return []difference{{path: "(object)", expected: "convertible", actual: err.Error(), hasExp: true, hasAct: true}}
	}
	g, err := comparedMap(got, want)
	if err != nil {
		return []difference{{path: "(object)", expected: "convertible", actual: err.Error(), hasExp: true, hasAct: true}}
	}
	var out []difference
	diffValues("", w, g, &out)
	return out
}

// comparedMap converts an object to the map the comparison walks, without
// what is not compared. The expected objects' maps are made once.
func comparedMap(o, want runtime.Object) (map[string]any, error) {
	if o == want {
		wantMapsMu.Lock()
		defer wantMapsMu.Unlock()
		if m, ok := wantMaps[want]; ok {
			return m, nil
		}
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return nil, err
	}
	prune(m, "")
	pruneKind(m, want)
	if o == want {
		wantMaps[want] = m
	}
	return m, nil
}

var (
	wantMapsMu sync.Mutex
	wantMaps   = map[runtime.Object]map[string]any{}
)

// serverFilled are the fields the server fills per object, or that no
// manifest sets: they are not compared.
var serverFilled = map[string]bool{
	"status":                              true,
	"metadata.uid":                        true,
	"metadata.resourceVersion":            true,
	"metadata.creationTimestamp":          true,
	"metadata.generation":                 true,
	"metadata.managedFields":              true,
	"metadata.selfLink":                   true,
	"metadata.deletionTimestamp":          true,
	"metadata.deletionGracePeriodSeconds": true,
	"apiVersion":                          true, // the decoder has judged it served
	"kind":                                true,
}

// prune drops what is not compared: server-filled fields, labels and
// annotations at any depth (the field-by-field checks hold the seed's labels
// as a floor), and nil values (an unset pointer converts to null).
func prune(m map[string]any, path string) {
	for k, v := range m {
		p := join(path, k)
		if v == nil || serverFilled[p] || (strings.HasSuffix(path, "metadata") && (k == "labels" || k == "annotations" || k == "creationTimestamp")) {
			delete(m, k)
			continue
		}
		switch x := v.(type) {
		case map[string]any:
			prune(x, p)
		case []any:
			for _, item := range x {
				if im, ok := item.(map[string]any); ok {
					prune(im, p+"[]")
				}
			}
		}
	}
}

// pruneKind drops the per-kind fields that are not compared here.
func pruneKind(m map[string]any, want runtime.Object) {
	spec, _ := m["spec"].(map[string]any)
	switch want.(type) {
	case *corev1.Secret:
		delete(m, "data")
		delete(m, "stringData")
	case *corev1.ConfigMap:
		delete(m, "data")
		delete(m, "binaryData")
	case *corev1.Service:
		for _, f := range []string{"clusterIP", "clusterIPs", "ipFamilies", "healthCheckNodePort"} {
			delete(spec, f)
		}
	}
}

// sameSpellings rewrites, in the defaulted actual object, the spellings the
// field-by-field checks accept as equal to the seed's: a port given by the
// container port's name where the seed writes its number (those checks
// judge such a name), so the comparison sees the number.
func sameSpellings(want, got runtime.Object) {
	switch g := got.(type) {
	case *corev1.Service:
		w := want.(*corev1.Service)
		name, number := portNameFor(w.Name)
		for i := range g.Spec.Ports {
			if tp := g.Spec.Ports[i].TargetPort; tp.Type == intstr.String && tp.StrVal == name && name != "" {
				g.Spec.Ports[i].TargetPort = intstr.FromInt32(number)
			}
		}
	case *appsv1.Deployment:
		for i := range g.Spec.Template.Spec.Containers {
			ctr := &g.Spec.Template.Spec.Containers[i]
			for _, p := range []*corev1.Probe{ctr.StartupProbe, ctr.LivenessProbe, ctr.ReadinessProbe} {
				if p == nil || p.HTTPGet == nil || p.HTTPGet.Port.Type != intstr.String {
					continue
				}
				if n, ok := resolvePort(p.HTTPGet.Port, ctr); ok {
					p.HTTPGet.Port = intstr.FromInt32(n)
				}
			}
		}
	}
}

// portNameFor is the container port name and number behind a seed Service.
func portNameFor(service string) (string, int32) {
	for _, w := range []workload{backend, frontend} {
		if w.spec().Service.Name == service {
			c := w.spec().Deployment.Container
			return c.PortName, c.Port
		}
	}
	return "", 0
}

// diffValues compares two converted values and appends every difference.
func diffValues(path string, want, got any, out *[]difference) {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			*out = append(*out, difference{path: path, expected: compact(want), actual: compact(got), hasExp: true, hasAct: true})
			return
		}
		keys := slices.Sorted(maps.Keys(w))
		for k := range g {
			if _, ok := w[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			wv, inW := w[k]
			gv, inG := g[k]
			p := join(path, k)
			switch {
			case inW && inG:
				diffValues(p, wv, gv, out)
			case inW:
				leaves(p, wv, true, out)
			default:
				if isNodePort(p) {
					continue // allocated by the server when the seed sets none
				}
				leaves(p, gv, false, out)
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok {
			*out = append(*out, difference{path: path, expected: compact(want), actual: compact(got), hasExp: true, hasAct: true})
			return
		}
		diffLists(path, w, g, out)
	default:
		if !reflect.DeepEqual(want, got) {
			*out = append(*out, difference{path: path, expected: want, actual: got, hasExp: true, hasAct: true})
		}
	}
}

func isNodePort(path string) bool {
	return strings.HasPrefix(path, "spec.ports[") && strings.HasSuffix(path, "].nodePort")
}

// leaves reports a value present on one side only, down to its scalars: an
// extra securityContext.privileged is named as such, not as "securityContext".
func leaves(path string, v any, expectedSide bool, out *[]difference) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			break
		}
		for _, k := range slices.Sorted(maps.Keys(x)) {
			leaves(join(path, k), x[k], expectedSide, out)
		}
		return
	case []any:
		if keys, ok := itemKeys(path, x); ok && len(x) > 0 {
			for i := range x {
				d := difference{path: path + "[" + keys[i] + "]"}
				if expectedSide {
					d.expected, d.hasExp, d.actual, d.hasAct = rawText("present"), true, rawText("missing"), true
				} else {
					d.actual, d.hasAct = rawText("present (not in the seed)"), true
				}
				*out = append(*out, d)
			}
			return
		}
	}
	d := difference{path: path}
	if expectedSide {
		d.expected, d.hasExp = compact(v), true
	} else {
		d.actual, d.hasAct = compact(v), true
	}
	*out = append(*out, d)
}

// diffLists matches list items by name (containers, env, ports, volumes,
// mounts), envFrom items by what they reference, other lists of objects by
// index; lists of scalars (accessModes, command, args) compare whole.
func diffLists(path string, want, got []any, out *[]difference) {
	wk, wOK := itemKeys(path, want)
	gk, gOK := itemKeys(path, got)
	if !wOK || !gOK {
		if len(want) > 0 && !isMapItem(want[0]) || len(got) > 0 && !isMapItem(got[0]) {
			if !reflect.DeepEqual(want, got) {
				*out = append(*out, difference{path: path, expected: compact(want), actual: compact(got), hasExp: true, hasAct: true})
			}
			return
		}
		wk, gk = indexKeys(len(want)), indexKeys(len(got))
	}
	gotByKey := make(map[string]any, len(got))
	for i, k := range gk {
		gotByKey[k] = got[i]
	}
	wantKeys := map[string]bool{}
	for i, k := range wk {
		wantKeys[k] = true
		p := path + "[" + k + "]"
		g, ok := gotByKey[k]
		if !ok {
			*out = append(*out, difference{path: p, expected: rawText("present"), actual: rawText("missing"), hasExp: true, hasAct: true})
			continue
		}
		diffValues(p, want[i], g, out)
	}
	for _, k := range gk {
		if !wantKeys[k] {
			*out = append(*out, difference{path: path + "[" + k + "]", actual: rawText("present (not in the seed)"), hasAct: true})
		}
	}
}

func isMapItem(v any) bool {
	_, ok := v.(map[string]any)
	return ok
}

func indexKeys(n int) []string {
	k := make([]string, n)
	for i := range k {
		k[i] = fmt.Sprint(i)
	}
	return k
}

// itemKeys names each item of a list of objects: by its name, or for
// envFrom by the ConfigMap or Secret it references; ok is false when the
// items are not all named, or a name repeats.
func itemKeys(path string, items []any) ([]string, bool) {
	keys := make([]string, len(items))
	seen := map[string]bool{}
	for i, item := range items {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, false
		}
		k := ""
		if n, ok := m["name"].(string); ok && n != "" {
			k = n
		} else if strings.HasSuffix(path, "envFrom") {
			for _, ref := range []string{"configMapRef", "secretRef"} {
				if r, ok := m[ref].(map[string]any); ok {
					if n, ok := r["name"].(string); ok {
						k = ref + "=" + n
					}
				}
			}
		}
		if k == "" || seen[k] {
			return nil, false
		}
		seen[k] = true
		keys[i] = k
	}
	return keys, true
}

// compact renders a converted value: scalars as they are (render quotes
// strings), objects and lists as compact JSON.
func compact(v any) any {
	switch v.(type) {
	case map[string]any, []any:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return rawText(b)
	}
	return v
}

// rawText is printed as it is, not quoted.
type rawText string

func (r rawText) String() string { return string(r) }
