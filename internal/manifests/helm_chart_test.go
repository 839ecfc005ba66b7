package manifests

// The app's own chart (manifests/helm/todo-app) must render the same objects
// as the plain YAML it packages: with namespace.create=true its render equals
// manifests/base/, and with persistence.enabled=true as well it equals
// manifests/persistent-uploads/. Its default render leaves the release's
// Namespace to Helm (--create-namespace) and is otherwise the same.
//
// The chart adds the Kubernetes recommended labels (app.kubernetes.io/*,
// helm.sh/chart) to every object and pod template; the plain YAML has none.
// They are removed from the chart's side before comparing (and checked on
// their own, values included, by TestChartRecommendedLabels); every other
// label, and every selector, must match exactly.
//
// Normalization: both sides become typed client-go objects and are converted
// back to maps with runtime.DefaultUnstructuredConverter. The plain YAML goes
// through the public Load (whatever decoder it uses); each rendered document
// goes through client-go's strict deserializer, so an unknown or duplicate
// field in a template is an error rather than silently dropped. Going
// through the types on both sides means that what the API server would
// store identically compares equal: a field left empty and one written as
// its zero value, "1000m" and "1" CPU, 8000 and "8000" where the type says
// int. Everything the types keep — every label, every number, every
// string — must match exactly.

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// appChartDir is the app's chart, relative to the repository root.
var appChartDir = filepath.Join("manifests", "helm", "todo-app")

func repoPath(t testing.TB, rel ...string) string {
	t.Helper()
	root, err := ModuleRoot()
	require.NoError(t, err)
	return filepath.Join(append([]string{root}, rel...)...)
}

var strictDecoder = serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()

// normalized is a set of objects by key, each as the map its typed object
// converts to.
type normalized map[Key]map[string]any

func normalize(t testing.TB, o client.Object, source string, into normalized) {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	require.NoError(t, err, source)
	k := KeyOf(o)
	_, dup := into[k]
	require.False(t, dup, "%s: %s defined twice", source, k)
	into[k] = m
}

// completeRender renders the release's own Namespace too, as manifests/base/
// holds it.
const completeRender = "namespace.create=true"

// recommendedLabels are the labels the chart adds to every object and pod
// template, with the values a release named todo-app of this chart has.
var recommendedLabels = map[string]string{
	"app.kubernetes.io/name":       "todo-app",
	"app.kubernetes.io/instance":   "todo-app",
	"app.kubernetes.io/version":    "latest",
	"app.kubernetes.io/managed-by": "Helm",
	"helm.sh/chart":                "todo-app-0.2.0",
}

func renderedObjects(t testing.TB, s HelmSettings) normalized {
	t.Helper()
	docs, hooks, err := renderDocs(repoPath(t, appChartDir), s)
	require.NoError(t, err)
	for _, h := range hooks {
		require.Contains(t, h, "templates/tests/", "the app chart's only hooks are its helm test Pods")
	}
	out := normalized{}
	for _, d := range docs {
		obj, _, err := strictDecoder.Decode(d.YAML, nil, nil)
		require.NoError(t, err, "decode %s", d.Source)
		co, ok := obj.(client.Object)
		require.True(t, ok, "%s: %T is not a Kubernetes object", d.Source, obj)
		normalize(t, co, d.Source, out)
	}
	return out
}

// withoutRecommendedLabels removes the recommended labels from the objects'
// and pod templates' labels (a map left empty is removed too, as the plain
// YAML would have none).
func withoutRecommendedLabels(objs normalized) normalized {
	out := normalized{}
	for k, m := range objs {
		m = runtime.DeepCopyJSON(m)
		strip := func(meta map[string]any) {
			labels, _ := meta["labels"].(map[string]any)
			for l := range recommendedLabels {
				delete(labels, l)
			}
			if labels != nil && len(labels) == 0 {
				delete(meta, "labels")
			}
		}
		if meta, ok := m["metadata"].(map[string]any); ok {
			strip(meta)
			// Helm's own instruction on a Retain PV (TestChartKeepsARetainPV).
			if k.Kind == "PersistentVolume" {
				annotations, _ := meta["annotations"].(map[string]any)
				delete(annotations, helmKeep)
				if annotations != nil && len(annotations) == 0 {
					delete(meta, "annotations")
				}
			}
		}
		if spec, ok := m["spec"].(map[string]any); ok {
			if tmpl, ok := spec["template"].(map[string]any); ok {
				if meta, ok := tmpl["metadata"].(map[string]any); ok {
					strip(meta)
				}
			}
		}
		out[k] = m
	}
	return out
}

func plainObjects(t testing.TB, rel string) normalized {
	t.Helper()
	set, err := Load(repoPath(t, "manifests", rel))
	require.NoError(t, err)
	out := normalized{}
	for _, o := range set.Objects {
		normalize(t, o.Object, o.Source, out)
	}
	return out
}

