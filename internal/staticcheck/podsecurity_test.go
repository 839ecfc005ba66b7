package staticcheck

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/internal/manifests"
)

// TestPodSecurityRestrictedProfileInformation is SEC-4's information on the
// manifests under test ($MANIFESTS_DIR, default manifests/): where their pods
// fall short of the restricted profile. It logs, it does not fail: the seed
// does not meet restricted, and the catalogue holds it to baseline only.
func TestPodSecurityRestrictedProfileInformation(t *testing.T) {
	dir, err := manifests.ResolveDir()
	require.NoError(t, err)
	sets, err := manifests.Discover(dir)
	require.NoError(t, err, "loading the manifests under test")
	for _, s := range sets {
		notes, err := RestrictedProfileReport(s.Set)
		require.NoError(t, err, "SEC-4 restricted profile report for set %s", s.Name)
		for _, n := range notes {
			t.Logf("set %s: %s", s.Name, n)
		}
	}
}
