package stubimage

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/internal/spec"
)

func TestStubsFollowTheSpec(t *testing.T) {
	s := Stubs()
	require.Len(t, s, 2)
	assert.Equal(t, spec.Seed.Backend.Deployment.Container.Image, s[0].Tag)
	assert.Equal(t, "todo-backend.tar", s[0].ArchiveName())
	assert.Equal(t, spec.Seed.Frontend.Deployment.Container.Image, s[1].Tag)
	assert.Equal(t, "todo-frontend.tar", s[1].ArchiveName())
}

// Same binaries in, same archive bytes out: no timestamps, no random order.
func TestArchivesAreReproducible(t *testing.T) {
	work := t.TempDir()
	bin, probe := filepath.Join(work, "bin"), filepath.Join(work, "probe")
	require.NoError(t, os.WriteFile(bin, []byte("\x7fELF fake backend"), 0o755))
	require.NoError(t, os.WriteFile(probe, []byte("\x7fELF fake probe"), 0o755))
	s := Stubs()[0]
	one, two := t.TempDir(), t.TempDir()
	r1, err := s.write(work, bin, probe, one)
	require.NoError(t, err)
	r2, err := s.write(work, bin, probe, two)
	require.NoError(t, err)
	assert.Equal(t, r1.Digest, r2.Digest)
	a, _ := os.ReadFile(r1.Path)
	b, _ := os.ReadFile(r2.Path)
	assert.Equal(t, a, b)

	img, err := tarball.ImageFromPath(r1.Path, nil)
	require.NoError(t, err)
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, NonRoot+":"+NonRoot, cf.Config.User, "runs as non-root")
	assert.Equal(t, []string{"/backend"}, cf.Config.Entrypoint)
	assert.True(t, cf.Created.IsZero(), "no build timestamp")
}
