// Package live is the live tier's machinery: the cluster's lifecycle around
// a run, applying the manifests under test, waits, the rollout watcher, and
// the in-cluster probe jobs. The e2e package holds the checks themselves.
package live

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

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
	// Kubeconfig of an existing cluster ($E2E_KUBECONFIG, or e2e-framework's
	// --kubeconfig): no create, no delete, no image loading (the images must
	// be there already).
	ExistingKubeconfig string
	// KubeContext is the context of ExistingKubeconfig to use (e2e-framework's
	// --context); "" for its current context.
	KubeContext string
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

// SelectFromFlags makes e2e-framework's own --kubeconfig and --context
// select an existing cluster exactly as E2E_KUBECONFIG does (the framework
// accepts them but builds nothing from them here). --context alone picks a
// context of the kubeconfig kubectl would read ($KUBECONFIG's first file
// that exists, else ~/.kube/config). A --kubeconfig that names another file
// than E2E_KUBECONFIG is refused: the run would not know which cluster is
// meant.
func (st *Settings) SelectFromFlags(kubeconfig, kubeContext string) error {
	if kubeconfig != "" {
		abs, err := filepath.Abs(kubeconfig)
		if err != nil {
			return err
		}
		if st.ExistingKubeconfig != "" && st.ExistingKubeconfig != abs {
			return fmt.Errorf("--kubeconfig %s and E2E_KUBECONFIG=%s name different clusters: give one", abs, st.ExistingKubeconfig)
		}
		st.ExistingKubeconfig = abs
	}
	if kubeContext == "" {
		return nil
	}
	st.KubeContext = kubeContext
	if st.ExistingKubeconfig == "" {
		kc, err := defaultKubeconfig()
		if err != nil {
			return fmt.Errorf("--context %s: %w", kubeContext, err)
		}
		st.ExistingKubeconfig = kc
	}
	return nil
}

// defaultKubeconfig is the file kubectl reads first: $KUBECONFIG's first
// file that exists, else ~/.kube/config.
func defaultKubeconfig() (string, error) {
	for _, p := range clientcmd.NewDefaultClientConfigLoadingRules().GetLoadingPrecedence() {
		if _, err := os.Stat(p); err == nil {
			return filepath.Abs(p)
		}
	}
	return "", errors.New("no kubeconfig: neither $KUBECONFIG nor ~/.kube/config names a file that exists; give --kubeconfig")
}

// RESTConfig is the client configuration of a kubeconfig file, in its
// current context or the one named.
func RESTConfig(kubeconfig, kubeContext string) (*rest.Config, error) {
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: kubeContext},
	).ClientConfig()
}
