package selftest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// UpgradeID is the check that judges a change (old release to new).
const UpgradeID = "L-UPGRADE"

// patchFields are a kustomization's patch fields: without them it is the
// release the mutant breaks.
var patchFields = []string{"patches", "patchesStrategicMerge", "patchesJson6902"}

// UpgradeRepo lays out, in a new temporary directory, a git repository in
// which the mutant is a change: its last commit holds the module's
// manifests/ and, at the mutant's own path, its kustomization without the
// patches; the work tree holds the mutant as it is. It returns the mutant's
// directory there (MANIFESTS_DIR; E2E_UPGRADE_FROM=HEAD is the release
// before) and a function that removes it all.
func UpgradeRepo(ctx context.Context, m Mutant, moduleRoot string) (string, func() error, error) {
	rel, err := filepath.Rel(moduleRoot, m.Dir)
	if err != nil || !filepath.IsLocal(rel) {
		return "", nil, fmt.Errorf("selftest: mutant %s is not inside the module %s", m.Name, moduleRoot)
	}
	root, err := os.MkdirTemp("", "selftest-upgrade-"+m.Name+"-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() error { return os.RemoveAll(root) }
	fail := func(err error) (string, func() error, error) {
		_ = cleanup()
		return "", nil, fmt.Errorf("selftest: mutant %s: the upgrade's repository: %w", m.Name, err)
	}
	if err := os.CopyFS(filepath.Join(root, "manifests"), os.DirFS(filepath.Join(moduleRoot, "manifests"))); err != nil {
		return fail(err)
	}
	dir := filepath.Join(root, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	raw, err := os.ReadFile(filepath.Join(m.Dir, "kustomization.yaml"))
	if err != nil {
		return fail(err)
	}
	var k map[string]any
	if err := yaml.Unmarshal(raw, &k); err != nil {
		return fail(fmt.Errorf("kustomization.yaml: %w", err))
	}
	for _, f := range patchFields {
		delete(k, f)
	}
	before, err := yaml.Marshal(k)
	if err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), before, 0o644); err != nil {
		return fail(err)
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "-A"},
		{"commit", "-q", "-m", "the release before " + m.Name},
	} {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-c", "user.name=selftest", "-c", "user.email=selftest@example.invalid", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fail(fmt.Errorf("git %v: %w: %s", args, err, out))
		}
	}
	// The work tree: the mutant itself, over the release before.
	if err := os.RemoveAll(dir); err != nil {
		return fail(err)
	}
	if err := os.CopyFS(dir, os.DirFS(m.Dir)); err != nil {
		return fail(err)
	}
	return dir, cleanup, nil
}
