// Command cluster brings up (or down) a kind cluster for a person to poke at,
// with the same node image and fixture config the live tier uses.
//
//	go run ./cmd/cluster up     # prints the KUBECONFIG to use
//	go run ./cmd/cluster down
//	go run ./cmd/cluster clean  # every cluster a test run kept or left behind
//
// The cluster is named "todo-dev" (not the live tier's prefix, so test runs
// never remove it) and its kubeconfig is _build/kubeconfig-dev.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/puretasks/k8s-conformance/internal/kindcluster"
	"github.com/puretasks/k8s-conformance/internal/nodeimage"
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
		err = clean()
	default:
		err = fmt.Errorf("usage: cluster [-config FILE] up|down|clean")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

func paths() (kubeconfig, data string, err error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", "", err
	}
	return filepath.Join(wd, "_build", "kubeconfig-dev"), filepath.Join(wd, "_build", "dev-data"), nil
}

func up(ctx context.Context, config string) error {
	b, err := nodeimage.NewDefaultBuilder(os.Stderr)
	if err != nil {
		return err
	}
	src, err := nodeimage.ParseSource(os.Getenv("NODE_IMAGE_SOURCE"))
	if err != nil {
		return err
	}
	choice, err := nodeimage.Choose(ctx, os.Getenv("KIND_NODE_IMAGE"), src, b)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "cluster: node image %s (%s)\n", choice.Image, choice.Reason)
	kubeconfig, data, err := paths()
	if err != nil {
		return err
	}
	start := time.Now()
	c, err := kindcluster.Create(ctx, kindcluster.Options{
		Name: name, ConfigFile: config, NodeImage: choice.Image,
		Kubeconfig: kubeconfig, HostDataDir: data, WaitForReady: 2 * time.Minute,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "cluster: %s ready in %s\n  export KUBECONFIG=%s\n", c.Name, time.Since(start).Round(100*time.Millisecond), kubeconfig)
	return nil
}

func down() error {
	kubeconfig, _, err := paths()
	if err != nil {
		return err
	}
	if err := kindcluster.Adopt(name, kubeconfig).Delete(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kindcluster.RemoveKindNetworkIfUnused(ctx); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "cluster: %s deleted\n", name)
	return nil
}

func clean() error {
	if err := kindcluster.DeleteLeftovers(os.Stderr); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return kindcluster.RemoveKindNetworkIfUnused(ctx)
}
