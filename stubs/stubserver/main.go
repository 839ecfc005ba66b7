package stubserver

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"
)

// Main runs a stub: knobs from the environment, port from the spec, SIGTERM
// and SIGINT start the drain. setup adds the service's own endpoints.
func Main(service string, port int32, setup func(*Server, *log.Logger)) {
	logger := log.New(os.Stdout, service+" ", log.LstdFlags|log.Lmicroseconds|log.LUTC)
	k, err := KnobsFromEnv(os.Getenv)
	if err != nil {
		logger.Fatalf("bad knob: %v", err)
	}
	s := New(service, k, logger)
	if setup != nil {
		setup(s, logger)
	}
	addr := fmt.Sprintf(":%d", port)
	if v := os.Getenv("STUB_LISTEN"); v != "" {
		addr = v
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		logger.Fatalf("listen %s: %v", addr, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := s.Serve(ctx, l); err != nil {
		logger.Fatalf("serve: %v", err)
	}
}
