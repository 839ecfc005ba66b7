// Command stubimages writes the stub images (todo-backend.tar,
// todo-frontend.tar) to a directory: `go run ./cmd/stubimages -out _build/images`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/puretasks/k8s-conformance/internal/stubimage"
)

func main() {
	out := flag.String("out", "_build/images", "directory for the image archives (env IMAGES_DIR in the Makefile)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	wd, err := os.Getwd()
	if err == nil {
		_, err = stubimage.Build(ctx, wd, *out, os.Stderr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stubimages:", err)
		os.Exit(1)
	}
}
