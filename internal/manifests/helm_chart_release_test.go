package manifests

// What a Helm user expects of the app's chart beyond rendering the seed's
// objects: recommended labels, a Secret the user can keep out of the
// release, a `helm test`, a Chart.yaml that states the Kubernetes versions
// it supports, and a clean `helm lint` (the Helm v4 SDK's own linter).

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v4/pkg/chart/common"
	commonutil "helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	chartloader "helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	release "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"helm.sh/helm/v4/pkg/strvals"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/puretasks/k8s-conformance/internal/kubeversion"
	"github.com/puretasks/k8s-conformance/internal/stubimage"
)

// chartRelease renders the chart as `helm install --dry-run` would for the
// target version, returning the release's manifests and its hooks (with
// their content, which renderChart does not keep), and NOTES.txt.
func chartRelease(t testing.TB, set ...string) (manifests []releaseutil.Manifest, hooks []*release.Hook, notes string) {
	t.Helper()
	chrt, err := chartloader.Load(repoPath(t, appChartDir))
	require.NoError(t, err)
	vals := map[string]any{}
	for _, s := range set {
		require.NoError(t, strvals.ParseInto(s, vals))
	}
	caps := common.DefaultCapabilities.Copy()
	kv, err := common.ParseKubeVersion(kubeversion.Default.Version)
	require.NoError(t, err)
	caps.KubeVersion = *kv
	opts := common.ReleaseOptions{Name: DefaultRelease, Namespace: DefaultNamespace, Revision: 1, IsInstall: true}
	rv, err := commonutil.ToRenderValuesWithSchemaValidation(chrt, vals, opts, caps, false)
	require.NoError(t, err)
	var e engine.Engine
	files, err := e.Render(chrt, rv)
	require.NoError(t, err)
	for name, content := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			notes = content
			delete(files, name)
		}
	}
	hooks, manifests, err = releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	require.NoError(t, err)
	return manifests, hooks, notes
}

func decodeObject(t testing.TB, source, doc string) client.Object {
	t.Helper()
	obj, _, err := strictDecoder.Decode([]byte(doc), nil, nil)
	require.NoError(t, err, source)
	co, ok := obj.(client.Object)
	require.True(t, ok, "%s: %T", source, obj)
	return co
}

// Every object, every pod template and every test Pod carries the
// recommended labels; the selectors stay the app's own.
func TestChartRecommendedLabels(t *testing.T) {
	manifests, hooks, _ := chartRelease(t, completeRender, "persistence.enabled=true")
	var objs []client.Object
	for _, m := range manifests {
		objs = append(objs, decodeObject(t, m.Name, m.Content))
	}
	for _, h := range hooks {
		objs = append(objs, decodeObject(t, h.Path, h.Manifest))
	}
	require.Len(t, objs, 11, "9 objects of manifests/persistent-uploads and 2 test Pods")
	for _, o := range objs {
		res := KeyOf(o).String()
		for k, v := range recommendedLabels {
			assert.Equal(t, v, o.GetLabels()[k], "%s metadata.labels[%s]", res, k)
		}
		d, ok := o.(*appsv1.Deployment)
		if !ok {
			continue
		}
		for k, v := range recommendedLabels {
			assert.Equal(t, v, d.Spec.Template.Labels[k], "%s spec.template.metadata.labels[%s]", res, k)
		}
		assert.Equal(t, map[string]string{"app": d.Name}, d.Spec.Selector.MatchLabels, "%s spec.selector", res)
	}
}

