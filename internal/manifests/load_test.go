package manifests

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

func write(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return dir
}

const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: todo-app\ndata:\n  K: v\n"
const ns = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: todo-app\n"

func TestLoadAcceptsLayouts(t *testing.T) {
	cases := map[string]map[string]string{
		"one file, two documents": {"all.yaml": "---\n# comment\n" + ns + "---\n" + cm + "---\n"},
		"nested folders":          {"a/ns.yml": ns, "b/c/cm.yaml": cm, "README.md": "not yaml"},
		"json":                    {"ns.json": `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"todo-app"}}`, "cm.yaml": cm},
		"keys in any order":       {"x.yaml": "metadata:\n  name: todo-app\nkind: Namespace\napiVersion: v1\n", "cm.yaml": cm},
	}
	for name, files := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := Load(write(t, t.TempDir(), files))
			require.NoError(t, err)
			assert.Len(t, s.Objects, 2)
			_, ok := s.Find("ConfigMap", "todo-app", "a")
			assert.True(t, ok)
		})
	}
}

func TestLoadSingleFile(t *testing.T) {
	dir := write(t, t.TempDir(), map[string]string{"all.yaml": ns + "---\n" + cm})
	s, err := Load(filepath.Join(dir, "all.yaml"))
	require.NoError(t, err)
	assert.Len(t, s.Objects, 2)
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"no yaml", map[string]string{"notes.txt": "x"}, []string{"holds no Kubernetes objects"}},
		{"malformed", map[string]string{"bad.yaml": ns + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n"}, []string{"bad.yaml:9: malformed YAML: did not find expected"}},
		{"unknown kind", map[string]string{"i.yaml": "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: x\n"}, []string{"i.yaml:1", "unsupported kind networking.k8s.io/v1 Ingress"}},
		{"not an object", map[string]string{"x.yaml": "foo: bar\n"}, []string{"x.yaml:1", "apiVersion and kind are required"}},
		{"defined twice", map[string]string{"a.yaml": cm, "b.yaml": cm}, []string{"ConfigMap todo-app/a is defined twice", "a.yaml:1", "b.yaml:1"}},
		{"unknown kustomization field", map[string]string{"kustomization.yaml": "resources: [cm.yaml]\nnamePrefixx: x-\n", "cm.yaml": cm}, []string{"kustomize build", "namePrefixx"}},
		{"kustomization resource missing", map[string]string{"kustomization.yaml": "resources: [gone.yaml]\n"}, []string{"kustomization.yaml: resources entry \"gone.yaml\"", "gone.yaml does not exist"}},
		{"patch target missing", map[string]string{"kustomization.yaml": "resources: [cm.yaml]\npatches:\n- path: p.yaml\n", "cm.yaml": cm, "p.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n"}, []string{"kustomize build", "no resource matches strategic merge patch", "ConfigMap.v1.[noGrp]/other"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(write(t, t.TempDir(), tc.files))
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
	_, err := Load(filepath.Join(t.TempDir(), "missing"))
	assert.ErrorContains(t, err, "does not exist")
}

func TestKustomizationPatchAndBase(t *testing.T) {
	root := write(t, t.TempDir(), map[string]string{
		"base/kustomization.yaml":    "resources:\n- ns.yaml\n- cm.yaml\n",
		"base/ns.yaml":               ns,
		"base/cm.yaml":               cm,
		"overlay/kustomization.yaml": "resources:\n- ../base\npatches:\n- path: patch.yaml\n",
		"overlay/patch.yaml":         "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: todo-app\ndata:\n  K: patched\n  NEW: x\n",
	})
	sets, err := Discover(root)
	require.NoError(t, err)
	require.Len(t, sets, 1, "only base/ and persistent-uploads/ are sets of a laid-out directory")
	s, err := Load(filepath.Join(root, "overlay"))
	require.NoError(t, err)
	o, ok := s.Find("ConfigMap", "todo-app", "a")
	require.True(t, ok)
	assert.Equal(t, filepath.Join(root, "overlay", "../base/cm.yaml")+":1", o.Source, "a rendered object names its origin file")
	assert.Equal(t, map[string]string{"K": "patched", "NEW": "x"}, o.Object.(*corev1.ConfigMap).Data)
	assert.Empty(t, o.GetAnnotations(), "the origin annotation the loader asked for is not left on the object")
}

func TestDiscoverRepositoryLayout(t *testing.T) {
	root, err := ModuleRoot()
	require.NoError(t, err)
	sets, err := Discover(filepath.Join(root, "manifests"))
	require.NoError(t, err)
	want := []struct {
		name    string
		profile Profile
		objects int
	}{
		{"base", Default, 7},
		{"persistent-uploads", Persistent, 9},
		{"helm/todo-app", Default, 7},
		{"helm/todo-app persistence.enabled=true", Persistent, 9},
	}
	require.Len(t, sets, len(want), "base/, persistent-uploads/ and the chart's two renders")
	for i, w := range want {
		assert.Equal(t, w.name, sets[i].Name)
		assert.Equal(t, w.profile, sets[i].Profile, w.name)
		assert.Len(t, sets[i].Objects, w.objects, w.name)
	}
}

func TestDiscoverSingleSetProfile(t *testing.T) {
	pvc := "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: backend-uploads-pvc\n  namespace: todo-app\n"
	sets, err := Discover(write(t, t.TempDir(), map[string]string{"a.yaml": ns + "---\n" + pvc}))
	require.NoError(t, err)
	assert.Equal(t, Persistent, sets[0].Profile)
	sets, err = Discover(write(t, t.TempDir(), map[string]string{"a.yaml": ns}))
	require.NoError(t, err)
	assert.Equal(t, Default, sets[0].Profile)
	_, err = Discover(write(t, t.TempDir(), map[string]string{"persistent-uploads/a.yaml": ns}))
	assert.ErrorContains(t, err, "no base/")
}
