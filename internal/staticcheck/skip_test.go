package staticcheck

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/internal/manifests"
)

func checkByID(t *testing.T, id string) Check {
	t.Helper()
	for _, c := range Catalogue {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no static check %s", id)
	return Check{}
}

// PV-1 and PVC-1 check nothing in a set without the optional objects: that
// is a SKIP with its reason, never a PASS (D9). Every other check applies.
func TestOptionalChecksSkipInDefaultSet(t *testing.T) {
	sets := repoSets(t)
	def, per := sets[manifests.Default], sets[manifests.Persistent]
	for _, id := range []string{"PV-1", "PVC-1"} {
		findings, skipped := Evaluate(checkByID(t, id), def, manifests.Default)
		assert.Empty(t, findings, id)
		assert.Contains(t, skipped, "holds no Persistent", id)

		findings, skipped = Evaluate(checkByID(t, id), per, manifests.Persistent)
		assert.Empty(t, findings, id)
		assert.Empty(t, skipped, "%s applies to the persistent-uploads set", id)
	}
	for _, c := range Catalogue {
		if c.ID == "PV-1" || c.ID == "PVC-1" {
			continue
		}
		_, skipped := Evaluate(c, def, manifests.Default)
		assert.Empty(t, skipped, "%s never skips", c.ID)
	}
}

// The persistent variant without its PV is a finding, not a skip.
func TestOptionalObjectMissingInVariantFails(t *testing.T) {
	per := repoSets(t)[manifests.Persistent].DeepCopy()
	remove(t, per, "PersistentVolume", "backend-uploads-pv")
	findings, skipped := Evaluate(checkByID(t, "PV-1"), per, manifests.Persistent)
	require.NotEmpty(t, findings)
	assert.Empty(t, skipped)
	assert.Contains(t, findings[0].String(), "missing")
}
