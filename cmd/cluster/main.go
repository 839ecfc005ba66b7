// Command cluster brings up (or down) a kind cluster for a person to poke at
// and run the live tier against, one selected check at a time:
//
//	go run ./cmd/cluster up     # node image, cluster, stub images loaded; prints the KUBECONFIG
//	go run ./cmd/cluster down
//	go run ./cmd/cluster clean  # every cluster a test run kept or left behind, unless its run is alive
//
// The node image is chosen as the live tier chooses it (internal/nodeimage/
// choice: KIND_NODE_IMAGE, NODE_IMAGE_SOURCE). The kind config is -config,
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
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/puretasks/k8s-conformance/internal/kindcluster"
	"github.com/puretasks/k8s-conformance/internal/nodeimage/choice"
	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/stubimage"
)

const name = "todo-dev"

func main() {
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
	// The stubs first: a compile error shows in seconds, before a cluster exists.
	stubs, err := stubimage.Build(ctx, p.root, p.images, os.Stderr)
	if err != nil {
		return fmt.Errorf("stub images: %w", err)
	}
	exists, err := kindcluster.Exists(name)
	if err != nil {
		return err
	}
	c := kindcluster.Adopt(name, p.kubeconfig)
	if exists {
		fmt.Fprintf(os.Stderr, "cluster: %s exists: reloading the stub images only\n", name)
	} else {
		img, err := choice.Resolve(ctx, os.Stderr, choice.FromEnv())
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "cluster: node image %s (%s)\n", img.Image, img.Reason)
		start := time.Now()
		c, err = kindcluster.Create(ctx, kindcluster.Options{
			Name: name, ConfigFile: config, NodeImage: img.Image,
			Kubeconfig: p.kubeconfig, HostDataDir: p.data, WaitForReady: poll.NodeReady.Timeout,
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "cluster: %s created in %s\n", c.Name, time.Since(start).Round(100*time.Millisecond))
	}
	if err := loadStubs(c, stubs, os.Stderr); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "cluster: %s ready\n  export KUBECONFIG=%s\n  E2E_KUBECONFIG=%s go test ./e2e -tags e2e -args --feature L-DNS\n",
		name, p.kubeconfig, p.kubeconfig)
	return nil
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
	if err := kindcluster.Adopt(name, p.kubeconfig).Delete(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), poll.DockerStop.Timeout)
	defer cancel()
	if err := kindcluster.RemoveKindNetworkIfUnused(ctx); err != nil {
		return err
	}
	// The nodes' host data dir (the PV's hostPath lives there) goes with the
	// cluster, as the live tier's own teardown removes its data dir.
	if err := os.RemoveAll(p.data); err != nil {
		return fmt.Errorf("removing the dev cluster's data dir: %w", err)
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
