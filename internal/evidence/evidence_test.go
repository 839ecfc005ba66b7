package evidence

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestRedactSecretKeepsKeysDropsValues(t *testing.T) {
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "s", Annotations: map[string]string{corev1.LastAppliedConfigAnnotation: `{"data":{"K":"c2VjcmV0"}}`}},
		Data:       map[string][]byte{"K": []byte("secret-value")},
		StringData: map[string]string{"S": "other-secret"},
	}
	r := RedactSecret(s)
	assert.Equal(t, []byte(Redacted), r.Data["K"])
	assert.Equal(t, Redacted, r.StringData["S"])
	assert.NotContains(t, r.Annotations, corev1.LastAppliedConfigAnnotation)
	assert.Equal(t, []byte("secret-value"), s.Data["K"], "the original is untouched")
}

// The unit test uses client-go's fake clientset to prove no value reaches
// disk; the live tier runs the same code against the real cluster.
func TestCollectNeverWritesSecretValues(t *testing.T) {
	cs := fake.NewClientset(
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "todo-app-secrets", Namespace: "todo-app"}, Data: map[string][]byte{"DATABASE_URL": []byte("postgresql://fake-user:fake-pass@db.invalid/x")}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "todo-app"}, Data: map[string]string{"LOG_LEVEL": "INFO"}},
	)
	dir := t.TempDir()
	_ = Collect(context.Background(), cs, dir, "todo-app")
	found := false
	require.NoError(t, filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		raw, err := os.ReadFile(p)
		require.NoError(t, err)
		assert.NotContains(t, string(raw), "fake-pass", p)
		assert.NotContains(t, string(raw), base64.StdEncoding.EncodeToString([]byte("postgresql://fake-user:fake-pass@db.invalid/x")), p)
		if strings.HasSuffix(p, "secrets-redacted.yaml") {
			found = true
			assert.Contains(t, string(raw), "DATABASE_URL")
		}
		return nil
	}))
	assert.True(t, found)
	assert.FileExists(t, filepath.Join(dir, "todo-app", "configmaps.yaml"))
}
