package live

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/internal/report"
)

// A selection that selects nothing leaves a report that says so: every
// planned check NOT RUN, none PASS; an earlier report is replaced.
func TestWriteNotRunReport(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("ARTIFACTS", dir)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "report.json"), []byte(`{"checks":[{"id":"L-DNS","verdict":"PASS"}]}`), 0o644))
	checks := []PlannedCheck{
		{Test: "TestTodoApp", Feature: "L-DNS x", Labels: map[string][]string{"id": {"L-DNS"}}, Steps: []string{"a"}},
		{Test: "TestStorageCopy", Feature: "L-PVC y", Labels: map[string][]string{"id": {"L-PVC"}}, Steps: []string{"b", "c"}},
	}
	got, err := WriteNotRunReport(checks, "--assess nosuch matches no assessment")
	require.NoError(t, err)
	assert.Equal(t, dir, got)
	raw, err := os.ReadFile(filepath.Join(dir, "report.json"))
	require.NoError(t, err)
	var r struct{ Checks []report.Check }
	require.NoError(t, json.Unmarshal(raw, &r))
	require.Len(t, r.Checks, 2)
	for _, c := range r.Checks {
		assert.Equal(t, report.NotRun, c.Verdict, c.ID)
		assert.Contains(t, c.Measurements[0], "--assess nosuch")
	}
	assert.FileExists(t, filepath.Join(dir, report.JUnitFile))
	assert.FileExists(t, filepath.Join(dir, "report.html"))
}
