// Package kindcluster drives kind as a Go library: create a cluster from a
// fixture config with a dedicated kubeconfig, load image archives into every
// node, export logs, delete, and remove clusters a crashed run left behind
// (leftovers.go).
package kindcluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"
	kindcmd "sigs.k8s.io/kind/pkg/cmd"
	"sigs.k8s.io/yaml"

	"github.com/puretasks/k8s-conformance/internal/poll"
)

// NamePrefix starts the name of every cluster this project creates, so a
// later run can recognise (and remove) what a crashed one left behind.
const NamePrefix = "todoconf-"

// Placeholders in fixture configs: the run's data dir, and the kubeadm
// patches directory beside the config (kind mounts need absolute paths).
const (
	hostDataPlaceholder = "HOST_DATA_DIR"
	patchesPlaceholder  = "KUBEADM_PATCHES_DIR"
	patchesDir          = "kubeadm-patches"
)

// Options describe a cluster to create.
type Options struct {
	Name       string // NewName() when empty
	ConfigFile string // a kind config under fixtures/kind
	NodeImage  string
	// Kubeconfig is where kind writes the cluster's kubeconfig; it never
	// touches ~/.kube/config.
	Kubeconfig string
	// HostDataDir is mounted at /mnt/data in every node.
	HostDataDir string
	// WaitForReady bounds kind's own wait for the control plane.
	WaitForReady time.Duration
}

// Cluster is a kind cluster this process created or adopted.
type Cluster struct {
	Name       string
	Kubeconfig string
	// DataDir is the host directory the nodes mount at /mnt/data; Delete
	// removes it ("" for none).
	DataDir  string
	provider *cluster.Provider
	lock     *RunLock
}

// NewName returns a fresh cluster name that carries this process's PID
// (todoconf-<pid>-<hex>), so DeleteLeftovers can tell a live run's cluster
// from one a crashed run left behind.
func NewName() string { return NameFor(os.Getpid(), fmt.Sprintf("%04x", rand.IntN(1<<16))) }

// NameFor is the name of a cluster owned by the process pid; suffix tells
// clusters of one process apart ("smoke", a random hex).
func NameFor(pid int, suffix string) string { return fmt.Sprintf("%s%d-%s", NamePrefix, pid, suffix) }

func provider() *cluster.Provider {
	return cluster.NewProvider(cluster.ProviderWithDocker(), cluster.ProviderWithLogger(kindcmd.NewLogger()))
}

// LoadConfig reads a fixture config and fills in the run's values.
func LoadConfig(path, hostDataDir string) (*v1alpha4.Cluster, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kind config: %w", err)
	}
	abs, err := filepath.Abs(filepath.Join(filepath.Dir(path), patchesDir))
	if err != nil {
		return nil, err
	}
	raw = []byte(strings.NewReplacer(hostDataPlaceholder, hostDataDir, patchesPlaceholder, abs).Replace(string(raw)))
	cfg := &v1alpha4.Cluster{}
	if err := yaml.UnmarshalStrict(raw, cfg); err != nil {
		return nil, fmt.Errorf("kind config %s: %w", path, err)
	}
	v1alpha4.SetDefaultsCluster(cfg)
	return cfg, nil
}

// HostPorts lists the host ports a config maps, with their listen addresses.
func HostPorts(cfg *v1alpha4.Cluster) []string {
	var out []string
	for _, n := range cfg.Nodes {
		for _, m := range n.ExtraPortMappings {
			addr := m.ListenAddress
			if addr == "" {
				addr = "0.0.0.0"
			}
			out = append(out, net.JoinHostPort(addr, fmt.Sprint(m.HostPort)))
		}
	}
	return out
}

// PreflightPorts fails within a second if a host port the config maps is
// already taken, naming it, instead of letting docker fail mid-create.
func PreflightPorts(cfg *v1alpha4.Cluster) error {
	for _, hp := range HostPorts(cfg) {
		l, err := net.Listen("tcp", hp)
		if err != nil {
			return fmt.Errorf("host port %s is already in use (another kind cluster or server?): %w", hp, err)
		}
		l.Close()
	}
	return nil
}

// Create creates the cluster. On failure the partial cluster is deleted.
func Create(ctx context.Context, o Options) (*Cluster, error) {
	if o.Name == "" {
		o.Name = NewName()
	}
	if o.Kubeconfig == "" {
		return nil, errors.New("kindcluster: a dedicated Kubeconfig path is required")
	}
	if o.HostDataDir == "" {
		return nil, errors.New("kindcluster: a HostDataDir is required")
	}
	if err := os.MkdirAll(filepath.Dir(o.Kubeconfig), 0o755); err != nil {
		return nil, err
	}
	cfg, err := LoadConfig(o.ConfigFile, o.HostDataDir)
	if err != nil {
		return nil, err
	}
	if err := PreflightPorts(cfg); err != nil {
		return nil, err
	}
	// Every creation path prepares the node side the same way (the PV's
	// uploads directory, the run lock and record): a cluster from
	// `make cluster` is then as good as the suite's own.
	lock, err := PrepareDataDir(o.HostDataDir, RunRecord{Cluster: o.Name, Kubeconfig: o.Kubeconfig})
	if err != nil {
		return nil, err
	}
	c := &Cluster{Name: o.Name, Kubeconfig: o.Kubeconfig, DataDir: o.HostDataDir, provider: provider(), lock: lock}
	done := make(chan error, 1)
	go func() {
		done <- c.provider.Create(o.Name,
			cluster.CreateWithV1Alpha4Config(cfg),
			cluster.CreateWithNodeImage(o.NodeImage),
			cluster.CreateWithKubeconfigPath(o.Kubeconfig),
			cluster.CreateWithWaitForReady(o.WaitForReady),
			cluster.CreateWithDisplayUsage(false),
			cluster.CreateWithDisplaySalutation(false),
		)
	}()
	// kind's Create takes no context: on cancellation, delete what exists so
	// far (kind's create then fails on its own) and wait for it to return.
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = c.Delete()
		err = <-done
		if err == nil {
			err = ctx.Err()
		}
	}
	if err != nil {
		_ = c.Delete()
		return nil, fmt.Errorf("kind create cluster %s (image %s): %w", o.Name, o.NodeImage, err)
	}
	return c, nil
}

