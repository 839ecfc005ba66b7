package nodeimage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/internal/nodeimage/pull"
)

// fakeHost is a machine with some images, a registry that answers (or not),
// and a user who is root (or not). It records what Choose did.
type fakeHost struct {
	images  map[string]bool
	pullErr error
	isRoot  bool
	did     []string
}

func (h *fakeHost) imageExists(_ context.Context, ref string) bool { return h.images[ref] }
func (h *fakeHost) pull(_ context.Context, ref string) error {
	h.did = append(h.did, "pull")
	return h.pullErr
}
func (h *fakeHost) build(context.Context) (string, error) {
	h.did = append(h.did, "build")
	return "built:ref", nil
}
func (h *fakeHost) root() bool { return h.isRoot }
func (h *fakeHost) logf(format string, a ...any) {
	h.did = append(h.did, "log: "+fmt.Sprintf(format, a...))
}

func testBuilder(t *testing.T) *Builder {
	t.Helper()
	kind := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(kind, "images", "base", "files"), 0o755))
	b, err := NewBuilder(Options{Versions: Pinned, CacheDir: t.TempDir(), KindDir: kind, ModuleDir: t.TempDir()})
	require.NoError(t, err)
	return b
}

var errNoRegistry = &pull.NoRegistryError{Ref: UpstreamNode, Cause: "dial tcp: lookup registry-1.docker.io: no such host"}

func TestChooseAuto(t *testing.T) {
	b := testBuilder(t)
	ref, err := b.ImageRef()
	require.NoError(t, err)
	cases := []struct {
		name       string
		host       fakeHost
		image      string
		did        []string
		reason     string
		errIs      error
		errMention string
	}{
		{name: "hermetic present", host: fakeHost{images: map[string]bool{ref: true, UpstreamNode: true}},
			image: ref, reason: "auto: the hermetic image (Kubernetes " + Pinned.Kubernetes},
		{name: "upstream present", host: fakeHost{images: map[string]bool{UpstreamNode: true}},
			image: UpstreamNode, reason: "the pinned upstream image " + upstreamName(UpstreamNode) + " (Kubernetes " + upstreamVersion(UpstreamNode)},
		{name: "registry answers", host: fakeHost{},
			image: UpstreamNode, did: []string{"pull"}, reason: "a registry answered"},
		{name: "no registry, root: build at once", host: fakeHost{pullErr: errNoRegistry, isRoot: true},
			image: "built:ref", did: []string{"pull", "build"}, reason: "no registry (no registry answers for"},
		{name: "registry refuses, root: build", host: fakeHost{pullErr: errors.New("toomanyrequests"), isRoot: true},
			image: "built:ref", did: []string{"pull", "build"}, reason: "the upstream pull failed (toomanyrequests)"},
		{name: "no registry, not root: no build, says why", host: fakeHost{pullErr: errNoRegistry},
			did: []string{"pull"}, errIs: ErrBuildNeedsRoot, errMention: "no node image here and no registry"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := c.host
			got, err := choose(context.Background(), "", SourceAuto, b, &h)
			var did []string
			for _, d := range h.did {
				if d == "pull" || d == "build" {
					did = append(did, d)
				}
			}
			assert.Equal(t, c.did, did)
			if c.errIs != nil {
				require.ErrorIs(t, err, c.errIs)
				assert.ErrorContains(t, err, c.errMention)
				assert.ErrorContains(t, err, "NODE_IMAGE_SOURCE=upstream")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.image, got.Image)
			assert.Contains(t, got.Reason, c.reason)
		})
	}
}

func TestChooseSaysWhyBeforeBuilding(t *testing.T) {
	h := &fakeHost{pullErr: errNoRegistry, isRoot: true}
	_, err := choose(context.Background(), "", SourceAuto, testBuilder(t), h)
	require.NoError(t, err)
	require.Len(t, h.did, 4)
	assert.Equal(t, "pull", h.did[1])
	assert.Contains(t, h.did[2], "log: auto: no registry (no registry answers for "+UpstreamNode+": dial tcp: lookup registry-1.docker.io: no such host); building the hermetic image")
	assert.Equal(t, "build", h.did[3])
}

func TestChooseForced(t *testing.T) {
	b := testBuilder(t)
	ref, err := b.ImageRef()
	require.NoError(t, err)

	c, err := choose(context.Background(), "my/node:v1", SourceHermetic, b, &fakeHost{})
	require.NoError(t, err)
	assert.Equal(t, Choice{Image: "my/node:v1", Reason: "named by the user (KIND_NODE_IMAGE), used as is"}, c)

	h := &fakeHost{pullErr: errNoRegistry}
	_, err = choose(context.Background(), "", SourceUpstream, b, h)
	assert.ErrorContains(t, err, "NODE_IMAGE_SOURCE=upstream, but the pull failed: no registry answers")
	assert.Equal(t, []string{"log: NODE_IMAGE_SOURCE=upstream: pulling the pinned upstream image " + upstreamName(UpstreamNode) + " (Kubernetes " + upstreamVersion(UpstreamNode) + ", not the hermetic build's " + Pinned.Kubernetes + ")", "pull"}, h.did)

	_, err = choose(context.Background(), "", SourceHermetic, b, &fakeHost{})
	assert.ErrorIs(t, err, ErrBuildNeedsRoot)
	c, err = choose(context.Background(), "", SourceHermetic, b, &fakeHost{images: map[string]bool{ref: true}})
	require.NoError(t, err)
	assert.Equal(t, ref, c.Image)
	assert.False(t, c.Built)
	c, err = choose(context.Background(), "", SourceHermetic, b, &fakeHost{isRoot: true})
	require.NoError(t, err)
	assert.True(t, c.Built)
}
