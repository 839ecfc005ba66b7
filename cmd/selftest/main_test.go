package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/selftest"
)

func repoMutants(t *testing.T) []selftest.Mutant {
	root, err := manifests.ModuleRoot()
	require.NoError(t, err)
	ms, err := selftest.LoadMutants(filepath.Join(root, selftest.MutantsDir))
	require.NoError(t, err)
	return ms
}

func TestFilter(t *testing.T) {
	ms := repoMutants(t)
	got, err := filter(ms, "backend-guaranteed-qos, apply-invalid-port-name")
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, "backend-guaranteed-qos", got[0].Name)
	_, err = filter(ms, "nope")
	require.ErrorContains(t, err, `no mutant "nope"`)
}

func TestStaticRowsAndMerge(t *testing.T) {
	ms, err := filter(repoMutants(t), "backend-service-selects-nothing")
	require.NoError(t, err)
	rows, err := staticRows(ms)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	for _, c := range rows[0].Cells {
		assert.Equal(t, selftest.Caught, c.Observed, "%s: %s", c.ID, c.Detail)
	}
	live := []selftest.MutantResult{{Name: ms[0].Name, Live: true, Cells: []selftest.Cell{{Tier: selftest.Live, ID: "L-DNS", Expected: true, Observed: selftest.Caught}}}}
	n := len(rows[0].Cells)
	merged := merge(rows, live)
	assert.True(t, merged[0].Live)
	assert.Len(t, merged[0].Cells, n+1)
}

// TestStaticModeIsGreenOnTheRepository runs `selftest -static` end to end.
func TestStaticModeIsGreenOnTheRepository(t *testing.T) {
	t.Setenv("ARTIFACTS", t.TempDir())
	code, err := run(context.Background(), options{static: true})
	require.NoError(t, err)
	assert.Equal(t, 0, code)
}

func TestDryRunCreatesNothing(t *testing.T) {
	t.Setenv("ARTIFACTS", t.TempDir())
	t.Setenv("E2E_KUBECONFIG", "")
	code, err := run(context.Background(), options{dryRun: true})
	require.NoError(t, err)
	assert.Equal(t, 0, code)
}
