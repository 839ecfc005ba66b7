package main

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/stubs/stubserver"
)

func frontend(t *testing.T, env map[string]string) *httptest.Server {
	s := stubserver.New("frontend", stubserver.Knobs{}, log.New(io.Discard, "", 0))
	setup(func(k string) string { return env[k] })(s, log.New(io.Discard, "", 0))
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

func backendHealth(t *testing.T, url string) (int, BackendHealth) {
	resp, err := http.Get(url + "/api/backend-health")
	require.NoError(t, err)
	defer resp.Body.Close()
	var b BackendHealth
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&b))
	return resp.StatusCode, b
}

func TestBackendHealthThroughAPIURL(t *testing.T) {
	backend := stubserver.New("backend", stubserver.Knobs{}, log.New(io.Discard, "", 0))
	bts := httptest.NewServer(backend.Handler())
	defer bts.Close()
	code, b := backendHealth(t, frontend(t, map[string]string{"NEXT_PUBLIC_API_URL": bts.URL}).URL)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, http.StatusOK, b.Status)
	assert.Equal(t, backend.Pod, b.BackendPod)
	assert.Equal(t, bts.URL+"/api/health", b.URL)
}

func TestBackendHealthReportsFailures(t *testing.T) {
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) }))
	defer failing.Close()
	code, b := backendHealth(t, frontend(t, map[string]string{"NEXT_PUBLIC_API_URL": failing.URL}).URL)
	assert.Equal(t, http.StatusBadGateway, code)
	assert.Equal(t, http.StatusInternalServerError, b.Status)

	code, b = backendHealth(t, frontend(t, nil).URL)
	assert.Equal(t, http.StatusBadGateway, code)
	assert.Contains(t, b.Error, "NEXT_PUBLIC_API_URL is not set")

	code, b = backendHealth(t, frontend(t, map[string]string{"NEXT_PUBLIC_API_URL": "http://127.0.0.1:1"}).URL)
	assert.Equal(t, http.StatusBadGateway, code)
	assert.NotEmpty(t, b.Error)
}

func TestFrontendSeesNoSecretKeys(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want []any
	}{{nil, []any{}}, {map[string]string{"JWT_SECRET": "leak"}, []any{"JWT_SECRET"}}} {
		resp, err := http.Get(frontend(t, tc.env).URL + "/api/env")
		require.NoError(t, err)
		var r map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
		resp.Body.Close()
		assert.Equal(t, tc.want, r["secretKeys"])
	}
}
