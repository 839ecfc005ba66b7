package choice

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/internal/kubeversion"
	"github.com/puretasks/k8s-conformance/internal/nodeimage"
)

func TestFromEnv(t *testing.T) {
	t.Setenv(EnvImage, "my/node:v1")
	t.Setenv(EnvSource, "upstream")
	assert.Equal(t, Request{Image: "my/node:v1", Source: "upstream"}, FromEnv())
}

// A bad source is refused before any builder or Docker is touched.
func TestResolveRefusesABadSource(t *testing.T) {
	_, err := Resolve(context.Background(), &bytes.Buffer{}, Request{Source: "latest"})
	assert.ErrorContains(t, err, `NODE_IMAGE_SOURCE: unknown node image source "latest"`)
}

// A named image is used as is: no pull, no build, no Docker needed.
func TestResolveUsesTheNamedImage(t *testing.T) {
	var log bytes.Buffer
	c, err := Resolve(context.Background(), &log, Request{Image: "my/node:v1"})
	require.NoError(t, err)
	assert.Equal(t, nodeimage.Choice{Image: "my/node:v1", Reason: "named by the user (KIND_NODE_IMAGE), used as is"}, c)
	assert.Empty(t, log.String(), "nothing was built, so no timing table")
}

func TestPrintTiming(t *testing.T) {
	var log bytes.Buffer
	printTiming(&log, []nodeimage.StageTiming{{Stage: "debian", Duration: 1234 * time.Millisecond, CacheHit: true}, {Stage: "node-image", Duration: time.Minute}})
	assert.Regexp(t, `debian +1.2s +hit\nnode-image +1m0s +miss\n`, log.String())
}

// The node image follows K8S_VERSION like every other tier; a version the
// suite does not support is refused before anything is built or pulled.
func TestResolveRefusesAnUnsupportedKubernetesVersion(t *testing.T) {
	t.Setenv(kubeversion.Env, "1.30")
	_, err := Resolve(context.Background(), &bytes.Buffer{}, Request{Image: "my/node:v1"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), kubeversion.Env)
	assert.Contains(t, err.Error(), kubeversion.Default.Version, "the error lists what is supported")
}
