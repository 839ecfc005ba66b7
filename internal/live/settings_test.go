package live

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
)

// kubeconfigFile writes a kubeconfig with one context per server, the first
// current.
func kubeconfigFile(t *testing.T, servers ...string) string {
	t.Helper()
	text := "apiVersion: v1\nkind: Config\ncurrent-context: c0\nclusters:\n"
	for i, s := range servers {
		text += fmt.Sprintf("- name: k%d\n  cluster:\n    server: %s\n", i, s)
	}
	text += "contexts:\n"
	for i := range servers {
		text += fmt.Sprintf("- name: c%d\n  context:\n    cluster: k%d\n    user: u\n", i, i)
	}
	text += "users:\n- name: u\n  user: {}\n"
	p := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
	return p
}

// --kubeconfig selects an existing cluster exactly as E2E_KUBECONFIG does:
// the same settings result.
func TestKubeconfigFlagSelectsLikeE2EKubeconfig(t *testing.T) {
	kc := kubeconfigFile(t, "https://127.0.0.1:1")
	t.Setenv("E2E_KUBECONFIG", kc)
	byEnv, err := FromEnv()
	require.NoError(t, err)
	require.NoError(t, byEnv.SelectFromFlags("", ""))

	t.Setenv("E2E_KUBECONFIG", "")
	byFlag, err := FromEnv()
	require.NoError(t, err)
	require.Empty(t, byFlag.ExistingKubeconfig)
	rel, err := filepath.Rel(mustWD(t), kc)
	require.NoError(t, err)
	require.NoError(t, byFlag.SelectFromFlags(rel, ""))
	assert.Equal(t, byEnv, byFlag)

	both := byEnv
	assert.NoError(t, both.SelectFromFlags(kc, ""), "the same file twice is one cluster")
	other := kubeconfigFile(t, "https://127.0.0.1:2")
	assert.ErrorContains(t, both.SelectFromFlags(other, ""), "name different clusters")
}

func mustWD(t *testing.T) string {
	wd, err := os.Getwd()
	require.NoError(t, err)
	return wd
}

// --context picks that context's cluster, of --kubeconfig or of the file
// kubectl would read.
func TestContextFlagSelectsTheContext(t *testing.T) {
	kc := kubeconfigFile(t, "https://10.0.0.1:6443", "https://10.0.0.2:6443")
	st := Settings{}
	require.NoError(t, st.SelectFromFlags(kc, "c1"))
	rc, err := RESTConfig(st.ExistingKubeconfig, st.KubeContext)
	require.NoError(t, err)
	assert.Equal(t, "https://10.0.0.2:6443", rc.Host)
	rc, err = RESTConfig(kc, "")
	require.NoError(t, err)
	assert.Equal(t, "https://10.0.0.1:6443", rc.Host, "no context: the current one")
	_, err = RESTConfig(kc, "nope")
	assert.ErrorContains(t, err, "nope")

	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "missing")+string(os.PathListSeparator)+kc)
	st = Settings{}
	require.NoError(t, st.SelectFromFlags("", "c1"))
	assert.Equal(t, kc, st.ExistingKubeconfig, "the first file of $KUBECONFIG that exists")
	assert.Equal(t, "c1", st.KubeContext)
}

// Through the suite: a run given --kubeconfig (envconf's field) and
// --context goes to the existing-cluster path, talks to that context's API
// server, and never to Docker or kind.
func TestSuiteReadyUsesTheFlagsCluster(t *testing.T) {
	t.Setenv("E2E_KUBECONFIG", "")
	var asked []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Path)
		http.Error(w, "nope", http.StatusForbidden)
	}))
	defer api.Close()
	kc := kubeconfigFile(t, "http://127.0.0.1:1", api.URL)
	s := NewSuite(nil)
	s.Log = &testWriter{t}
	cfg := envconf.New().WithKubeconfigFile(kc).WithKubeContext("c1")
	ctx, err := s.Setup(context.Background(), cfg)
	require.NoError(t, err)
	assert.Equal(t, kc, s.ExistingKubeconfig)
	err = s.Ready(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "listing nodes", "the existing-cluster path, not a kind create")
	assert.Contains(t, asked, "/api/v1/nodes", "asked the --context's API server")
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