// With secret.existingSecret the chart renders no Secret (so helm upgrade
// cannot overwrite the user's values) and the backend reads the one named.
func TestChartExistingSecret(t *testing.T) {
	objs := renderedObjects(t, HelmSettings{Set: []string{"secret.existingSecret=todo-app-real"}})
	for k := range objs {
		assert.NotEqual(t, "Secret", k.Kind, "no Secret is rendered with secret.existingSecret: %s", k)
	}
	backend := objs[Key{Kind: "Deployment", Namespace: DefaultNamespace, Name: "backend"}]
	require.NotNil(t, backend)
	envFrom := backend["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["envFrom"]
	assert.Equal(t, []any{
		map[string]any{"configMapRef": map[string]any{"name": "todo-app-config"}},
		map[string]any{"secretRef": map[string]any{"name": "todo-app-real"}},
	}, envFrom)

	// Without it the chart's own Secret is what the backend reads.
	objs = renderedObjects(t, HelmSettings{})
	assert.Contains(t, objs, Key{Kind: "Secret", Namespace: DefaultNamespace, Name: "todo-app-secrets"})

	// A name the API server would refuse is refused before anything is sent.
	_, err := renderChart(repoPath(t, appChartDir), HelmSettings{Set: []string{"secret.existingSecret=Not_A_Name"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/secret/existingSecret")
}

// `helm test` runs one Pod per Service: a GET of the health path through
// the Service, with an image this project builds (so it runs offline), never
// pulled when present, under the restricted Pod Security profile's settings.
func TestChartHelmTestPods(t *testing.T) {
	_, hooks, _ := chartRelease(t)
	require.Len(t, hooks, 2)
	var stubTags []string
	for _, s := range stubimage.Stubs() {
		stubTags = append(stubTags, s.Tag)
	}
	wantURLs := map[string]string{
		"todo-app-test-backend-service":  "http://backend-service:8000/api/health",
		"todo-app-test-frontend-service": "http://frontend-service:3000/api/health",
	}
	for _, h := range hooks {
		assert.Equal(t, []release.HookEvent{release.HookTest}, h.Events, h.Path)
		assert.Equal(t, []release.HookDeletePolicy{release.HookBeforeHookCreation, release.HookSucceeded}, h.DeletePolicies, h.Path)
		pod, ok := decodeObject(t, h.Path, h.Manifest).(*corev1.Pod)
		require.True(t, ok, "%s is a Pod", h.Path)
		want, ok := wantURLs[pod.Name]
		require.True(t, ok, "unexpected test Pod %s", pod.Name)
		delete(wantURLs, pod.Name)
		assert.Equal(t, DefaultNamespace, pod.Namespace)
		assert.Equal(t, corev1.RestartPolicyNever, pod.Spec.RestartPolicy)
		require.Len(t, pod.Spec.Containers, 1)
		c := pod.Spec.Containers[0]
		assert.Contains(t, stubTags, c.Image, "%s runs an image this project builds", pod.Name)
		assert.Equal(t, corev1.PullIfNotPresent, c.ImagePullPolicy, pod.Name)
		assert.Equal(t, []string{"/probe", "get", want}, c.Command, pod.Name)
		assert.NotContains(t, pod.Labels, "app", "a test Pod carries no app label, so no Service selects it")
		require.NotNil(t, pod.Spec.SecurityContext.RunAsNonRoot)
		assert.True(t, *pod.Spec.SecurityContext.RunAsNonRoot)
		require.NotNil(t, c.SecurityContext.AllowPrivilegeEscalation)
		assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
		assert.Equal(t, []corev1.Capability{"ALL"}, c.SecurityContext.Capabilities.Drop)
		assert.False(t, c.Resources.Limits.Memory().IsZero(), "%s has a memory limit", pod.Name)
	}
	assert.Empty(t, wantURLs, "test Pods missing")

	// The command is a value: an image with curl instead of /probe.
	_, hooks, _ = chartRelease(t, "tests.image=curlimages/curl:8.11.1", "tests.command={curl,-fsS}")
	pod := decodeObject(t, hooks[0].Path, hooks[0].Manifest).(*corev1.Pod)
	assert.Equal(t, "curlimages/curl:8.11.1", pod.Spec.Containers[0].Image)
	assert.Equal(t, []string{"curl", "-fsS"}, pod.Spec.Containers[0].Command[:2])
}

func TestChartNotes(t *testing.T) {
	_, _, notes := chartRelease(t)
	assert.Contains(t, notes, "helm test todo-app -n todo-app")
	assert.Contains(t, notes, "http://localhost:30000/api/health")
	assert.Contains(t, notes, "secret.existingSecret")
	_, _, notes = chartRelease(t, "secret.existingSecret=todo-app-real")
	assert.Contains(t, notes, "from the Secret todo-app-real, which this chart does not manage")
}

// Chart.yaml's kubeVersion admits every Kubernetes release the suite
// targets, and no minor outside them.
func TestChartKubeVersionCoversTheSupportedReleases(t *testing.T) {
	chrt, err := chartloader.Load(repoPath(t, appChartDir))
	require.NoError(t, err)
	c := chrt.Metadata.KubeVersion
	require.NotEmpty(t, c, "Chart.yaml kubeVersion")
	for _, r := range kubeversion.Supported {
		assert.True(t, chartutil.IsCompatibleRange(c, r.Version), "kubeVersion %s refuses %s", c, r.Version)
		assert.True(t, chartutil.IsCompatibleRange(c, r.Version+"-gke.100"), "kubeVersion %s refuses a provider build of %s", c, r.Version)
	}
	first, last := kubeversion.Supported[0], kubeversion.Supported[len(kubeversion.Supported)-1]
	assert.False(t, chartutil.IsCompatibleRange(c, fmt.Sprintf("v1.%d.9", first.Minor()-1)), "kubeVersion %s admits the minor before %s", c, first.MajorMinor())
	assert.False(t, chartutil.IsCompatibleRange(c, fmt.Sprintf("v1.%d.0", last.Minor()+1)), "kubeVersion %s admits the minor after %s", c, last.MajorMinor())
	assert.NotEmpty(t, chrt.Metadata.AppVersion, "Chart.yaml appVersion")
	assert.NotEmpty(t, chrt.Metadata.Sources, "Chart.yaml sources")
}

// lintFindings runs the Helm v4 SDK's linter (what `helm lint` runs) on a
// chart for one Kubernetes version and returns every warning and error.
func lintFindings(dir string, kube string, set ...string) ([]string, error) {
	vals := map[string]any{}
	for _, s := range set {
		if err := strvals.ParseInto(s, vals); err != nil {
			return nil, err
		}
	}
	kv, err := common.ParseKubeVersion(kube)
	if err != nil {
		return nil, err
	}
	res := lint.RunAll(dir, vals, DefaultNamespace, lint.WithKubeVersion(kv))
	var out []string
	for _, m := range res.Messages {
		if m.Severity >= support.WarningSev {
			out = append(out, m.Error())
		}
	}
	return out, nil
}

// helm lint is clean for every supported version and every layout the
// chart renders; an INFO ("icon is recommended") is not a finding.
func TestChartHelmLint(t *testing.T) {
	dir := repoPath(t, appChartDir)
	for _, r := range kubeversion.Supported {
		for _, set := range [][]string{nil, {completeRender, "persistence.enabled=true"}, {"secret.existingSecret=todo-app-real"}} {
			findings, err := lintFindings(dir, r.Version, set...)
			require.NoError(t, err)
			assert.Empty(t, findings, "helm lint (Kubernetes %s, --set %s)", r.Version, strings.Join(set, ","))
		}
	}
}

// The lint test sees what helm lint reports: a broken copy of the chart
// fails it.
func TestChartHelmLintReportsFindings(t *testing.T) {
	src := repoPath(t, appChartDir)
	for name, breakIt := range map[string]func(dir string) error{
		"version not SemVer": func(dir string) error {
			return replaceIn(filepath.Join(dir, "Chart.yaml"), "version: 0.2.0", "version: two")
		},
		"template that does not parse": func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "templates", "broken.yaml"), []byte("{{ if }}\n"), 0o644)
		},
		"value the schema refuses": func(dir string) error {
			return replaceIn(filepath.Join(dir, "values.yaml"), "  replicas: 1\n  image: \"todo-backend:latest\"", "  replicas: -1\n  image: \"todo-backend:latest\"")
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "todo-app")
			require.NoError(t, os.CopyFS(dir, os.DirFS(src)))
			require.NoError(t, breakIt(dir))
			findings, err := lintFindings(dir, kubeversion.Default.Version)
			require.NoError(t, err)
			require.NotEmpty(t, findings, "helm lint must report the broken chart")
			t.Log(findings)
		})
	}
}

func replaceIn(path, old, new string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(raw)
	if !strings.Contains(s, old) {
		return os.ErrNotExist
	}
	return os.WriteFile(path, []byte(strings.Replace(s, old, new, 1)), 0o644)
}
