package live

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// The watchdog notices a cluster that vanished mid-run (a janitor deleted
// it, Docker restarted, the OOM killer took a node) and cancels the run's
// context with a cause that says so, so every wait ends within seconds
// instead of running out its deadline against a dead API server.
//
// It ends a run only on hard evidence: node containers Docker reports gone
// or stopped, or an API server that refuses connections. A probe that was
// merely slow, timed out, or got an error answer (a busy machine: two cores
// shared by a build and five node containers) is soft: it neither counts
// towards the end nor resets a streak of hard evidence; an answer that says
// the cluster is there resets it.

// Watchdog timing: a probe every WatchdogEvery, each bounded by
// WatchdogProbeTimeout; WatchdogStrikes hard failures in a row mean gone.
const (
	WatchdogEvery        = time.Second
	WatchdogProbeTimeout = 2 * time.Second
	WatchdogStrikes      = 4
)

// ErrClusterGone is the cause the watchdog cancels the run with.
type ErrClusterGone struct{ Last string }

// ClusterGonePrefix begins ErrClusterGone's text, and so the report note the
// watchdog leaves (the self-test reads it: failures after it are no catches).
const ClusterGonePrefix = "the cluster is gone: "

func (e ErrClusterGone) Error() string {
	return ClusterGonePrefix + e.Last
}

// HealthProbe checks the cluster once: nil while it is alive.
type HealthProbe func(ctx context.Context) error

// ErrNodesGone is hard evidence: Docker answered, and fewer of the run's
// node containers run than the cluster has.
type ErrNodesGone struct {
	Cluster string
	Running []string
	Want    int
}

func (e ErrNodesGone) Error() string {
	return fmt.Sprintf("%d of %d node containers of %s running (%v)", len(e.Running), e.Want, e.Cluster, e.Running)
}

// HardEvidence reports whether a probe's failure proves the cluster gone:
// its node containers are, or its API server's address refuses connections
// (nothing listens there any more). Timeouts, error answers and a Docker CLI
// that did not answer prove nothing.
func HardEvidence(err error) bool {
	var gone ErrNodesGone
	return errors.As(err, &gone) || errors.Is(err, syscall.ECONNREFUSED)
}

// Watch probes until ctx ends; after strikes failures in a row that are hard
// evidence (HardEvidence) it calls cancel with ErrClusterGone naming the
// last one, and returns.
func Watch(ctx context.Context, every, probeTimeout time.Duration, strikes int, probe HealthProbe, cancel context.CancelCauseFunc) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	hard, soft := 0, 0
	for {
		pctx, pcancel := context.WithTimeout(ctx, probeTimeout)
		err := probe(pctx)
		pcancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil:
			hard, soft = 0, 0
		case HardEvidence(err):
			if hard++; hard >= strikes {
				cancel(ErrClusterGone{Last: fmt.Sprintf("%v (%d checks in a row found it gone; %d slow or unclear checks between)", err, hard, soft)})
				return
			}
		default:
			soft++
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// apiReady is a probe of the API server's /readyz.
func (s *Suite) apiReady(ctx context.Context) error {
	_, err := s.Clientset.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("API server /readyz: %w", err)
	}
	return nil
}

// nodesPresent is a probe of the run's kind node containers.
func (s *Suite) nodesPresent(ctx context.Context) error {
	s.mu.Lock()
	c := s.Cluster
	s.mu.Unlock()
	if c == nil || s.Nodes == 0 {
		return nil
	}
	names, err := runningNodeContainers(ctx, c.Name)
	if err != nil {
		return fmt.Errorf("listing node containers: %w", err) // Docker slow: soft
	}
	if len(names) < s.Nodes {
		return ErrNodesGone{Cluster: c.Name, Running: names, Want: s.Nodes}
	}
	return nil
}

func (s *Suite) health(ctx context.Context) error {
	if err := s.nodesPresent(ctx); err != nil {
		return err
	}
	return s.apiReady(ctx)
}

// Gone returns the watchdog's verdict once it has fired, else nil.
func (s *Suite) Gone() error {
	s.mu.Lock()
	ctx := s.runCtx
	s.mu.Unlock()
	if ctx == nil || ctx.Err() == nil {
		return nil
	}
	cause := context.Cause(ctx)
	if _, ok := cause.(ErrClusterGone); ok {
		return cause
	}
	return nil
}

// runningNodeContainers lists the running containers of a kind cluster.
func runningNodeContainers(ctx context.Context, cluster string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "docker", "ps", "--filter", "label="+kindClusterLabel+"="+cluster,
		"--filter", "status=running", "--format", "{{.Names}}").Output()
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(out)), nil
}

// kindClusterLabel is the label kind puts on every node container.
const kindClusterLabel = "io.x-k8s.kind.cluster"
