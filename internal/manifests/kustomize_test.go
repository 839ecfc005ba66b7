package manifests

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRemoteRefsAreToldApartAsKustomizeDoes: the forms kustomize would
// clone or download are remote; local paths are not.
func TestRemoteRefsAreToldApartAsKustomizeDoes(t *testing.T) {
	remote := []string{
		"github.com/example/repo//base?ref=v1",
		"GitHub.com:example/repo",
		"https://github.com/example/repo//base",
		"http://example.invalid/cm.yaml",
		"ssh://git@example.invalid/org/repo.git",
		"git@github.com:example/repo.git//overlays/prod",
		"git::https://example.invalid/org/repo",
		"file:///srv/git/repo.git",
	}
	local := []string{"../base", "base", "./cm.yaml", "cm.yaml", "/abs/base", "github/base", "a@b"}
	for _, r := range remote {
		assert.True(t, isRemoteRef(r), "%s is remote", r)
	}
	for _, l := range local {
		assert.False(t, isRemoteRef(l), "%s is local", l)
	}
}

func TestOriginAnnotationsAreAskedForOnlyWhenAbsent(t *testing.T) {
	out, ok := withOriginAnnotations([]byte("resources:\n- a.yaml\n"))
	require.True(t, ok)
	assert.Contains(t, string(out), "buildMetadata:\n- originAnnotations")
	out, ok = withOriginAnnotations([]byte("resources: [a.yaml]\nbuildMetadata: [managedByLabel]\n"))
	require.True(t, ok)
	assert.Contains(t, string(out), "managedByLabel")
	assert.Contains(t, string(out), "originAnnotations")
	_, ok = withOriginAnnotations([]byte("buildMetadata: [originAnnotations]\n"))
	assert.False(t, ok, "the author asked for them: they stay on the objects")
}

// TestAuthorsOriginAnnotationsStay: a kustomization that asks for origin
// annotations gets them, as kubectl apply -k would apply them.
func TestAuthorsOriginAnnotationsStay(t *testing.T) {
	dir := write(t, t.TempDir(), map[string]string{
		"kustomization.yaml": "resources: [cm.yaml]\nbuildMetadata: [originAnnotations]\n",
		"cm.yaml":            cm,
	})
	s, err := Load(dir)
	require.NoError(t, err)
	require.Len(t, s.Objects, 1)
	assert.Contains(t, s.Objects[0].GetAnnotations(), "config.kubernetes.io/origin")
	assert.Equal(t, filepath.Join(dir, "cm.yaml")+":1", s.Objects[0].Source)
}

func TestLocalLookingRemoteRefGetsAHint(t *testing.T) {
	dir := write(t, t.TempDir(), map[string]string{"kustomization.yaml": "resources:\n- gitlab.example/org/repo//base?ref=v1\n"})
	_, err := Load(dir)
	assert.ErrorContains(t, err, "does not exist; it looks like a remote base (?ref=): remote bases are not fetched")
}

// krusty quotes a builtin's whole configuration when it cannot set it up (a
// helm chart's valuesInline, a replacement, a patch): never shown.
func TestKrustyConfigIsNotQuoted(t *testing.T) {
	msg := redactKustomize("accumulating resources: trouble configuring builtin PatchTransformer with config: `\npatch: |-\n  value: " + fakeToken + "\n`: unable to parse SM or JSON patch")
	assert.NotContains(t, msg, fakeToken)
	assert.Contains(t, msg, "trouble configuring builtin PatchTransformer with its configuration (not shown)")
}
