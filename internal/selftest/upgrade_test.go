package selftest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/internal/lanes"
	"github.com/puretasks/k8s-conformance/internal/manifests"
)

func TestUpgradeRepoMakesTheMutantAChange(t *testing.T) {
	root, err := manifests.ModuleRoot()
	require.NoError(t, err)
	m, err := LoadMutant(filepath.Join(root, MutantsDir, "upgrade-backend-port-moves"))
	require.NoError(t, err)
	require.True(t, m.UpgradeFromBase)

	dir, cleanup, err := UpgradeRepo(context.Background(), m, root)
	require.NoError(t, err)
	p, err := lanes.PlanUpgrade(context.Background(), dir, "HEAD")
	require.NoError(t, err)
	var text []string
	for _, c := range p.Changes {
		text = append(text, c.String())
	}
	all := strings.Join(text, "\n")
	assert.Contains(t, all, "Service todo-app/backend-service spec.ports[http].targetPort: 8000 → 8080", "HEAD is the release before, the work tree the mutant")
	assert.True(t, p.Rolls["backend"], "the backend's pod template changes")
	assert.False(t, p.Rolls["frontend"])

	base := filepath.Dir(filepath.Dir(filepath.Dir(dir)))
	require.NoError(t, cleanup())
	_, err = os.Stat(base)
	assert.ErrorIs(t, err, os.ErrNotExist, "cleanup removes the repository")
}

func TestUpgradeIDNeedsUpgradeFromBase(t *testing.T) {
	dir := t.TempDir()
	write := func(d string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, DescriptorName), []byte(d), 0o644))
	}
	write("why: w\nlive: [L-UPGRADE]\nexpect:\n  L-UPGRADE: [x]\n")
	_, err := LoadMutant(dir)
	require.Error(t, err, "L-UPGRADE without a change to judge")
	assert.Contains(t, err.Error(), "upgradeFromBase")

	write("why: w\nlive: [L-DNS]\nupgradeFromBase: true\nexpect:\n  L-DNS: [x]\n")
	_, err = LoadMutant(dir)
	require.Error(t, err, "an upgrade that no check judges")

	write("why: w\nlive: [L-UPGRADE]\nupgradeFromBase: true\nexpect:\n  L-UPGRADE: [x]\n")
	_, err = LoadMutant(dir)
	require.NoError(t, err)
}
