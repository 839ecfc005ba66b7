package imagetar

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readTar(t *testing.T, raw []byte) map[string]*tar.Header {
	t.Helper()
	out := map[string]*tar.Header{}
	var order []string
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		out[h.Name] = h
		order = append(order, h.Name)
	}
	// Parents precede children.
	seen := map[string]bool{}
	for _, n := range order {
		dir := filepath.Dir(filepath.Clean(n))
		if dir != "." {
			assert.True(t, seen[dir+"/"], "%s written before its parent %s", n, dir)
		}
		seen[n] = true
	}
	return out
}

func TestWriteLayerOverlaysTreeAndSkips(t *testing.T) {
	root := t.TempDir()
	for p, content := range map[string]string{
		"etc/keep.conf":     "keep",
		"etc/replaced.conf": "old",
		"etc/skipped.conf":  "skip",
		"dev/null-ish":      "device dirs are mounted over",
	} {
		require.NoError(t, os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, p), []byte(content), 0o644))
	}
	require.NoError(t, os.Link(filepath.Join(root, "etc/keep.conf"), filepath.Join(root, "etc/hardlink.conf")))

	var buf bytes.Buffer
	err := WriteLayer(&buf, LayerSpec{
		Root: root,
		Skip: func(rel string) bool { return rel == "etc/skipped.conf" },
		Entries: []Entry{
			File("etc/replaced.conf", 0o600, []byte("new")),
			File("usr/local/bin/tool", 0o755, []byte("#!")),
			Symlink("usr/sbin/init", "/usr/lib/systemd/systemd"),
		},
	})
	require.NoError(t, err)
	hdrs := readTar(t, buf.Bytes())

	assert.Contains(t, hdrs, "etc/keep.conf")
	assert.NotContains(t, hdrs, "etc/skipped.conf")
	assert.Contains(t, hdrs, "dev/")
	assert.NotContains(t, hdrs, "dev/null-ish")
	assert.Equal(t, int64(0o600), hdrs["etc/replaced.conf"].Mode)
	assert.Equal(t, int64(3), hdrs["etc/replaced.conf"].Size)
	assert.Equal(t, byte(tar.TypeDir), hdrs["usr/local/bin/"].Typeflag, "implied parent directory")
	assert.Equal(t, "/usr/lib/systemd/systemd", hdrs["usr/sbin/init"].Linkname)
	link := hdrs["etc/keep.conf"]
	if h := hdrs["etc/hardlink.conf"]; h.Typeflag == tar.TypeLink {
		assert.Equal(t, "etc/hardlink.conf", h.Name)
	} else {
		assert.Equal(t, byte(tar.TypeLink), link.Typeflag, "one of the two hard links is written as a link")
	}
}

func TestWriteLayerIsDeterministic(t *testing.T) {
	spec := LayerSpec{Entries: []Entry{
		File("b/file", 0o644, []byte("b")),
		File("a/file", 0o644, []byte("a")),
		Dir("c"),
	}}
	var one, two bytes.Buffer
	require.NoError(t, WriteLayer(&one, spec))
	require.NoError(t, WriteLayer(&two, spec))
	assert.Equal(t, one.Bytes(), two.Bytes())
}
