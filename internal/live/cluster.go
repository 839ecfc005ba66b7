package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/puretasks/k8s-conformance/internal/kindcluster"
	"github.com/puretasks/k8s-conformance/internal/nodeimage"
	"github.com/puretasks/k8s-conformance/internal/nodeimage/choice"
	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/stubimage"
)

// BringUp is the one path by which a kind cluster comes up: the suite's own,
// `make selftest`'s shared cluster, `make smoke`'s and `make cluster`'s. So
// each is as good as the others: the same leftover sweep, node-image choice,
// node-side data directory (kindcluster.Create prepares it), waits, and stub
// images in every node.

// UpOptions describe a cluster to bring up.
type UpOptions struct {
	Name       string // kindcluster.NewName() when empty
	ConfigFile string // a kind config under fixtures/kind
	// Kubeconfig and DataDir default to _build/kubeconfig-<name> and
	// _build/<name>-data under ModuleRoot.
	Kubeconfig, DataDir string
	ModuleRoot          string
	ImagesDir           string
	// RebuildStubs builds the stub images even when their archives exist
	// (`make cluster` after a stub change); otherwise only missing ones are.
	RebuildStubs bool
	Node         choice.Request
	Log          io.Writer
	// Announce learns of the cluster before kind creates anything (its
	// handle removes whatever exists of it): the signal trap and the reaper
	// then remove a half-made cluster.
	Announce func(c *kindcluster.Cluster)
	// Phase times each step; nil runs them untimed.
	Phase func(name string, fn func() error) error
	// KeepLeftovers skips the sweep of dead runs' clusters (a run that
	// sweeps them itself, first).
	KeepLeftovers bool
	// DeferCoreDNS returns once the nodes are Ready and the images loaded;
	// the wait for CoreDNS goes on in the background and Up.ClusterDNS
	// answers it. The suite's own run sets it: most checks never resolve a
	// name, and those that do (NewCheck(...).NeedsClusterDNS) wait there,
	// so CoreDNS comes up beside the first applies instead of before them.
	DeferCoreDNS bool
}

// Up is a cluster BringUp made.
type Up struct {
	Cluster   *kindcluster.Cluster
	Nodes     int
	Image     nodeimage.Choice
	Clientset kubernetes.Interface
	// ClusterDNS waits until CoreDNS is Available (at once unless
	// DeferCoreDNS) and returns why it is not; every call gets the same
	// answer.
	ClusterDNS func(context.Context) error
}

// BringUp brings a cluster up: leftovers of dead runs removed (refusing
// beside a live run's cluster: both want host port 30000), stub images,
// node image, cluster, node Ready, CoreDNS Available (in the background
// with DeferCoreDNS, until ctx ends), stub images loaded into every node.
// On an error after the cluster was created, the returned Up still holds
// it, for the caller to remove.
func BringUp(ctx context.Context, o UpOptions) (*Up, error) {
	o.defaults()
	phase := o.Phase
	if phase == nil {
		phase = func(_ string, fn func() error) error { return fn() }
	}
	if !o.KeepLeftovers {
		if err := RemoveLeftovers(o.Log); err != nil {
			return nil, err
		}
	}
	var archives []string
	if err := phase("stub images", func() (err error) { archives, err = o.stubImages(ctx); return err }); err != nil {
		return nil, err
	}
	up := &Up{}
	if err := phase("node image", func() (err error) {
		up.Image, err = choice.Resolve(ctx, o.Log, o.Node)
		return err
	}); err != nil {
		return nil, err
	}
	cfg, err := kindcluster.LoadConfig(o.ConfigFile, o.DataDir)
	if err != nil {
		return nil, err
	}
	up.Nodes = len(cfg.Nodes)
	if o.Announce != nil {
		o.Announce(kindcluster.Adopt(o.Name, o.Kubeconfig).WithDataDir(o.DataDir))
	}
	if err := phase("cluster create", func() (err error) {
		up.Cluster, err = kindcluster.Create(ctx, kindcluster.Options{
			Name: o.Name, ConfigFile: o.ConfigFile, NodeImage: up.Image.Image,
			Kubeconfig: o.Kubeconfig, HostDataDir: o.DataDir,
		})
		return err
	}); err != nil {
		return nil, err
	}
	rc, err := clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	if err != nil {
		return up, err
	}
	if up.Clientset, err = kubernetes.NewForConfig(rc); err != nil {
		return up, err
	}
	// The images go into the nodes' containerd while the nodes get Ready
	// (containerd runs once kind has created them): the load is off the
	// critical path.
	loaded := make(chan error, 1)
	go func() {
		loaded <- phase("image load", func() error { return LoadArchives(up.Cluster, archives, o.Log) })
	}()
	err = phase("node Ready", func() error { return NodesReady(ctx, up.Clientset, up.Nodes) })
	if err == nil {
		up.ClusterDNS = awaitCoreDNS(ctx, up.Clientset, phase)
		if !o.DeferCoreDNS {
			// The wait itself ends with ctx, with its own error (phase and
			// last seen): no second ctx to race it.
			err = up.ClusterDNS(context.Background())
		}
	}
	return up, errors.Join(err, <-loaded)
}