// objectDiffs lists every difference between two sets: objects only on one
// side, and for objects on both, each field path whose value differs. A
// Secret's data and stringData values are never shown.
func objectDiffs(want, got normalized, wantName, gotName string) []string {
	var diffs []string
	for k := range want {
		if _, ok := got[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: in %s, missing from %s", k, wantName, gotName))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: in %s, not in %s", k, gotName, wantName))
		}
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			continue
		}
		fieldDiffs(k, "", w, g, func(path string, wv, gv any) {
			w, g := show(wv), show(gv)
			if k.Kind == "Secret" && (strings.HasPrefix(path, ".data") || strings.HasPrefix(path, ".stringData")) {
				w, g = "(value hidden)", "(a different value)"
			}
			diffs = append(diffs, fmt.Sprintf("%s %s: %s has %s, %s has %s", k, path, wantName, w, gotName, g))
		})
	}
	sort.Strings(diffs)
	return diffs
}

func fieldDiffs(k Key, path string, want, got any, report func(path string, want, got any)) {
	wm, wok := want.(map[string]any)
	gm, gok := got.(map[string]any)
	if wok && gok {
		keys := map[string]bool{}
		for f := range wm {
			keys[f] = true
		}
		for f := range gm {
			keys[f] = true
		}
		for f := range keys {
			fieldDiffs(k, path+"."+f, wm[f], gm[f], report)
		}
		return
	}
	wl, wok := want.([]any)
	gl, gok := got.([]any)
	if wok && gok && len(wl) == len(gl) {
		for i := range wl {
			fieldDiffs(k, fmt.Sprintf("%s[%d]", path, i), wl[i], gl[i], report)
		}
		return
	}
	if !reflect.DeepEqual(want, got) {
		report(path, want, got)
	}
}

func show(v any) string {
	if v == nil {
		return "nothing"
	}
	return fmt.Sprintf("%#v", v)
}

func TestChartCompleteRenderEqualsBase(t *testing.T) {
	base := plainObjects(t, "base")
	require.Len(t, base, 7, "manifests/base holds the seed's 7 objects")
	chart := withoutRecommendedLabels(renderedObjects(t, HelmSettings{Set: []string{completeRender}}))
	if d := objectDiffs(base, chart, "manifests/base", "the chart ("+completeRender+")"); len(d) > 0 {
		t.Errorf("the chart's render with %s and manifests/base differ:\n  %s", completeRender, strings.Join(d, "\n  "))
	}
}

// By default the chart does not render the release's own Namespace, so that
// `helm install -n todo-app --create-namespace` and an install into an
// existing namespace both work; everything else is manifests/base.
func TestChartDefaultRenderLeavesTheNamespaceToHelm(t *testing.T) {
	base := plainObjects(t, "base")
	nsKey := Key{Kind: "Namespace", Name: "todo-app"}
	require.Contains(t, base, nsKey)
	delete(base, nsKey)
	chart := withoutRecommendedLabels(renderedObjects(t, HelmSettings{}))
	if d := objectDiffs(base, chart, "manifests/base without its Namespace", "the chart's default render"); len(d) > 0 {
		t.Errorf("the chart's default render differs from manifests/base (Namespace aside):\n  %s", strings.Join(d, "\n  "))
	}
}

const helmKeep = "helm.sh/resource-policy"

// A Retain PV outlives its claim, so it outlives the release: helm
// uninstall must leave it (Released, with its data), which Helm does for an
// object annotated helm.sh/resource-policy: keep. A Delete PV is Helm's to
// remove.
func TestChartKeepsARetainPV(t *testing.T) {
	pvOf := func(set ...string) map[string]any {
		objs := renderedObjects(t, HelmSettings{Set: append([]string{"persistence.enabled=true"}, set...)})
		for k, m := range objs {
			if k.Kind == "PersistentVolume" {
				return m
			}
		}
		t.Fatal("no PersistentVolume rendered")
		return nil
	}
	meta := pvOf()["metadata"].(map[string]any)
	assert.Equal(t, map[string]any{helmKeep: "keep"}, meta["annotations"])
	assert.Equal(t, "backend-uploads-pv", meta["name"])
	meta = pvOf("persistence.reclaimPolicy=Delete")["metadata"].(map[string]any)
	assert.NotContains(t, meta, "annotations", "a Delete PV goes with the release")
	meta = pvOf("persistence.volumeName=todo-helm-uploads-pv")["metadata"].(map[string]any)
	assert.Equal(t, "todo-helm-uploads-pv", meta["name"], "a second release in one cluster names its own PV")
}

