package staticcheck

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/spec"
)

// TestStaticConformance is the static tier: every catalogue check on every
// set of the manifests under test ($MANIFESTS_DIR, default manifests/).
// Subtests are named <ID>/<set>, so `go test -run 'TestStaticConformance/BD-7'`
// runs one check and a failure names its ID.
func TestStaticConformance(t *testing.T) {
	dir, err := manifests.ResolveDir()
	require.NoError(t, err)
	sets, err := manifests.Discover(dir)
	require.NoError(t, err, "loading the manifests under test")
	for _, d := range spec.Seed.Decisions {
		t.Logf("seed decision: %s", d)
	}
	for _, line := range SetSummary(sets) {
		t.Log(line)
	}
	for _, chk := range Catalogue {
		t.Run(chk.ID, func(t *testing.T) {
			for _, s := range sets {
				t.Run(subtestName(s), func(t *testing.T) {
					findings, skipped := Evaluate(chk, s.Set, s.Profile)
					if skipped != "" {
						t.Skipf("SKIP %s: %s", chk.ID, skipped)
					}
					if len(findings) == 0 {
						return
					}
					var lines []string
					for _, f := range findings {
						lines = append(lines, f.String())
					}
					t.Errorf("%s (%s) failed on set %s:\n  %s", chk.ID, chk.Title, s.Path, strings.Join(lines, "\n  "))
				})
			}
		})
	}
}

// subtestName names a set's subtest by the set (base, persistent-uploads,
// helm/todo-app, ...) rather than its profile, which several sets share; a
// slash would read as a subtest level in -run patterns.
func subtestName(s manifests.Profiled) string {
	return strings.NewReplacer("/", "_", " ", "_").Replace(s.Name)
}
