package kubeversion

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSelect(t *testing.T) {
	for in, want := range map[string]string{
		"":        Default.Version,
		"1.36":    "v1.36.3",
		"v1.37":   "v1.37.2",
		"v1.35.4": "v1.35.4",
		"1.37.2":  "v1.37.2",
	} {
		r, err := Select(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, r.Version, in)
	}
	for _, bad := range []string{"1.30", "v1.36.1", "latest", "1", "2.36", "1.036", "1.36.3.1"} {
		_, err := Select(bad)
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), Env, bad)
		assert.Contains(t, err.Error(), "v1.36.3", "the error lists what is supported")
	}
}

func TestSupportedAreThreeConsecutiveMinors(t *testing.T) {
	require.Len(t, Supported, 3)
	for i := 1; i < len(Supported); i++ {
		assert.Equal(t, Supported[i-1].Minor()+1, Supported[i].Minor())
	}
	for _, r := range Supported {
		assert.Contains(t, r.Upstream, "kindest/node:v"+r.MajorMinor()+".", "the upstream image is on the same minor")
		assert.Contains(t, r.Upstream, "@sha256:", "upstream images are pinned by digest")
	}
	assert.Equal(t, "v0.36.3", Default.Staging())
}
