// Command dockerhost makes sure a Docker engine answers and can run kind's
// privileged node containers on this host: it installs Debian's docker.io
// where no engine exists, registers a capability-dropping runc wrapper where
// the host's bounding set needs it, and starts dockerd. Safe to run again.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/puretasks/k8s-conformance/internal/dockerhost"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dockerhost:", err)
		os.Exit(1)
	}
	err = dockerhost.Ensure(ctx, dockerhost.Options{
		WrapperSource: "./cmd/runc-capdrop",
		ModuleDir:     wd,
		Log:           os.Stderr,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "dockerhost:", err)
		os.Exit(1)
	}
}
