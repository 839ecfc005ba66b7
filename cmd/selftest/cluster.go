package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/puretasks/k8s-conformance/internal/kindcluster"
	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/nodeimage"
	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/selftest"
	"github.com/puretasks/k8s-conformance/internal/stubimage"
)

// sharedCluster is the one kind cluster every mutant runs in: created as the
// live tier creates its own (node image, fixture config, stub images loaded),
// named with this process's PID so `make cluster-clean` and the suite's
// leftover sweep leave it alone while the self-test runs.
type sharedCluster struct {
	cluster    *kindcluster.Cluster
	kubeconfig string
	dataDir    string
}

func createCluster(ctx context.Context, root string, log io.Writer) (*sharedCluster, error) {
	imagesDir := envOr("IMAGES_DIR", filepath.Join(root, "_build", "images"))
	var archives []string
	missing := false
	for _, st := range stubimage.Stubs() {
		p := filepath.Join(imagesDir, st.ArchiveName())
		archives = append(archives, p)
		if _, err := os.Stat(p); err != nil {
			missing = true
		}
	}
	if missing {
		fmt.Fprintf(log, "selftest: building the stub images into %s\n", imagesDir)
		if _, err := stubimage.Build(ctx, root, imagesDir, log); err != nil {
			return nil, err
		}
	}
	src, err := nodeimage.ParseSource(os.Getenv("NODE_IMAGE_SOURCE"))
	if err != nil {
		return nil, err
	}
	b, err := nodeimage.NewDefaultBuilder(log)
	if err != nil {
		return nil, err
	}
	image, err := nodeimage.Choose(ctx, os.Getenv("KIND_NODE_IMAGE"), src, b)
	if err != nil {
		return nil, err
	}
	name := kindcluster.NewName() // todoconf-<pid>-<hex>: the leftover sweep spares it while we live
	sc := &sharedCluster{
		kubeconfig: filepath.Join(root, "_build", "kubeconfig-"+name),
		dataDir:    filepath.Join(root, "_build", name+"-data"),
	}
	// The PV's hostPath is /mnt/data/uploads; the stubs run as non-root.
	uploads := filepath.Join(sc.dataDir, "uploads")
	if err := os.MkdirAll(uploads, 0o777); err != nil {
		return nil, err
	}
	if err := os.Chmod(uploads, 0o777); err != nil {
		return nil, err
	}
	config := envOr("E2E_KIND_CONFIG", filepath.Join(root, "fixtures", "kind", "multi-node.yaml"))
	cfg, err := kindcluster.LoadConfig(config, sc.dataDir)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "selftest: creating cluster %s (%d nodes, %s, node image %s)\n", name, len(cfg.Nodes), filepath.Base(config), image.Image)
	sc.cluster = kindcluster.Adopt(name, sc.kubeconfig) // known before create, so Ctrl-C can remove it
	c, err := kindcluster.Create(ctx, kindcluster.Options{Name: name, ConfigFile: config, NodeImage: image.Image, Kubeconfig: sc.kubeconfig, HostDataDir: sc.dataDir})
	if err != nil {
		return sc, err
	}
	sc.cluster = c
	cs, err := clientset(sc.kubeconfig)
	if err != nil {
		return sc, err
	}
	if err := live.NodesReady(ctx, cs, len(cfg.Nodes)); err != nil {
		return sc, err
	}
	if _, err := live.WaitDeployment(ctx, cs, "kube-system", "coredns", poll.CoreDNSAvailable); err != nil {
		return sc, err
	}
	for _, a := range archives {
		if err := c.LoadImageArchive(a); err != nil {
			return sc, err
		}
	}
	// Each mutant's run checks the nodes' reported images before it starts:
	// wait until the kubelets report the loaded ones.
	var last error
	err = poll.Until(ctx, selftest.ImagesReported, func(ctx context.Context) (bool, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			last = err
			return false, nil
		}
		last = live.MissingImages(nodes.Items, stubimage.Stubs(), imagesDir)
		return last == nil, nil
	})
	if err != nil {
		return sc, fmt.Errorf("%w; last seen: %v", err, last)
	}
	return sc, nil
}

// delete removes the cluster, its kubeconfig, its data directory and the
// kind network once unused. Safe on a half-created cluster.
func (sc *sharedCluster) delete(ctx context.Context) error {
	if sc == nil || sc.cluster == nil {
		return nil
	}
	var errs []error
	errs = append(errs, sc.cluster.Delete())
	errs = append(errs, kindcluster.RemoveKindNetworkIfUnused(ctx))
	errs = append(errs, os.RemoveAll(sc.dataDir))
	if err := os.Remove(sc.kubeconfig); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
