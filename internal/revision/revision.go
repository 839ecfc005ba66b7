// Package revision reads the manifests under test as they were at another
// git revision, without touching the work tree, so a manifest change can be
// judged as a change (L-UPGRADE: the old revision applied and serving, the
// new one applied over it).
package revision

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// maxExtract bounds what one revision may unpack: far above any manifests
// directory, far below what would fill a disk.
const maxExtract = 256 << 20

// Tree is a directory extracted from a revision.
type Tree struct {
	// Dir is the counterpart, at the revision, of the directory asked for.
	Dir string
	// Commit is the full commit the ref resolved to.
	Commit string
	root   string
}

// Remove deletes the extracted copy.
func (t *Tree) Remove() error { return os.RemoveAll(t.root) }

// Extract copies the work tree that holds dir (a directory or file inside a
// git work tree) as it was at ref into a new temporary directory; Tree.Dir is
// dir's counterpart there. A ref that does not name a commit, and a dir that
// did not exist at that commit, are errors of one line.
func Extract(ctx context.Context, dir, ref string) (*Tree, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("revision: %w", err)
	}
	gitDir := abs
	if !st.IsDir() { // MANIFESTS_DIR may name a single file
		gitDir = filepath.Dir(abs)
	}
	top, err := git(ctx, gitDir, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, fmt.Errorf("revision: %s is not inside a git work tree: %w", dir, err)
	}
	top = strings.TrimSpace(top)
	// Resolve symlinks on both sides so a relative path is computed between
	// real directories (/tmp vs /private/tmp, a symlinked checkout).
	realTop, err := filepath.EvalSymlinks(top)
	if err != nil {
		return nil, err
	}
	realDir, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, err
	}
	rel, err := filepath.Rel(realTop, realDir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return nil, fmt.Errorf("revision: %s is outside its git work tree %s", dir, top)
	}
	if strings.HasPrefix(ref, "-") {
		return nil, fmt.Errorf("revision: %q is not a git ref", ref)
	}
	commit, err := git(ctx, top, "rev-parse", "--verify", "--quiet", "--end-of-options", ref+"^{commit}")
	if err != nil {
		return nil, fmt.Errorf("revision: %q names no commit in %s", ref, top)
	}
	commit = strings.TrimSpace(commit)

	pathspec := filepath.ToSlash(rel)
	if pathspec != "." {
		if _, err := git(ctx, top, "cat-file", "-e", commit+":"+pathspec); err != nil {
			return nil, fmt.Errorf("revision: %s did not exist at %s (%s)", pathspec, ref, short(commit))
		}
	}
	// The whole tree, not only dir: a kustomization refers to bases and
	// components beside it (../base), and a chart to its file:// dependencies,
	// exactly as in a checkout of that commit.
	args := []string{"archive", "--format=tar", commit}
	root, err := os.MkdirTemp("", "manifests-at-"+short(commit)+"-")
	if err != nil {
		return nil, err
	}
	t := &Tree{Dir: filepath.Join(root, rel), Commit: commit, root: root}
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = top
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, errors.Join(err, t.Remove())
	}
	if err := cmd.Start(); err != nil {
		return nil, errors.Join(fmt.Errorf("revision: git archive: %w", err), t.Remove())
	}
	extractErr := untar(out, root)
	if extractErr != nil {
		// Drain so git can exit; its error, if any, is secondary.
		_, _ = io.Copy(io.Discard, out)
	}
	waitErr := cmd.Wait()
	if extractErr != nil {
		return nil, errors.Join(extractErr, t.Remove())
	}
	if waitErr != nil {
		return nil, errors.Join(fmt.Errorf("revision: git archive %s: %w: %s", short(commit), waitErr, firstLine(stderr.String())), t.Remove())
	}
	return t, nil
}

// untar writes regular files, directories and symlinks below root. Names
// that would land outside root are refused (git never writes them, but the
// archive is input like any other).
func untar(r io.Reader, root string) error {
	tr := tar.NewReader(r)
	var total int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("revision: reading git archive: %w", err)
		}
		name := filepath.FromSlash(h.Name)
		if !filepath.IsLocal(name) {
			if h.Typeflag == tar.TypeXGlobalHeader {
				continue
			}
			return fmt.Errorf("revision: git archive holds %q, outside the extraction directory", h.Name)
		}
		dest := filepath.Join(root, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dest, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			total += h.Size
			if total > maxExtract {
				return fmt.Errorf("revision: the manifests at this revision exceed %d MiB", maxExtract>>20)
			}
			if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_EXCL, os.FileMode(h.Mode)&0o755|0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, io.LimitReader(tr, h.Size))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			// Kept as symlinks: the loader refuses what kustomize refuses
			// (a link out of the kustomization root) exactly as in a checkout.
			if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(h.Linkname, dest); err != nil {
				return err
			}
		}
	}
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := firstLine(stderr.String()); msg != "" {
			return "", fmt.Errorf("%w: %s", err, msg)
		}
		return "", err
	}
	return string(out), nil
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
