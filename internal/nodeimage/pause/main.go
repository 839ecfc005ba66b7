// Command pause is the pod sandbox's placeholder process: it holds the pod's
// namespaces and exits on SIGINT or SIGTERM. It replaces registry.k8s.io/pause,
// which cannot be pulled here.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	// As PID 1 of the sandbox, orphaned children are re-parented here; the
	// kernel reaps them when SIGCHLD is ignored.
	signal.Ignore(syscall.SIGCHLD)
	<-sig
}