// awaitCoreDNS starts the timed wait for CoreDNS in the background and
// returns its answer: a call waits for it, or for the caller's own ctx.
func awaitCoreDNS(ctx context.Context, cs kubernetes.Interface, phase func(string, func() error) error) func(context.Context) error {
	done := make(chan struct{})
	var err error
	go func() {
		defer close(done)
		err = phase("CoreDNS Available", func() error {
			_, err := WaitDeployment(ctx, cs, "kube-system", "coredns", poll.CoreDNSAvailable)
			return err
		})
	}()
	return func(caller context.Context) error {
		select {
		case <-done:
			return err
		case <-caller.Done():
			return fmt.Errorf("waiting for CoreDNS: %w", context.Cause(caller))
		}
	}
}

func (o *UpOptions) defaults() {
	if o.Name == "" {
		o.Name = kindcluster.NewName()
	}
	if o.Log == nil {
		o.Log = os.Stderr
	}
	build := filepath.Join(o.ModuleRoot, "_build")
	if o.Kubeconfig == "" {
		o.Kubeconfig = filepath.Join(build, "kubeconfig-"+o.Name)
	}
	if o.DataDir == "" {
		o.DataDir = filepath.Join(build, o.Name+"-data")
	}
	if o.ImagesDir == "" {
		o.ImagesDir = filepath.Join(o.ModuleRoot, DefaultImagesDir)
	}
}

// stubImages returns the stub image archives, building them if asked or if
// one is missing.
func (o UpOptions) stubImages(ctx context.Context) ([]string, error) {
	var archives []string
	missing := o.RebuildStubs
	for _, st := range stubimage.Stubs() {
		p := filepath.Join(o.ImagesDir, st.ArchiveName())
		archives = append(archives, p)
		if _, err := os.Stat(p); err != nil {
			missing = true
		}
	}
	if missing {
		fmt.Fprintf(o.Log, "live: building the stub images into %s\n", o.ImagesDir)
		if _, err := stubimage.Build(ctx, o.ModuleRoot, o.ImagesDir, o.Log); err != nil {
			return nil, fmt.Errorf("stub images: %w", err)
		}
	}
	return archives, nil
}

// ArchiveLoader is the part of a kind cluster LoadArchives needs.
type ArchiveLoader interface {
	LoadImageArchive(path string) error
}

// LoadArchives imports every stub image archive into every node (all at
// once), so the
// manifests' images are present (they are never pulled: there is no
// registry).
func LoadArchives(c ArchiveLoader, archives []string, log io.Writer) error {
	if len(archives) == 0 {
		return fmt.Errorf("no stub image archive to load")
	}
	errs := make([]error, len(archives))
	var wg sync.WaitGroup
	for i, a := range archives {
		wg.Go(func() {
			start := time.Now()
			if err := c.LoadImageArchive(a); err != nil {
				errs[i] = fmt.Errorf("loading stub image %s: %w", filepath.Base(a), err)
				return
			}
			fmt.Fprintf(log, "live: loaded %s in %s\n", filepath.Base(a), time.Since(start).Round(100*time.Millisecond))
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// RemoveLeftovers deletes clusters of earlier runs that are gone
// (kindcluster.DeleteLeftovers, the one path `make cluster-clean` uses too),
// and refuses to go on beside one whose run is alive: both want host port
// 30000.
func RemoveLeftovers(log io.Writer) error {
	live, err := kindcluster.DeleteLeftovers(log)
	if err != nil {
		return err
	}
	if len(live) > 0 {
		return fmt.Errorf("kind cluster %s belongs to a live run; wait for it or stop it", live[0])
	}
	return nil
}

// DeleteRunCluster removes a run's kind cluster, its kubeconfig and data dir,
// and kind's network once unused (kindcluster.Remove). The run's Cleanup and
// the reaper share it.
func DeleteRunCluster(ctx context.Context, name, kubeconfig, dataDir string) error {
	return kindcluster.Remove(ctx, name, kubeconfig, dataDir)
}