func TestChartPersistenceRenderEqualsPersistentUploads(t *testing.T) {
	variant := plainObjects(t, "persistent-uploads")
	require.Len(t, variant, 9, "manifests/persistent-uploads is base + PV + PVC")
	chart := withoutRecommendedLabels(renderedObjects(t, HelmSettings{Set: []string{completeRender, "persistence.enabled=true"}}))
	if d := objectDiffs(variant, chart, "manifests/persistent-uploads", "the chart (persistence.enabled=true)"); len(d) > 0 {
		t.Errorf("the chart with persistence and manifests/persistent-uploads differ:\n  %s", strings.Join(d, "\n  "))
	}
}

// The comparison must see drift: a changed number, a dropped object, an
// added object, a changed Secret value (without printing it).
func TestChartDriftIsReported(t *testing.T) {
	base := plainObjects(t, "base")
	cases := []struct {
		name      string
		set       []string
		namespace string
		wants     []string // substrings of the diffs, all required
		never     string   // a substring no diff may contain
	}{
		{
			name:  "replicas",
			set:   []string{"backend.replicas=2"},
			wants: []string{"Deployment todo-app/backend .spec.replicas: manifests/base has 1, the chart has 2"},
		},
		{
			name:  "probe timing",
			set:   []string{"frontend.livenessProbe.periodSeconds=11"},
			wants: []string{"Deployment todo-app/frontend .spec.template.spec.containers[0].livenessProbe.periodSeconds"},
		},
		{
			name:  "label changed",
			set:   []string{"namespace.labels.environment=production"},
			wants: []string{`Namespace/todo-app .metadata.labels.environment: manifests/base has "development", the chart has "production"`},
		},
		{
			name:  "object dropped",
			set:   []string{"namespace.create=false"},
			wants: []string{"Namespace/todo-app: in manifests/base, missing from the chart"},
		},
		{
			name:  "object added",
			set:   []string{"persistence.enabled=true"},
			wants: []string{"PersistentVolume/backend-uploads-pv: in the chart, not in manifests/base", "Deployment todo-app/backend .spec.template.spec.volumes[0].persistentVolumeClaim"},
		},
		{
			name:  "secret value",
			set:   []string{"secret.values.JWT_SECRET=fake-drifted-value"},
			wants: []string{"Secret todo-app/todo-app-secrets .data.JWT_SECRET: manifests/base has (value hidden)"},
			never: "ZmFrZS1kcmlmdGVkLXZhbHVl", // base64 of the fake value
		},
		{
			name:      "another namespace",
			namespace: "elsewhere",
			wants:     []string{"ConfigMap todo-app/todo-app-config: in manifests/base, missing from the chart"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := HelmSettings{Set: append([]string{completeRender}, tc.set...), Namespace: tc.namespace}
			diffs := strings.Join(objectDiffs(base, withoutRecommendedLabels(renderedObjects(t, s)), "manifests/base", "the chart"), "\n")
			require.NotEmpty(t, diffs, "a drifted chart must differ from manifests/base")
			for _, w := range tc.wants {
				require.Contains(t, diffs, w)
			}
			if tc.never != "" {
				require.NotContains(t, diffs, tc.never)
				require.NotContains(t, diffs, "fake-drifted-value")
			}
		})
	}
}

// BenchmarkHelmRender renders the app's chart as `helm template` does:
// load, values, render, sort.
func BenchmarkHelmRender(b *testing.B) {
	dir := repoPath(b, appChartDir)
	for _, tc := range []struct {
		name string
		s    HelmSettings
	}{
		// As the static tier renders the chart: with its Namespace.
		{"default", HelmSettings{Set: []string{"namespace.create=true"}}},
		{"persistence", HelmSettings{Set: []string{"namespace.create=true", "persistence.enabled=true"}}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				docs, _, err := renderDocs(dir, tc.s)
				if err != nil {
					b.Fatal(err)
				}
				if len(docs) < 7 {
					b.Fatalf("rendered %d documents, want at least 7", len(docs))
				}
			}
		})
	}
}

// The chart's values.schema.json refuses what the chart would silently
// ignore: a misspelt key renders as if it were absent, as an unknown field
// would without strict decoding.
func TestChartRefusesUnknownOrMistypedValues(t *testing.T) {
	typo := filepath.Join(t.TempDir(), "typo.yaml")
	require.NoError(t, os.WriteFile(typo, []byte("frontend:\n  imagePulPolicy: Always\n"), 0o644))
	cases := []struct {
		name string
		s    HelmSettings
		want []string
	}{
		{"misspelt key in --set", HelmSettings{Set: []string{"backend.replicaz=3"}}, []string{"replicaz"}},
		{"misspelt key in a values file", HelmSettings{ValuesFiles: []string{typo}}, []string{"imagePulPolicy"}},
		{"wrong type", HelmSettings{Set: []string{"backend.replicas=many"}}, []string{"/backend/replicas", "integer"}},
		{"out of range", HelmSettings{Set: []string{"frontend.service.nodePort=70000"}}, []string{"/frontend/service/nodePort"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := renderDocs(repoPath(t, appChartDir), tc.s)
			require.Error(t, err)
			t.Log(err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}
