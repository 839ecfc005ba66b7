package manifests

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/puretasks/k8s-conformance/internal/kubeversion"
)

// writeChart writes a chart's files (path -> content) under a new directory.
func writeChart(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return dir
}

const demoChartYAML = "apiVersion: v2\nname: demo\nversion: 0.1.0\n"

// demoConfigMap renders every value the precedence tests look at, and the
// release's name and namespace.
const demoConfigMap = `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
  namespace: {{ .Release.Namespace }}
data:
  release: {{ .Release.Name | quote }}
  namespace: {{ .Release.Namespace | quote }}
  chartOnly: {{ .Values.chartOnly | quote }}
  fromA: {{ .Values.fromA | quote }}
  fromB: {{ .Values.fromB | quote }}
  fromSet: {{ .Values.fromSet | quote }}
  nested: {{ .Values.nested.kept | quote }}
`

func demoChart(t *testing.T, extra map[string]string) string {
	files := map[string]string{
		"Chart.yaml":               demoChartYAML,
		"values.yaml":              "chartOnly: chart\nfromA: chart\nfromB: chart\nfromSet: chart\nnested:\n  kept: chart\n  other: chart\n",
		"templates/configmap.yaml": demoConfigMap,
	}
	for k, v := range extra {
		files[k] = v
	}
	return writeChart(t, files)
}

// renderedConfigMap renders dir and decodes its one ConfigMap.
func renderedConfigMap(t *testing.T, dir string, s HelmSettings) *corev1.ConfigMap {
	t.Helper()
	docs, _, err := renderDocs(dir, s)
	require.NoError(t, err)
	var cms []*corev1.ConfigMap
	for _, d := range docs {
		obj, _, err := strictDecoder.Decode(d.YAML, nil, nil)
		require.NoError(t, err, d.Source)
		if cm, ok := obj.(*corev1.ConfigMap); ok {
			cms = append(cms, cm)
		}
	}
	require.Len(t, cms, 1)
	return cms[0]
}

func TestHelmValuesPrecedence(t *testing.T) {
	dir := demoChart(t, nil)
	a := filepath.Join(t.TempDir(), "a.yaml")
	b := filepath.Join(t.TempDir(), "b.yaml")
	require.NoError(t, os.WriteFile(a, []byte("fromA: a\nfromB: a\nfromSet: a\nnested:\n  kept: a\n"), 0o644))
	require.NoError(t, os.WriteFile(b, []byte("fromB: b\nfromSet: b\n"), 0o644))

	cm := renderedConfigMap(t, dir, HelmSettings{
		ValuesFiles: []string{a, b},
		Set:         []string{"fromSet=first", "fromSet=set"},
	})
	// chart values < -f a.yaml < -f b.yaml < --set (later --set wins), and
	// maps merge key by key rather than replace.
	assert.Equal(t, map[string]string{
		"release":   DefaultRelease,
		"namespace": DefaultNamespace,
		"chartOnly": "chart",
		"fromA":     "a",
		"fromB":     "b",
		"fromSet":   "set",
		"nested":    "a",
	}, cm.Data)
}

func TestHelmReleaseAndNamespaceHonoured(t *testing.T) {
	cm := renderedConfigMap(t, demoChart(t, nil), HelmSettings{Release: "staging", Namespace: "team-a"})
	assert.Equal(t, "staging-config", cm.Name)
	assert.Equal(t, "team-a", cm.Namespace)
	assert.Equal(t, "staging", cm.Data["release"])
	assert.Equal(t, "team-a", cm.Data["namespace"])
}

func TestHelmHooksAreListedNotRendered(t *testing.T) {
	dir := demoChart(t, map[string]string{
		"templates/migrate-job.yaml": `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: busybox
`,
		"templates/tests/test-connection.yaml": `apiVersion: v1
kind: Pod
metadata:
  name: test-connection
  annotations:
    "helm.sh/hook": test
spec:
  containers:
  - name: wget
    image: busybox
`,
		"templates/NOTES.txt": "Installed {{ .Release.Name }}.\n",
	})
	docs, hooks, err := renderDocs(dir, HelmSettings{})
	require.NoError(t, err)
	require.Len(t, docs, 1, "only the ConfigMap is under test")
	assert.Equal(t, "demo/templates/configmap.yaml", docs[0].Source)
	assert.ElementsMatch(t, []string{
		"demo/templates/migrate-job.yaml (pre-install, pre-upgrade)",
		"demo/templates/tests/test-connection.yaml (test)",
	}, hooks)
	for _, d := range docs {
		assert.NotContains(t, string(d.YAML), "helm.sh/hook")
	}
}

