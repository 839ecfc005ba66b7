package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// capture runs fn with stdout redirected and returns the JSON lines it printed.
func capture(t *testing.T, fn func() bool) (bool, []map[string]any) {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	old := os.Stdout
	os.Stdout = w
	ok := fn()
	os.Stdout = old
	require.NoError(t, w.Close())
	raw, err := io.ReadAll(r)
	require.NoError(t, err)
	var out []map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	for dec.More() {
		var m map[string]any
		require.NoError(t, dec.Decode(&m))
		out = append(out, m)
	}
	return ok, out
}

func TestGetReportsStatusAndPod(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Stub-Pod", "backend-1")
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
		}
	}))
	defer ts.Close()
	ok, lines := capture(t, func() bool { return get(context.Background(), []string{ts.URL}) })
	assert.True(t, ok)
	assert.Equal(t, "backend-1", lines[0]["pod"])
	assert.Equal(t, float64(200), lines[0]["status"])

	ok, _ = capture(t, func() bool { return get(context.Background(), []string{"-method", "POST", "-expect", "201", ts.URL}) })
	assert.True(t, ok)
	ok, lines = capture(t, func() bool { return get(context.Background(), []string{"-expect", "204", ts.URL}) })
	assert.False(t, ok, "an unexpected status is a failure")
	assert.Equal(t, false, lines[0]["ok"])
}

func TestResolveAndLoad(t *testing.T) {
	ok, lines := capture(t, func() bool { return resolve(context.Background(), []string{"localhost"}) })
	assert.True(t, ok)
	assert.NotEmpty(t, lines[0]["addrs"])
	ok, _ = capture(t, func() bool { return resolve(context.Background(), []string{"no-such-host.invalid"}) })
	assert.False(t, ok)

	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-Stub-Pod", "p") }))
	defer ts.Close()
	ok, lines = capture(t, func() bool { return load(context.Background(), []string{"-count", "5", "-interval", "1ms", ts.URL}) })
	assert.True(t, ok)
	assert.Equal(t, float64(5), lines[0]["sent"])
	assert.Equal(t, float64(0), lines[0]["failed"])
}

// Commands joined by "then" run in order, each whatever the one before
// answered; the run fails if any failed.
func TestCommandsRunInSequence(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-Stub-Pod", "backend-1") }))
	defer ts.Close()
	cmds, err := commands([]string{"resolve", "localhost", "no-such-host.invalid", "then", "get", "-expect", "200", ts.URL})
	require.NoError(t, err)
	require.Len(t, cmds, 2)
	assert.Equal(t, []string{"get", "-expect", "200", ts.URL}, cmds[1])

	ok, lines := capture(t, func() bool {
		ok := true
		for _, c := range cmds {
			ok = runCommand(context.Background(), c) && ok
		}
		return ok
	})
	assert.False(t, ok, "a failed lookup fails the run")
	require.Len(t, lines, 3, "the get ran after the failed lookup")
	assert.Equal(t, "resolve", lines[0]["op"])
	assert.Equal(t, false, lines[1]["ok"])
	assert.Equal(t, "get", lines[2]["op"])
	assert.Equal(t, "backend-1", lines[2]["pod"])

	one, err := commands([]string{"get", ts.URL})
	require.NoError(t, err)
	assert.Equal(t, [][]string{{"get", ts.URL}}, one)
}

// A chain with an empty command is refused, never run in part.
func TestCommandsRefusesEmptyOnes(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"then", "get", "http://x"},
		{"get", "http://x", "then"},
		{"resolve", "a", "then", "then", "get", "http://x"},
	} {
		_, err := commands(args)
		assert.Error(t, err, "%q", args)
	}
}
