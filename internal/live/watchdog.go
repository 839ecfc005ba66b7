package live

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// The watchdog notices a cluster that vanished mid-run (a janitor deleted
// it, Docker restarted, the OOM killer took a node) and cancels the run's
// context with a cause that says so, so every wait ends within seconds
// instead of running out its deadline against a dead API server.

// Watchdog timing: a probe every WatchdogEvery, each bounded by
// WatchdogProbeTimeout; WatchdogStrikes failures in a row mean gone.
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

// Watch probes until ctx ends; after strikes failures in a row it calls
// cancel with ErrClusterGone naming the last failure, and returns.
func Watch(ctx context.Context, every, probeTimeout time.Duration, strikes int, probe HealthProbe, cancel context.CancelCauseFunc) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	failed := 0
	for {
		pctx, pcancel := context.WithTimeout(ctx, probeTimeout)
		err := probe(pctx)
		pcancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			failed = 0
		} else if failed++; failed >= strikes {
			cancel(ErrClusterGone{Last: fmt.Sprintf("%v (%d checks in a row over %s)", err, failed, time.Duration(failed)*every)})
			return
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
		return fmt.Errorf("listing node containers: %w", err)
	}
	if len(names) < s.Nodes {
		return fmt.Errorf("%d of %d node containers of %s running (%v)", len(names), s.Nodes, c.Name, names)
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
