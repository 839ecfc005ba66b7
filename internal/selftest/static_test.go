package selftest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/internal/manifests"
)

func loadRepoMutants(t *testing.T) (root string, ms []Mutant) {
	t.Helper()
	root, err := manifests.ModuleRoot()
	require.NoError(t, err)
	ms, err = LoadMutants(filepath.Join(root, MutantsDir))
	require.NoError(t, err)
	return root, ms
}

// TestMutantsStatic is the static half of the self-test: every mutant,
// rendered as MANIFESTS_DIR is, fails every static ID its mutant.yaml names.
// An ID that fails without being named is logged, not fatal: most breaks
// trip more than one rule.
func TestMutantsStatic(t *testing.T) {
	_, ms := loadRepoMutants(t)
	for _, m := range ms {
		t.Run(m.Name, func(t *testing.T) {
			out, err := RunStatic(m)
			require.NoError(t, err)
			for _, id := range out.Missed {
				t.Errorf("mutant %s: static %s expected to fail (%s), but it found nothing; failing IDs: %v", m.Name, id, m.Why, out.Failed)
			}
			for _, id := range m.Static {
				for _, f := range out.Findings[id] {
					t.Logf("caught: %s", f)
				}
			}
			for _, id := range out.Extra {
				t.Logf("also failing (not named in %s): %s: %v", DescriptorName, id, out.Findings[id])
			}
		})
	}
}

// TestMutantsBreakOneThing holds each mutant to one deliberate break: as
// rendered, exactly one object differs from the repository's manifests/
// (an upgrade mutant's release change may span more).
func TestMutantsBreakOneThing(t *testing.T) {
	root, ms := loadRepoMutants(t)
	for _, m := range ms {
		t.Run(m.Name, func(t *testing.T) {
			changes, err := Changes(m, filepath.Join(root, "manifests"))
			require.NoError(t, err)
			if m.UpgradeFromBase {
				// A release's change may span objects (a port moves in
				// the Deployment and its Service at once): one break.
				assert.NotEmpty(t, changes, "mutant %s changes nothing", m.Name)
				return
			}
			assert.Len(t, changes, 1, "mutant %s must change exactly one object of manifests/, changes %v", m.Name, changes)
		})
	}
}

// TestEveryLiveIDHasAMutant is the coverage rule: every live catalogue ID is
// named by at least one mutant, so no live check can go blind unseen.
func TestEveryLiveIDHasAMutant(t *testing.T) {
	_, ms := loadRepoMutants(t)
	assert.Empty(t, Uncovered(ms), "live IDs no mutant names")
	for _, id := range LiveIDs {
		t.Logf("%-12s %v", id, Coverage(ms)[id])
	}
}

// TestLiveIDsMatchTheE2ESources ties LiveIDs to the live tier: the IDs its
// sources name are exactly this list.
func TestLiveIDsMatchTheE2ESources(t *testing.T) {
	root, err := manifests.ModuleRoot()
	require.NoError(t, err)
	files, err := filepath.Glob(filepath.Join(root, "e2e", "*.go"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	idRE := regexp.MustCompile(`"(L-[A-Z]+)"`)
	found := map[string]bool{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range idRE.FindAllStringSubmatch(string(raw), -1) {
			found[m[1]] = true
		}
	}
	var ids []string
	for id := range found {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	want := slices.Sorted(slices.Values(LiveIDs))
	assert.Equal(t, want, ids, "live IDs in e2e/*.go vs selftest.LiveIDs")
}

func TestLoadMutantRejectsBadDescriptors(t *testing.T) {
	cases := map[string]string{
		"unknown field":   "why: x\nstatic: [BD-7]\nlivee: [L-DNS]\n",
		"unknown static":  "why: x\nstatic: [BD-99]\n",
		"live as static":  "why: x\nstatic: [L-DNS]\n",
		"unknown live":    "why: x\nlive: [L-NOPE]\n",
		"names nothing":   "why: x\n",
		"no why":          "static: [BD-7]\n",
		"named twice":     "why: x\nlive: [L-DNS, L-DNS]\n",
		"live, no expect": "why: x\nlive: [L-DNS]\n",
		"empty expect":    "why: x\nlive: [L-DNS]\nexpect:\n  L-DNS: [\"\"]\n",
		"expect unnamed":  "why: x\nlive: [L-DNS]\nexpect:\n  L-DNS: [a]\n  L-LB: [b]\n",
		"not yaml":        "why: [x\n",
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "m")
			require.NoError(t, os.MkdirAll(dir, 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, DescriptorName), []byte(body), 0o644))
			_, err := LoadMutant(dir)
			require.Error(t, err)
			assert.Contains(t, err.Error(), DescriptorName)
		})
	}
	_, err := LoadMutant(t.TempDir())
	require.Error(t, err, "a directory without mutant.yaml")
	assert.True(t, strings.Contains(err.Error(), DescriptorName))
}

// TestUncoveredNamesTheBlindID proves the coverage rule can fail.
func TestUncoveredNamesTheBlindID(t *testing.T) {
	_, ms := loadRepoMutants(t)
	var without []Mutant
	for _, m := range ms {
		if !slices.Contains(m.Live, "L-QOS") {
			without = append(without, m)
		}
	}
	assert.Equal(t, []string{"L-QOS"}, Uncovered(without))
}

// tempMutant writes a mutant over the repository's manifests/base with the
// given patch (none: no break at all).
func tempMutant(t *testing.T, static []string, patch string) Mutant {
	t.Helper()
	root, err := manifests.ModuleRoot()
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "m")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	rel, err := filepath.Rel(dir, filepath.Join(root, "manifests", "base"))
	require.NoError(t, err)
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- " + rel + "\n"
	if patch != "" {
		k += "patches:\n- path: patch.yaml\n"
		require.NoError(t, os.WriteFile(filepath.Join(dir, "patch.yaml"), []byte(patch), 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644))
	return Mutant{Name: "m", Dir: dir, Descriptor: Descriptor{Why: "test", Static: static}}
}

const twoBreaks = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: backend
  namespace: todo-app
spec:
  replicas: 2
---
apiVersion: v1
kind: Service
metadata:
  name: backend-service
  namespace: todo-app
spec:
  sessionAffinity: ClientIP
`

func TestRunStaticNamesAMissedID(t *testing.T) {
	out, err := RunStatic(tempMutant(t, []string{"BD-7"}, ""))
	require.NoError(t, err)
	assert.Equal(t, []string{"BD-7"}, out.Missed, "an unbroken set fails nothing")
	assert.Empty(t, out.Failed)

	out, err = RunStatic(tempMutant(t, []string{"BD-2"}, twoBreaks))
	require.NoError(t, err)
	assert.Empty(t, out.Missed)
	assert.Equal(t, []string{"BS-1"}, out.Extra, "a failing ID the mutant does not name is reported")
}

func TestChangesCountsEveryBrokenObject(t *testing.T) {
	root, err := manifests.ModuleRoot()
	require.NoError(t, err)
	changes, err := Changes(tempMutant(t, nil, ""), filepath.Join(root, "manifests"))
	require.NoError(t, err)
	assert.Empty(t, changes)
	changes, err = Changes(tempMutant(t, nil, twoBreaks), filepath.Join(root, "manifests"))
	require.NoError(t, err)
	assert.Len(t, changes, 2, "%v", changes)
}
