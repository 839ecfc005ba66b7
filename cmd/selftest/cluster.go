package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/puretasks/k8s-conformance/internal/kindcluster"
	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/nodeimage/choice"
	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/selftest"
	"github.com/puretasks/k8s-conformance/internal/stubimage"
)

// sharedCluster is the one kind cluster every mutant runs in, brought up by
// the live tier's own path (live.BringUp: leftover sweep, node-image choice,
// node-side data dir, stub images loaded), named with this process's PID and
// holding its run lock, so `make cluster-clean` and the suite's leftover
// sweep leave it alone while the self-test runs, and announced to a reaper,
// so a killed self-test does not leak it.
type sharedCluster struct {
	cluster    *kindcluster.Cluster
	kubeconfig string
}

func createCluster(ctx context.Context, root string, reaper *live.Reaper, log io.Writer) (*sharedCluster, error) {
	imagesDir := envOr("IMAGES_DIR", filepath.Join(root, live.DefaultImagesDir))
	config := envOr("E2E_KIND_CONFIG", filepath.Join(root, "fixtures", "kind", "multi-node.yaml"))
	sc := &sharedCluster{}
	up, err := live.BringUp(ctx, live.UpOptions{
		ConfigFile: config, ModuleRoot: root, ImagesDir: imagesDir, Node: choice.FromEnv(), Log: log,
		Announce: func(c *kindcluster.Cluster) {
			sc.cluster, sc.kubeconfig = c, c.Kubeconfig // known before create, so Ctrl-C can remove it
			reaper.Cluster(c.Name, c.Kubeconfig, c.DataDir)
			fmt.Fprintf(log, "selftest: creating cluster %s (%s)\n", c.Name, filepath.Base(config))
		},
	})
	if up != nil && up.Cluster != nil {
		sc.cluster = up.Cluster
	}
	if err != nil {
		return sc, err
	}
	// Each mutant's run checks the nodes' reported images before it starts:
	// wait until the kubelets report the loaded ones.
	var last error
	err = poll.Until(ctx, selftest.ImagesReported, func(ctx context.Context) (bool, error) {
		nodes, err := up.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
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
// kind network once unused (kindcluster.Remove). Safe on a half-created
// cluster.
func (sc *sharedCluster) delete(context.Context) error {
	if sc == nil || sc.cluster == nil {
		return nil
	}
	return sc.cluster.Delete()
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
