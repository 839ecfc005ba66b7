package manifests

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

// loadText loads one file holding text.
func loadText(t *testing.T, name, text string) (*Set, error) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600))
	return loadBounded(t, dir)
}

func configMapData(t *testing.T, s *Set, name string) map[string]string {
	t.Helper()
	o, ok := s.Find("ConfigMap", "*", name)
	require.True(t, ok, "ConfigMap %s", name)
	return o.Object.(*corev1.ConfigMap).Data
}

// YAML as kubectl's reader accepts it: a key beside a merge key overrides
// the merged one (not a duplicate), and content starting with '{' that is
// not JSON is flow-style YAML.
func TestYAMLFormsKubectlAccepts(t *testing.T) {
	t.Run("merge key with override", func(t *testing.T) {
		s, err := loadText(t, "cm.yaml", `apiVersion: v1
kind: ConfigMap
metadata:
  name: merged
  namespace: todo-app
  labels: &labels
    app: todo-chatbot
    tier: x
data:
  <<: *labels
  tier: overridden
  LOG_LEVEL: INFO
`)
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"app": "todo-chatbot", "tier": "overridden", "LOG_LEVEL": "INFO"}, configMapData(t, s, "merged"))
	})
	t.Run("flow-style YAML starting with a brace", func(t *testing.T) {
		s, err := loadText(t, "cm.yaml", `{apiVersion: v1, kind: ConfigMap, metadata: {name: flow, namespace: todo-app}, data: {LOG_LEVEL: INFO}}
---
{apiVersion: v1, kind: ConfigMap, metadata: {name: flow2, namespace: todo-app}}
`)
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"LOG_LEVEL": "INFO"}, configMapData(t, s, "flow"))
		assert.Len(t, s.Objects, 2)
	})
	t.Run("one JSON object then YAML", func(t *testing.T) {
		// kubectl switches to YAML after at most one JSON value.
		s, err := loadText(t, "cm.yaml", `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "todo-app"}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: b, namespace: todo-app}
`)
		require.NoError(t, err)
		assert.Len(t, s.Objects, 2)
	})
}

func TestYAMLFormsRefused(t *testing.T) {
	cases := []struct{ name, file, text, want string }{
		{"duplicate key beside a merge key", "cm.yaml", `apiVersion: v1
kind: ConfigMap
metadata:
  name: dup
  namespace: todo-app
  labels: &labels
    app: todo-chatbot
data:
  <<: *labels
  LOG_LEVEL: INFO
  LOG_LEVEL: DEBUG
`, `cm.yaml:11: v1 ConfigMap todo-app/dup: duplicate field "data.LOG_LEVEL" (kubectl would keep the last value silently; refused here so a typo cannot hide)`},
		{"flow YAML with a duplicate key", "cm.yaml", `{apiVersion: v1, kind: ConfigMap, metadata: {name: f, namespace: todo-app}, data: {A: "1", A: "2"}}
`, `cm.yaml:1: v1 ConfigMap todo-app/f: duplicate field "data.A" (kubectl would keep the last value silently; refused here so a typo cannot hide)`},
		{"keys equal to kubectl's YAML 1.1 reader (y is true)", "cm.yaml", `apiVersion: v1
kind: ConfigMap
metadata: {name: bools, namespace: todo-app}
data:
  y: "1"
  true: "2"
`, `cm.yaml:6: v1 ConfigMap todo-app/bools: duplicate field "data.true" (kubectl would keep the last value silently; refused here so a typo cannot hide)`},
		{"neither JSON nor YAML", "cm.yaml", `{apiVersion: v1, kind: [}
`, `cm.yaml:1: malformed JSON: invalid character 'a' looking for beginning of object key string; read as YAML (kubectl's fallback): manifests: `},
		{"two JSON objects then garbage stay JSON", "cm.json", `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}
{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}}
{kind: x}
`, `cm.json:3: malformed JSON: invalid character 'k' looking for beginning of object key string`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadText(t, tc.file, tc.text)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
