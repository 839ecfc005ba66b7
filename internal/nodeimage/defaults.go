package nodeimage

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/puretasks/k8s-conformance/internal/kubeversion"
)

// NewDefaultBuilder is the builder of the target Kubernetes release
// (K8S_VERSION, default kubeversion.Default): see NewBuilderFor.
func NewDefaultBuilder(log io.Writer) (*Builder, error) {
	target, err := kubeversion.Target()
	if err != nil {
		return nil, err // names K8S_VERSION and what is supported
	}
	return NewBuilderFor(log, target)
}

// NewBuilderFor is the builder of one release's recipe. It locates the
// repository, kind's module and the cache the way the Makefile and the live
// tier expect: NODE_IMAGE_CACHE overrides
// $XDG_CACHE_HOME/k8s-conformance/nodeimage. The cache is shared by every
// release: Debian trees and binaries whose versions a release shares are
// built once.
func NewBuilderFor(log io.Writer, r kubeversion.Release) (*Builder, error) {
	versions, err := VersionsFor(r)
	if err != nil {
		return nil, err
	}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	kindDir, err := moduleDir(root, "sigs.k8s.io/kind")
	if err != nil {
		return nil, err
	}
	cache := os.Getenv("NODE_IMAGE_CACHE")
	if cache == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil, err
		}
		cache = filepath.Join(base, "k8s-conformance", "nodeimage")
	}
	return NewBuilder(Options{Versions: versions, Upstream: r.Upstream, CacheDir: cache, KindDir: kindDir, ModuleDir: root, Log: log})
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside the k8s-conformance module (run from the repository)")
	}
	return filepath.Dir(gomod), nil
}

// moduleDir returns where the go command keeps a dependency of the repo,
// downloading it if needed.
func moduleDir(root, module string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", module)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w", module, err)
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", err
	}
	if info.Error != "" {
		return "", fmt.Errorf("go mod download %s: %s", module, info.Error)
	}
	return info.Dir, nil
}
