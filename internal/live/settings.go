// Package live is the live tier's machinery: the cluster's lifecycle around
// a run, applying the manifests under test, waits, the rollout watcher, and
// the in-cluster probe jobs. The e2e package holds the checks themselves.
package live

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/puretasks/k8s-conformance/internal/manifests"
)

// DefaultImagesDir is where `make images` writes the stub image archives
// ($IMAGES_DIR overrides it).
const DefaultImagesDir = "_build/images"

// Settings are read from the environment once per run.
type Settings struct {
	ModuleRoot   string
	ManifestsDir string // $MANIFESTS_DIR, default manifests/
	Artifacts    string // $ARTIFACTS, default _artifacts/
	ImagesDir    string // $IMAGES_DIR, default _build/images/
	KindConfig   string // $E2E_KIND_CONFIG, default fixtures/kind/multi-node.yaml
	FakeSecrets  string // fixtures/secrets.fake.env
	NodeImage    string // $KIND_NODE_IMAGE: use as is
	NodeSource   string // $NODE_IMAGE_SOURCE: auto, hermetic, upstream
	// Kubeconfig of an existing cluster ($E2E_KUBECONFIG): no create, no delete,
	// no image loading (the images must be there already).
	ExistingKubeconfig string
	// KeepCluster: never, on-failure or always ($E2E_KEEP_CLUSTER).
	KeepCluster string
	// NodePortHost is where the host reaches NodePorts ($E2E_NODEPORT_HOST).
	NodePortHost string
}

// FromEnv reads the settings and checks them.
func FromEnv() (Settings, error) {
	root, err := manifests.ModuleRoot()
	if err != nil {
		return Settings{}, err
	}
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(root, p)
	}
	get := func(k, def string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		return def
	}
	mdir, err := manifests.ResolveDir()
	if err != nil {
		return Settings{}, err
	}
	s := Settings{
		ModuleRoot:         root,
		ManifestsDir:       mdir,
		Artifacts:          abs(get("ARTIFACTS", "_artifacts")),
		ImagesDir:          abs(get("IMAGES_DIR", DefaultImagesDir)),
		KindConfig:         abs(get("E2E_KIND_CONFIG", "fixtures/kind/multi-node.yaml")),
		FakeSecrets:        abs("fixtures/secrets.fake.env"),
		NodeImage:          os.Getenv("KIND_NODE_IMAGE"),
		NodeSource:         os.Getenv("NODE_IMAGE_SOURCE"),
		ExistingKubeconfig: abs(os.Getenv("E2E_KUBECONFIG")),
		KeepCluster:        get("E2E_KEEP_CLUSTER", "never"),
		NodePortHost:       get("E2E_NODEPORT_HOST", "127.0.0.1"),
	}
	switch s.KeepCluster {
	case "never", "on-failure", "always":
	default:
		return Settings{}, fmt.Errorf("E2E_KEEP_CLUSTER=%q: want never, on-failure or always", s.KeepCluster)
	}
	return s, nil
}