// ReleaseLock gives up the run lock without deleting the cluster: a cluster
// kept for a person (`cmd/cluster up`) outlives the process that made it.
func (c *Cluster) ReleaseLock() { c.lock.Release() }

// Exists reports whether a kind cluster of that name exists.
func Exists(name string) (bool, error) {
	names, err := provider().List()
	if err != nil {
		return false, fmt.Errorf("listing kind clusters: %w", err)
	}
	return slices.Contains(names, name), nil
}

// Adopt returns a handle on an existing kind cluster (for cleanup); its
// data directory, when it has one, is set with WithDataDir.
func Adopt(name, kubeconfig string) *Cluster {
	return &Cluster{Name: name, Kubeconfig: kubeconfig, provider: provider()}
}

// WithDataDir sets the data directory Delete removes.
func (c *Cluster) WithDataDir(dir string) *Cluster {
	c.DataDir = dir
	return c
}

// Nodes returns the names of the cluster's node containers.
func (c *Cluster) Nodes() ([]string, error) {
	nodes, err := c.provider.ListInternalNodes(c.Name)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, n := range nodes {
		names = append(names, n.String())
	}
	return names, nil
}

// LoadImageArchive imports a docker-archive tarball into every node's containerd.
func (c *Cluster) LoadImageArchive(path string) error {
	nodes, err := c.provider.ListInternalNodes(c.Name)
	if err != nil {
		return err
	}
	// Every node at once, as `kind load image-archive` does: each import
	// reads its own copy of the archive.
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Go(func() {
			f, err := os.Open(path)
			if err != nil {
				errs[i] = err
				return
			}
			defer f.Close()
			if err := nodeutils.LoadImageArchive(n, f); err != nil {
				errs[i] = fmt.Errorf("loading %s into %s: %w", filepath.Base(path), n, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// ExportLogs writes kind's log bundle (journals, containerd, pods) to dir.
func (c *Cluster) ExportLogs(dir string) error {
	return c.provider.CollectLogs(c.Name, dir)
}

// Delete removes everything the cluster is (Remove) within two minutes,
// and drops the run lock. It is idempotent.
func (c *Cluster) Delete() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := Remove(ctx, c.Name, c.Kubeconfig, c.DataDir)
	c.lock.Release()
	return err
}

// Remove is the one removal path of a cluster, whoever removes it (the run's
// teardown, its reaper, the janitor, `cmd/cluster down`): the node
// containers, swept by kind's label until none is left (a create still in
// flight may start one after kind's delete), kind's network once unused, the
// kubeconfig and the data directory ("" for either: none). Already gone is
// fine.
func Remove(ctx context.Context, name, kubeconfig, dataDir string) error {
	// The kubeconfig goes first and whole: kind's delete then edits no file
	// (given none it would edit ~/.kube/config; given an unreadable one it
	// would fail before deleting anything).
	errs := []error{removeFiles(kubeconfig, "")}
	tmp, err := os.MkdirTemp("", "kindcluster-remove-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// kind's delete can fail on containers that are still being created
	// (a run interrupted during cluster create): the loop below removes
	// what is left, and kind's error counts only if something stays.
	kindErr := provider().Delete(name, filepath.Join(tmp, "kubeconfig"))
	var last string
	if err := poll.Until(ctx, poll.DockerStop, func(ctx context.Context) (bool, error) {
		ids, err := containerIDs(ctx, name)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		if len(ids) == 0 {
			return true, nil
		}
		last = fmt.Sprintf("%d container(s) left", len(ids))
		if out, err := exec.CommandContext(ctx, "docker", append([]string{"rm", "-f", "-v"}, ids...)...).CombinedOutput(); err != nil {
			last = fmt.Sprintf("docker rm: %v: %s", err, out)
		}
		return false, nil
	}); err != nil {
		errs = append(errs, fmt.Errorf("node containers of %s: %w; last seen: %s", name, err, last), kindErr)
	}
	errs = append(errs, RemoveKindNetworkIfUnused(ctx), removeFiles("", dataDir))
	return errors.Join(errs...)
}

// removeFiles removes a cluster's kubeconfig and data directory.
func removeFiles(kubeconfig, dataDir string) error {
	var errs []error
	if dataDir != "" {
		errs = append(errs, os.RemoveAll(dataDir))
	}
	if kubeconfig != "" {
		if err := os.Remove(kubeconfig); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func containerIDs(ctx context.Context, cluster string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "docker", "ps", "-aq", "--filter", "label="+ClusterLabel+"="+cluster).Output()
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(out)), nil
}

// RemoveKindNetworkIfUnused deletes the `kind` docker network kind creates
// and never removes, once no container uses it.
func RemoveKindNetworkIfUnused(ctx context.Context) error {
	out, err := exec.CommandContext(ctx, "docker", "network", "inspect", "kind", "--format", "{{len .Containers}}").Output()
	if err != nil {
		return nil // no such network
	}
	if strings.TrimSpace(string(out)) != "0" {
		return nil
	}
	if out, err := exec.CommandContext(ctx, "docker", "network", "rm", "kind").CombinedOutput(); err != nil {
		return fmt.Errorf("docker network rm kind: %v: %s", err, out)
	}
	return nil
}
