package main

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/internal/spec"
	"github.com/puretasks/k8s-conformance/stubs/stubserver"
)

func server(t *testing.T, dir string) *httptest.Server {
	s := stubserver.New("backend", stubserver.Knobs{}, log.New(io.Discard, "", 0))
	setup(dir)(s, log.New(io.Discard, "", 0))
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func TestEnvReportNamesSecretKeysOnly(t *testing.T) {
	env := map[string]string{"LOG_LEVEL": "INFO", "DATABASE_URL": "postgresql://fake", "JWT_SECRET": "fake-jwt", "UNRELATED": "x"}
	r := envReport("pod-1", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	assert.Equal(t, map[string]string{"LOG_LEVEL": "INFO"}, r.ConfigMap)
	assert.Equal(t, []string{"DATABASE_URL", "JWT_SECRET"}, r.SecretKeys)
	raw, err := json.Marshal(r)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "postgresql://fake", "a Secret value never leaves the pod")
	assert.NotContains(t, string(raw), "fake-jwt")
}

func TestEnvEndpoint(t *testing.T) {
	for k, v := range spec.Seed.ConfigMap.Data {
		t.Setenv(k, v)
	}
	t.Setenv("OPENAI_API_KEY", "fake-openai")
	resp, err := http.Get(server(t, t.TempDir()).URL + "/api/env")
	require.NoError(t, err)
	defer resp.Body.Close()
	var r EnvReport
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
	assert.Equal(t, spec.Seed.ConfigMap.Data, r.ConfigMap)
	assert.Equal(t, []string{"OPENAI_API_KEY"}, r.SecretKeys)
}

func TestUploadsRoundTrip(t *testing.T) {
	ts := server(t, t.TempDir())
	req, err := http.NewRequest(http.MethodPut, ts.URL+"/api/uploads/proof.txt", strings.NewReader("survives?"))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusCreated, resp.StatusCode)

	resp, err = http.Get(ts.URL + "/api/uploads/proof.txt")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "survives?", string(body))

	resp, err = http.Get(ts.URL + "/api/uploads/missing.txt")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	resp, err = http.Get(ts.URL + "/api/uploads/..%2Fetc")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "no path tricks")
}

func TestUploadToUnwritableDirFails(t *testing.T) {
	ts := server(t, "/nonexistent-uploads-dir")
	req, _ := http.NewRequest(http.MethodPut, ts.URL+"/api/uploads/a", strings.NewReader("x"))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
}