func TestHelmVendoredDependencyAndCRDsRender(t *testing.T) {
	dir := writeChart(t, map[string]string{
		"Chart.yaml":                          demoChartYAML + "dependencies:\n- name: sub\n  version: 1.0.0\n  repository: https://charts.example.invalid\n",
		"charts/sub/Chart.yaml":               "apiVersion: v2\nname: sub\nversion: 1.0.0\n",
		"charts/sub/templates/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-sub\ndata:\n  greeting: {{ .Values.greeting | quote }}\n",
		"charts/sub/values.yaml":              "greeting: sub-default\n",
		"values.yaml":                         "sub:\n  greeting: from-parent\n",
		"crds/widgets.yaml":                   "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: gadgets.example.com\n",
	})
	docs, _, err := renderDocs(dir, HelmSettings{})
	require.NoError(t, err)
	var sources []string
	for _, d := range docs {
		sources = append(sources, d.Source)
	}
	assert.Equal(t, []string{"demo/crds/widgets.yaml", "demo/crds/widgets.yaml", "demo/charts/sub/templates/configmap.yaml"}, sources)
	assert.Contains(t, string(docs[0].YAML), "widgets.example.com")
	assert.Contains(t, string(docs[1].YAML), "gadgets.example.com")
	assert.Contains(t, string(docs[2].YAML), "from-parent", "parent values reach the vendored subchart")
}

