package manifests

import (
	"fmt"
	"os"
	"path/filepath"
)

// EnvDir names the environment variable that points the suite at another
// manifests directory.
const EnvDir = "MANIFESTS_DIR"

// ModuleRoot walks up from the working directory to the go.mod of this
// repository, so tests in any package agree on relative paths.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// ResolveDir returns the manifests directory under test: $MANIFESTS_DIR
// (relative paths are taken from the repository root, where `make` runs) or
// the repository's manifests/.
func ResolveDir() (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	dir := os.Getenv(EnvDir)
	if dir == "" {
		return filepath.Join(root, "manifests"), nil
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	return dir, nil
}
