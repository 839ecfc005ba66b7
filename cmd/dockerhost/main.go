// Command dockerhost makes sure a Docker engine answers and can run kind's
// privileged node containers on this host: it installs Debian's docker.io
// where no engine exists, registers a capability-dropping runc wrapper where
// the host's bounding set needs it (backing daemon.json up first), and starts
// dockerd (through systemd where systemd manages it). Safe to run again.
//
//	dockerhost          # make docker
//	dockerhost -undo    # make docker-undo: daemon.json as it was, dockerd restarted
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/puretasks/k8s-conformance/internal/dockerhost"
)

func main() {
	undo := flag.Bool("undo", false, "restore "+dockerhost.DaemonJSON+" from "+dockerhost.DaemonJSONBackup+" and restart dockerd")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	wd, err := os.Getwd()
	if err == nil {
		if *undo {
			err = dockerhost.Undo(ctx, os.Stderr)
		} else {
			err = dockerhost.Ensure(ctx, dockerhost.Options{
				WrapperSource: "./cmd/runc-capdrop",
				ModuleDir:     wd,
				Log:           os.Stderr,
			})
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dockerhost:", err)
		if ctx.Err() != nil {
			os.Exit(130) // interrupted: as a shell reports SIGINT, so make and CI see it
		}
		os.Exit(1)
	}
}
