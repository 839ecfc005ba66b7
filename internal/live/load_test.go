package live

import (
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type fakeLoader struct {
	mu     sync.Mutex
	loaded []string
	fail   string
}

func (f *fakeLoader) LoadImageArchive(path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if path == f.fail {
		return errors.New("ctr: content digest not found")
	}
	f.loaded = append(f.loaded, path)
	return nil
}

func TestLoadArchivesLoadsEachAndNamesAFailure(t *testing.T) {
	f := &fakeLoader{}
	require.NoError(t, LoadArchives(f, []string{"/x/a.tar", "/x/b.tar"}, io.Discard))
	assert.ElementsMatch(t, []string{"/x/a.tar", "/x/b.tar"}, f.loaded)

	f = &fakeLoader{fail: "/x/b.tar"}
	err := LoadArchives(f, []string{"/x/a.tar", "/x/b.tar"}, io.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "loading stub image b.tar: ctr: content digest not found")

	assert.Error(t, LoadArchives(f, nil, io.Discard), "nothing to load is an error")
}
