package revision

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// repo makes a git repository with two commits of manifests/app.yaml and
// returns its path and the first commit.
func repo(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	run := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid", "GIT_CONFIG_GLOBAL=/dev/null")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
		return string(out)
	}
	run("init", "-q", "-b", "main")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "manifests", "base"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "manifests", "base", "app.yaml"), []byte("old: 1\n"), 0o644))
	run("add", ".")
	run("commit", "-qm", "one")
	first := run("rev-parse", "HEAD")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "manifests", "base", "app.yaml"), []byte("new: 2\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "manifests", "base", "added.yaml"), []byte("x: 1\n"), 0o644))
	run("add", ".")
	run("commit", "-qm", "two")
	run("tag", "v1", first[:40])
	// An uncommitted change must not leak into the extracted revision, and
	// must be left as it is.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "manifests", "base", "app.yaml"), []byte("dirty: 3\n"), 0o644))
	return dir, first[:40]
}

func TestExtractReadsTheRevisionNotTheWorkTree(t *testing.T) {
	dir, first := repo(t)
	tree, err := Extract(context.Background(), filepath.Join(dir, "manifests"), "v1")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, tree.Remove()) })
	assert.Equal(t, first, tree.Commit)
	got, err := os.ReadFile(filepath.Join(tree.Dir, "base", "app.yaml"))
	require.NoError(t, err)
	assert.Equal(t, "old: 1\n", string(got))
	assert.NoFileExists(t, filepath.Join(tree.Dir, "base", "added.yaml"))

	wt, err := os.ReadFile(filepath.Join(dir, "manifests", "base", "app.yaml"))
	require.NoError(t, err)
	assert.Equal(t, "dirty: 3\n", string(wt), "the work tree is untouched")

	root := filepath.Dir(tree.Dir)
	require.NoError(t, tree.Remove())
	assert.NoDirExists(t, root, "Remove deletes the copy")
}

func TestExtractErrors(t *testing.T) {
	dir, _ := repo(t)
	for name, tc := range map[string]struct{ dir, ref, want string }{
		"unknown ref":       {filepath.Join(dir, "manifests"), "no-such-tag", `"no-such-tag" names no commit`},
		"option as ref":     {filepath.Join(dir, "manifests"), "--output=/tmp/x", "is not a git ref"},
		"path not at ref":   {filepath.Join(dir, "manifests", "base", "added.yaml"), "v1", "did not exist at v1"},
		"not a git tree":    {t.TempDir(), "HEAD", "is not inside a git work tree"},
		"missing directory": {filepath.Join(dir, "nope"), "HEAD", "no such file"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Extract(context.Background(), tc.dir, tc.ref)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "\n", "one line")
		})
	}
}

// A kustomization refers to what sits beside it (../base): the revision of
// a subdirectory brings its siblings as they were too.
func TestExtractOfASubdirectoryBringsItsSiblings(t *testing.T) {
	dir, _ := repo(t)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "manifests", "overlay"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "manifests", "overlay", "kustomization.yaml"), []byte("resources: [../base]\n"), 0o644))
	for _, args := range [][]string{{"add", "manifests/overlay"}, {"commit", "-qm", "overlay"}} {
		cmd := exec.Command("git", append([]string{"-c", "user.email=t@example.invalid", "-c", "user.name=t"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	tree, err := Extract(context.Background(), filepath.Join(dir, "manifests", "overlay"), "HEAD")
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, tree.Remove()) })
	assert.FileExists(t, filepath.Join(tree.Dir, "kustomization.yaml"))
	got, err := os.ReadFile(filepath.Join(tree.Dir, "..", "base", "app.yaml"))
	require.NoError(t, err, "the overlay's ../base came with it")
	assert.Equal(t, "new: 2\n", string(got), "as committed, not the work tree's")
}
