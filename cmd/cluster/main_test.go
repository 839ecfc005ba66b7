package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/spec"
	"github.com/puretasks/k8s-conformance/internal/stubimage"
)

type fakeCluster struct {
	loaded []string
	fail   error
}

func (f *fakeCluster) LoadImageArchive(path string) error {
	if f.fail != nil {
		return f.fail
	}
	f.loaded = append(f.loaded, filepath.Base(path))
	return nil
}

// `up` loads the images the manifests run, built from the stubs.
func TestUpLoadsTheStubImages(t *testing.T) {
	root, err := manifests.ModuleRoot()
	require.NoError(t, err)
	stubs, err := stubimage.Build(context.Background(), root, t.TempDir(), &bytes.Buffer{})
	require.NoError(t, err)
	c := &fakeCluster{}
	var log bytes.Buffer
	require.NoError(t, loadStubs(c, stubs, &log))
	assert.Equal(t, []string{"todo-backend.tar", "todo-frontend.tar"}, c.loaded)
	assert.Contains(t, log.String(), "loaded "+spec.Seed.Backend.Deployment.Container.Image)
	assert.Contains(t, log.String(), "loaded "+spec.Seed.Frontend.Deployment.Container.Image)
	for _, s := range stubs {
		assert.FileExists(t, s.Path)
	}
}

func TestUpFailsWhenALoadFails(t *testing.T) {
	err := loadStubs(&fakeCluster{fail: errors.New("node gone")}, []stubimage.Result{{Stub: stubimage.Stub{Tag: "todo-backend:latest"}, Path: "/x/todo-backend.tar"}}, &bytes.Buffer{})
	assert.ErrorContains(t, err, "loading stub image todo-backend:latest: node gone")
	assert.ErrorContains(t, loadStubs(&fakeCluster{}, nil, &bytes.Buffer{}), "no stub image was built")
}

func TestPathsHonourImagesDir(t *testing.T) {
	t.Setenv("IMAGES_DIR", "/tmp/imgs")
	p, err := pathsFromWD()
	require.NoError(t, err)
	wd, err := os.Getwd()
	require.NoError(t, err)
	assert.Equal(t, "/tmp/imgs", p.images)
	assert.Equal(t, filepath.Join(wd, "_build", "kubeconfig-dev"), p.kubeconfig)
}
