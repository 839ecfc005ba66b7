// Command nodeimage chooses, and if needed builds, the kind node image the
// live tier runs on, and prints its reference on stdout. The choice is
// internal/nodeimage/choice's, the same the live tier, cmd/cluster and the
// smoke test make.
//
//	go run ./cmd/nodeimage                 # auto: named > hermetic present > upstream present > upstream pull > build
//	go run ./cmd/nodeimage -source hermetic
//	KIND_NODE_IMAGE=my/node:tag go run ./cmd/nodeimage
//	K8S_VERSION=1.37 go run ./cmd/nodeimage   # another supported release (internal/kubeversion)
//
// The image is that of the target Kubernetes release (K8S_VERSION, default
// kubeversion.Default): its hermetic build, or the upstream kindest/node of
// the same minor.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/puretasks/k8s-conformance/internal/nodeimage"
	"github.com/puretasks/k8s-conformance/internal/nodeimage/choice"
)

func main() {
	env := choice.FromEnv()
	var req choice.Request
	flag.StringVar(&req.Source, "source", env.Source, "auto, hermetic or upstream (env "+choice.EnvSource+")")
	flag.StringVar(&req.Image, "image", env.Image, "use this node image as is (env "+choice.EnvImage+")")
	printRef := flag.Bool("print-ref", false, "print the hermetic recipe's image reference and exit")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, req, *printRef); err != nil {
		fmt.Fprintln(os.Stderr, "nodeimage:", err)
		if ctx.Err() != nil {
			os.Exit(130) // interrupted: as a shell reports SIGINT, so make and CI see it
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, req choice.Request, printRef bool) error {
	if printRef {
		b, err := nodeimage.NewDefaultBuilder(os.Stderr)
		if err != nil {
			return err
		}
		ref, err := b.ImageRef()
		if err != nil {
			return err
		}
		fmt.Println(ref)
		return nil
	}
	c, err := choice.Resolve(ctx, os.Stderr, req)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "nodeimage: using %s\nnodeimage: because %s\n", c.Image, c.Reason)
	fmt.Println(c.Image)
	return nil
}
