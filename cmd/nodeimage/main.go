// Command nodeimage chooses, and if needed builds, the kind node image the
// live tier runs on, and prints its reference on stdout.
//
//	go run ./cmd/nodeimage                 # auto: named > hermetic present > upstream pull > build
//	go run ./cmd/nodeimage -source hermetic
//	KIND_NODE_IMAGE=my/node:tag go run ./cmd/nodeimage
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"

	"github.com/puretasks/k8s-conformance/internal/nodeimage"
)

func main() {
	source := flag.String("source", os.Getenv("NODE_IMAGE_SOURCE"), "auto, hermetic or upstream (env NODE_IMAGE_SOURCE)")
	named := flag.String("image", os.Getenv("KIND_NODE_IMAGE"), "use this node image as is (env KIND_NODE_IMAGE)")
	printRef := flag.Bool("print-ref", false, "print the hermetic recipe's image reference and exit")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *source, *named, *printRef); err != nil {
		fmt.Fprintln(os.Stderr, "nodeimage:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, source, named string, printRef bool) error {
	src, err := nodeimage.ParseSource(source)
	if err != nil {
		return err
	}
	b, err := nodeimage.NewDefaultBuilder(os.Stderr)
	if err != nil {
		return err
	}
	if printRef {
		ref, err := b.ImageRef()
		if err != nil {
			return err
		}
		fmt.Println(ref)
		return nil
	}
	choice, err := nodeimage.Choose(ctx, named, src, b)
	if err != nil {
		return err
	}
	if len(b.Timing) > 0 {
		tw := tabwriter.NewWriter(os.Stderr, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "stage\tduration\tcache")
		for _, t := range b.Timing {
			cache := "miss"
			if t.CacheHit {
				cache = "hit"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Stage, t.Duration.Round(100_000_000), cache)
		}
		tw.Flush()
	}
	fmt.Fprintf(os.Stderr, "nodeimage: using %s (%s)\n", choice.Image, choice.Reason)
	fmt.Println(choice.Image)
	return nil
}