func TestHelmRenderErrors(t *testing.T) {
	badYAML := filepath.Join(t.TempDir(), "broken-values.yaml")
	require.NoError(t, os.WriteFile(badYAML, []byte("a: [unclosed\n"), 0o644))
	listYAML := filepath.Join(t.TempDir(), "list-values.yaml")
	require.NoError(t, os.WriteFile(listYAML, []byte("- a\n- b\n"), 0o644))
	fifo := filepath.Join(t.TempDir(), "fifo-values.yaml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))

	cases := []struct {
		name  string
		files map[string]string // chart files; nil: the demo chart
		s     HelmSettings
		want  []string // substrings of the error, all required
		never string   // a substring the error must not contain
	}{
		{
			name: "missing dependency",
			files: map[string]string{
				"Chart.yaml":  demoChartYAML + "dependencies:\n- name: postgresql\n  version: 12.0.0\n  repository: https://charts.example.invalid\n- name: redis\n  version: 1.0.0\n  repository: oci://registry.example.invalid/charts\n",
				"values.yaml": "",
			},
			want: []string{"missing from charts/: postgresql, redis", "never downloaded", "vendor them into"},
		},
		{
			name: "values file that is not YAML",
			s:    HelmSettings{ValuesFiles: []string{badYAML}},
			want: []string{"broken-values.yaml", "is not a YAML map"},
		},
		{
			name: "values file that is a list",
			s:    HelmSettings{ValuesFiles: []string{listYAML}},
			want: []string{"list-values.yaml", "is not a YAML map"},
		},
		{
			name: "values file that does not exist",
			s:    HelmSettings{ValuesFiles: []string{"/nonexistent/values.yaml"}},
			want: []string{"/nonexistent/values.yaml", "no such file"},
		},
		{
			name: "values file that is a FIFO",
			s:    HelmSettings{ValuesFiles: []string{fifo}},
			want: []string{"fifo-values.yaml", "not a regular file"},
		},
		{
			name: "values file by URL",
			s:    HelmSettings{ValuesFiles: []string{"https://example.invalid/values.yaml"}},
			want: []string{"is a URL", "nothing is downloaded"},
		},
		{
			name:  "malformed --set",
			s:     HelmSettings{Set: []string{"secret.token=fake-token-value,dangling"}},
			want:  []string{EnvSet, `key "dangling" has no value`},
			never: "fake-token-value",
		},
		{
			name: "template error names the template",
			files: map[string]string{
				"Chart.yaml":         demoChartYAML,
				"templates/bad.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.missing.name }}\n",
			},
			want: []string{"demo/templates/bad.yaml:4", "nil pointer"},
		},
		{
			name: "required value names the template",
			files: map[string]string{
				"Chart.yaml":         demoChartYAML,
				"templates/req.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ required \"image.tag is required\" .Values.image }}\n",
			},
			want: []string{"demo/templates/req.yaml", "image.tag is required"},
		},
		{
			name: "rendered YAML that does not parse names the template",
			files: map[string]string{
				"Chart.yaml":            demoChartYAML,
				"templates/broken.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n   bad: indent\n",
			},
			want: []string{"YAML parse error on demo/templates/broken.yaml"},
		},
		{
			name: "library chart",
			files: map[string]string{
				"Chart.yaml": demoChartYAML + "type: library\n",
			},
			want: []string{"library charts are not installable"},
		},
		{
			name: "kubeVersion constraint",
			files: map[string]string{
				"Chart.yaml": demoChartYAML + "kubeVersion: \"<1.19.0\"\n",
			},
			want: []string{"requires kubeVersion <1.19.0", "K8S_VERSION"},
		},
		{
			name: "values schema",
			files: map[string]string{
				"Chart.yaml":         demoChartYAML,
				"values.yaml":        "replicas: 1\n",
				"values.schema.json": `{"type": "object", "properties": {"replicas": {"type": "integer"}}}`,
			},
			s:    HelmSettings{Set: []string{"replicas=many"}},
			want: []string{"replicas", "integer"},
		},
		{
			// The validator quotes a value that misses a pattern; a value
			// given with --set or -f may be a credential.
			name: "values schema pattern never quotes the value",
			files: map[string]string{
				"Chart.yaml":         demoChartYAML,
				"values.yaml":        "healthPath: /api/health\n",
				"values.schema.json": `{"type": "object", "properties": {"healthPath": {"type": "string", "pattern": "^/"}}}`,
			},
			s:     HelmSettings{Set: []string{"healthPath=" + fakeToken}},
			want:  []string{"at '/healthPath': the value (not shown) does not match pattern '^/'"},
			never: fakeToken,
		},
		{
			name: "remote schema reference",
			files: map[string]string{
				"Chart.yaml":         demoChartYAML,
				"values.schema.json": `{"$schema": "http://json-schema.org/draft-07/schema#", "properties": {"image": {"$ref": "https://schemas.example.invalid/image.json"}}}`,
			},
			want: []string{"values.schema.json refers to https://schemas.example.invalid/image.json", "never fetched"},
		},
		{
			name: "relative schema reference in a vendored dependency",
			files: map[string]string{
				"Chart.yaml":                    demoChartYAML + "dependencies:\n- name: sub\n  version: 1.0.0\n",
				"charts/sub/Chart.yaml":         "apiVersion: v2\nname: sub\nversion: 1.0.0\n",
				"charts/sub/values.schema.json": `{"allOf": [{"$ref": "common.json#/defs/x"}]}`,
			},
			want: []string{"demo/charts/sub/values.schema.json refers to common.json#/defs/x"},
		},
		{
			name: "unknown meta-schema",
			files: map[string]string{
				"Chart.yaml":         demoChartYAML,
				"values.schema.json": `{"$schema": "https://example.invalid/meta"}`,
			},
			want: []string{"refers to https://example.invalid/meta"},
		},
		{
			name:  "no Chart.yaml",
			files: map[string]string{"templates/x.yaml": "kind: ConfigMap\n"},
			want:  []string{"Chart.yaml file is missing"},
		},
		{
			name: "bad release name",
			s:    HelmSettings{Release: "Not_Valid"},
			want: []string{EnvRelease, "Not_Valid", "invalid release name"},
		},
		{
			name: "bad namespace",
			s:    HelmSettings{Namespace: "Team A"},
			want: []string{EnvNamespace, "Team A", "not a valid namespace name"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var dir string
			if tc.files == nil {
				dir = demoChart(t, nil)
			} else {
				dir = writeChart(t, tc.files)
			}
			docs, _, err := renderDocs(dir, tc.s)
			require.Error(t, err, "rendered %d documents", len(docs))
			t.Log(err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			if tc.never != "" {
				assert.NotContains(t, err.Error(), tc.never)
			}
		})
	}
}

func TestHelmRendersForTheTargetVersion(t *testing.T) {
	// The render's .Capabilities.KubeVersion is the one target version of
	// every tier (internal/kubeversion), never the SDK's bare v1.20.0, which
	// would refuse charts with a modern kubeVersion constraint.
	dir := demoChart(t, map[string]string{
		"Chart.yaml":          demoChartYAML + "kubeVersion: \">=1.30.0-0\"\n",
		"templates/kube.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kube\ndata:\n  version: {{ .Capabilities.KubeVersion.Version | quote }}\n",
	})
	docs, _, err := renderDocs(dir, HelmSettings{})
	require.NoError(t, err)
	assert.Contains(t, renderedText(docs), "version: \""+kubeversion.Default.Version+"\"")

	t.Setenv(kubeversion.Env, "1.37")
	s, err := HelmSettingsFromEnv()
	require.NoError(t, err)
	docs, _, err = renderDocs(dir, s)
	require.NoError(t, err)
	assert.Contains(t, renderedText(docs), "version: \"v1.37.2\"", "K8S_VERSION moves the render with the other tiers")

	_, _, err = renderDocs(dir, HelmSettings{KubeVersion: "v1.29.4"})
	require.ErrorContains(t, err, "incompatible with Kubernetes v1.29.4")
}

func renderedText(docs []RenderedDoc) string {
	var b strings.Builder
	for _, d := range docs {
		b.Write(d.YAML)
	}
	return b.String()
}

func TestHelmSettingsFromEnv(t *testing.T) {
	root, err := ModuleRoot()
	require.NoError(t, err)

	t.Run("defaults", func(t *testing.T) {
		for _, v := range []string{EnvRelease, EnvNamespace, EnvValues, EnvSet, kubeversion.Env} {
			t.Setenv(v, "")
		}
		s, err := HelmSettingsFromEnv()
		require.NoError(t, err)
		assert.Equal(t, HelmSettings{Release: "todo-app", Namespace: "todo-app", KubeVersion: kubeversion.Default.Version}, s)
	})
	t.Run("every variable", func(t *testing.T) {
		t.Setenv(EnvRelease, "staging")
		t.Setenv(EnvNamespace, "team-a")
		t.Setenv(EnvValues, "fixtures/a.yaml, /abs/b.yaml")
		t.Setenv(EnvSet, `backend.replicas=2,config.CORS_ORIGINS=http://a\,http://b`)
		t.Setenv(kubeversion.Env, "1.35")
		s, err := HelmSettingsFromEnv()
		require.NoError(t, err)
		assert.Equal(t, HelmSettings{
			Release:     "staging",
			Namespace:   "team-a",
			ValuesFiles: []string{filepath.Join(root, "fixtures", "a.yaml"), "/abs/b.yaml"},
			Set:         []string{`backend.replicas=2,config.CORS_ORIGINS=http://a\,http://b`},
			KubeVersion: "v1.35.4",
		}, s)
	})
	t.Run("--set with escapes reaches the chart", func(t *testing.T) {
		t.Setenv(EnvSet, `fromSet=http://a\,http://b,nested.kept=2`)
		s, err := HelmSettingsFromEnv()
		require.NoError(t, err)
		cm := renderedConfigMap(t, demoChart(t, nil), s)
		assert.Equal(t, "http://a,http://b", cm.Data["fromSet"])
		assert.Equal(t, "2", cm.Data["nested"])
	})

	bad := []struct {
		name, env, value string
		want             []string
		never            string
	}{
		{"empty values entry", EnvValues, "a.yaml,,b.yaml", []string{EnvValues, "entry 2 is empty"}, ""},
		{"values from stdin", EnvValues, "-", []string{EnvValues, "stdin"}, ""},
		{"values by URL", EnvValues, "oci://example.invalid/v.yaml", []string{EnvValues, "is a URL"}, ""},
		{"malformed set", EnvSet, "jwt=fake-jwt-value,oops", []string{EnvSet, `key "oops" has no value`}, "fake-jwt-value"},
		{"bad list index", EnvSet, "a[x]=1", []string{EnvSet}, ""},
		{"bad release", EnvRelease, "UPPER", []string{EnvRelease, "UPPER"}, ""},
		{"bad namespace", EnvNamespace, "under_score", []string{EnvNamespace, "under_score"}, ""},
		{"bad kube version", kubeversion.Env, "one.two", []string{kubeversion.Env, "one.two", kubeversion.Default.Version}, ""},
		{"unsupported kube version", kubeversion.Env, "1.20", []string{kubeversion.Env, "not a supported"}, ""},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tc.env, tc.value)
			_, err := HelmSettingsFromEnv()
			require.Error(t, err)
			t.Log(err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			if tc.never != "" {
				assert.False(t, strings.Contains(err.Error(), tc.never), "the error echoes a --set value: %v", err)
			}
		})
	}
}

// renderDocs renders a chart and returns its release documents and its
// hooks as "template (phases)".
func renderDocs(dir string, s HelmSettings) ([]RenderedDoc, []string, error) {
	r, err := renderChart(dir, s)
	if err != nil {
		return nil, nil, err
	}
	var hooks []string
	for _, h := range r.Hooks {
		hooks = append(hooks, h.Source+" ("+strings.Join(h.Events, ", ")+")")
	}
	return r.Docs, hooks, nil
}
