// Command cluster brings up (or down) a kind cluster for a person to poke at
// and run the live tier against, one selected check at a time:
//
//	go run ./cmd/cluster up     # node image, cluster, stub images loaded; prints the KUBECONFIG
//	go run ./cmd/cluster down
//	go run ./cmd/cluster clean  # every cluster a test run kept or left behind, unless its run is alive
//
// `up` brings the cluster up by the live tier's own path (live.BringUp), so
// it is as good as the suite's: the same node-side data dir (the PV's
// uploads directory writable by the stubs), waits and images. The node
// image is chosen as the live tier chooses it (internal/nodeimage/choice:
// KIND_NODE_IMAGE, NODE_IMAGE_SOURCE). The kind config is -config,
// single-node by default, which is faster than the live tier's default
// (multi-node, E2E_KIND_CONFIG); on one node the probe and scale checks report
// that it cannot hold them. The stub images are built into IMAGES_DIR
// (default _build/images) and loaded into every node, so
//
//	E2E_KUBECONFIG=_build/kubeconfig-dev go test ./e2e -tags e2e -args --feature L-DNS
//
// runs right after `up`. Running `up` again on an existing cluster reloads
// the stub images (after a stub change) and touches nothing else.
//
// The cluster is named "todo-dev", not with the live tier's prefix, so test
// runs and `clean` never remove it; its kubeconfig is _build/kubeconfig-dev.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/puretasks/k8s-conformance/internal/kindcluster"
	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/nodeimage/choice"
	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/stubimage"
)

const name = "todo-dev"

func main() {
	// This binary is also its own reaper (live.StartReaper re-executes it):
	// an `up` killed mid-create leaves no half-made cluster.
	if live.IsReaper() {
		os.Exit(live.RunReaper())
	}
	config := flag.String("config", "fixtures/kind/single-node.yaml", "kind config fixture")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch flag.Arg(0) {
	case "up":
		err = up(ctx, *config)
	case "down":
		err = down()
	case "clean":
		err = clean(os.Stderr)
	default:
		err = fmt.Errorf("usage: cluster [-config FILE] up|down|clean")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

type paths struct {
	root, kubeconfig, data, images string
}

func pathsFromWD() (paths, error) {
	wd, err := os.Getwd()
	if err != nil {
		return paths{}, err
	}
	images := os.Getenv("IMAGES_DIR")
	if images == "" {
		images = filepath.Join(wd, "_build", "images")
	}
	return paths{
		root:       wd,
		kubeconfig: filepath.Join(wd, "_build", "kubeconfig-dev"),
		data:       filepath.Join(wd, "_build", "dev-data"),
		images:     images,
	}, nil
}

func up(ctx context.Context, config string) error {
	p, err := pathsFromWD()
	if err != nil {
		return err
	}
	exists, err := kindcluster.Exists(name)
	if err != nil {
		return err
	}
	if exists {
		fmt.Fprintf(os.Stderr, "cluster: %s exists: reloading the stub images only\n", name)
		stubs, err := stubimage.Build(ctx, p.root, p.images, os.Stderr)
		if err != nil {
			return fmt.Errorf("stub images: %w", err)
		}
		if err := loadStubs(kindcluster.Adopt(name, p.kubeconfig), stubs, os.Stderr); err != nil {
			return err
		}
	} else if err := create(ctx, p, config); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "cluster: %s ready\n  export KUBECONFIG=%s\n  E2E_KUBECONFIG=%s go test ./e2e -tags e2e -args --feature L-DNS\n",
		name, p.kubeconfig, p.kubeconfig)
	return nil
}

// create brings the cluster up by the suite's own path (live.BringUp), so it
// is as good as the one `make conformance` makes. A reaper removes it if
// this process dies before it is ready; once ready it is the person's, and
// outlives this process.
func create(ctx context.Context, p paths, config string) error {
	reaper, err := live.StartReaper()
	if err != nil {
		fmt.Fprintf(os.Stderr, "cluster: no reaper (%v): a killed `up` may leave a half-made cluster for `down`\n", err)
	}
	start := time.Now()
	up, err := live.BringUp(ctx, live.UpOptions{
		Name: name, ConfigFile: config, Kubeconfig: p.kubeconfig, DataDir: p.data,
		ModuleRoot: p.root, ImagesDir: p.images, RebuildStubs: true, Node: choice.FromEnv(), Log: os.Stderr,
		Announce: func(c *kindcluster.Cluster) { reaper.Cluster(c.Name, c.Kubeconfig, c.DataDir) },
	})
	if err != nil {
		if up != nil && up.Cluster != nil {
			if derr := up.Cluster.Delete(); derr != nil {
				fmt.Fprintf(os.Stderr, "cluster: removing the half-made cluster: %v\n", derr)
				return err // the reaper, not told "done", tries again
			}
		}
		return errors.Join(err, reaper.Done())
	}
	fmt.Fprintf(os.Stderr, "cluster: %s (node image %s, %s) up in %s\n", name, up.Image.Image, up.Image.Reason, time.Since(start).Round(100*time.Millisecond))
	up.Cluster.ReleaseLock()
	return reaper.Done()
}

// archiveLoader is the part of a kind cluster loadStubs needs.
type archiveLoader interface {
	LoadImageArchive(path string) error
}

// loadStubs imports every stub image into every node of the cluster, so the
// manifests' todo-backend and todo-frontend images are present (they are
// never pulled: there is no registry).
func loadStubs(c archiveLoader, stubs []stubimage.Result, log io.Writer) error {
	if len(stubs) == 0 {
		return fmt.Errorf("no stub image was built")
	}
	for _, s := range stubs {
		start := time.Now()
		if err := c.LoadImageArchive(s.Path); err != nil {
			return fmt.Errorf("loading stub image %s: %w", s.Tag, err)
		}
		fmt.Fprintf(log, "cluster: loaded %s (%s) in %s\n", s.Tag, s.Digest, time.Since(start).Round(100*time.Millisecond))
	}
	return nil
}

func down() error {
	p, err := pathsFromWD()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The one removal path: the node containers, kind's network once unused,
	// the kubeconfig and the nodes' host data dir (the PV's hostPath).
	if err := kindcluster.Remove(ctx, name, p.kubeconfig, p.data); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "cluster: %s deleted\n", name)
	return nil
}

// clean is CI's janitor: it removes what dead runs left and leaves a live
// run's cluster alone (kindcluster.DeleteLeftovers holds the guard).
func clean(log io.Writer) error {
	live, err := kindcluster.DeleteLeftovers(log)
	if err != nil {
		return err
	}
	if len(live) > 0 {
		fmt.Fprintf(log, "cluster: %d cluster(s) of live runs left alone; they remove their own\n", len(live))
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), poll.DockerStop.Timeout)
	defer cancel()
	return kindcluster.RemoveKindNetworkIfUnused(ctx)
}
