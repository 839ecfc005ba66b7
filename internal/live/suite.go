package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/pkg/envconf"

	"github.com/puretasks/k8s-conformance/internal/dockerhost"
	"github.com/puretasks/k8s-conformance/internal/kindcluster"
	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/nodeimage/choice"
	"github.com/puretasks/k8s-conformance/internal/report"
)

// Suite is one live run: settings, the manifests under test, the cluster and
// its clients, and the report.
type Suite struct {
	Settings
	Report      *report.Report
	Sets        map[manifests.Profile]*manifests.Set
	FakeSecret  map[string]string
	Cluster     *kindcluster.Cluster
	Kubeconfig  string
	HostDataDir string
	Nodes       int
	Clientset   kubernetes.Interface
	Client      client.Client
	Log         io.Writer

	mu          sync.Mutex
	started     time.Time
	setupErr    error
	finishErr   error
	cleanupOnce sync.Once
	cleanupErr  error
	reaper      *Reaper
	cfg         *envconf.Config
	readyOnce   sync.Once
	readyErr    error
	// What the run created on an existing cluster, removed at its end.
	createdNamespaces, createdPVs []string
	runCtx                        context.Context
	stopWatch                     context.CancelCauseFunc
	// clusterDNS is the bring-up's deferred CoreDNS wait (nil on an
	// existing cluster, whose DNS is taken as it is).
	clusterDNS func(context.Context) error
}

// NewSuite reads the settings; a bad setting is reported by Setup. The
// reaper (nil in unit tests) learns of everything the run creates.
func NewSuite(reaper *Reaper) *Suite {
	s := &Suite{Report: report.New(), Log: os.Stderr, started: time.Now(), reaper: reaper}
	st, err := FromEnv()
	s.Settings, s.setupErr = st, err
	return s
}

func (s *Suite) logf(format string, a ...any) {
	fmt.Fprintf(s.Log, "live: "+format+"\n", a...)
}

// phase times a setup step and logs it. The second argument is unused:
// budgets live in report.PhaseBudgets.
func (s *Suite) phase(name string, _ time.Duration, fn func() error) error {
	s.logf("%s ...", name)
	start := time.Now()
	err := fn()
	d := time.Since(start)
	s.Report.Phase(name, d) // budgets live in report.PhaseBudgets
	if err != nil {
		s.logf("%s FAILED after %s: %v", name, d.Round(100*time.Millisecond), err)
		return fmt.Errorf("%s: %w", name, err)
	}
	s.logf("%s done in %s", name, d.Round(100*time.Millisecond))
	return nil
}

// Setup is the e2e-framework setup step. It creates nothing: it reads the
// settings and the manifests and checks the host, so bad input fails here
// within seconds. The cluster comes with the first selected check (Ready),
// so a run that selects nothing (-test.list, a filter matching no check)
// creates nothing. The context it returns carries the Suite (SuiteFrom) and
// ends, with ErrClusterGone as its cause, if the cluster vanishes mid-run.
func (s *Suite) Setup(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
	runCtx, cancel := context.WithCancelCause(ctx)
	s.mu.Lock()
	s.runCtx, s.stopWatch, s.cfg = runCtx, cancel, cfg
	s.mu.Unlock()
	if cfg.DryRunMode() {
		return WithSuite(runCtx, s), nil
	}
	err := s.setupErr
	if err == nil {
		// --kubeconfig / --context select an existing cluster, as E2E_KUBECONFIG does.
		err = s.Settings.SelectFromFlags(cfg.KubeconfigFile(), cfg.KubeContext())
	}
	if err == nil {
		err = s.phase("preflight", 0, s.preflight)
	}
	if err != nil {
		s.mu.Lock()
		s.setupErr = err
		s.mu.Unlock()
		s.Report.Note("SETUP FAILED: %v", err)
		s.Report.RunError("setup", report.CodeSetup, err)
		return ctx, err
	}
	return WithSuite(runCtx, s), nil
}

// Ready brings the cluster up once, for the first check that needs it; every
// check calls it and gets the same answer. On success the watchdog starts.
func (s *Suite) Ready(ctx context.Context) error {
	s.readyOnce.Do(func() {
		s.readyErr = s.ready(ctx)
		if s.readyErr != nil {
			s.Report.Note("SETUP FAILED: %v", s.readyErr)
			return
		}
		s.describeCluster(ctx)
		s.mu.Lock()
		runCtx, cancel := s.runCtx, s.stopWatch
		s.mu.Unlock()
		go Watch(runCtx, WatchdogEvery, WatchdogProbeTimeout, WatchdogStrikes, s.health, func(cause error) {
			s.logf("%v: ending the run", cause)
			s.Report.Note("%v", cause)
			cancel(cause)
		})
	})
	if s.readyErr != nil {
		return fmt.Errorf("cluster setup failed: %w", s.readyErr)
	}
	return nil
}

func (s *Suite) ready(ctx context.Context) error {
	if s.ExistingKubeconfig != "" {
		return s.setupExisting(ctx)
	}
	// The one bring-up path (cluster.go), shared with selftest, smoke and
	// `make cluster`.
	name := kindcluster.NewName()
	// The run's own context, not the first check's: the deferred CoreDNS
	// wait outlives that check and serves every later one.
	s.mu.Lock()
	if s.runCtx != nil {
		ctx = s.runCtx
	}
	s.mu.Unlock()
	up, err := BringUp(ctx, UpOptions{
		Name: name, ConfigFile: s.KindConfig, ModuleRoot: s.ModuleRoot, ImagesDir: s.ImagesDir,
		Node: choice.Request{Image: s.NodeImage, Source: s.NodeSource}, Log: s.Log,
		DeferCoreDNS: true,
		Phase:        func(step string, fn func() error) error { return s.phase(step, 0, fn) },
		Announce: func(c *kindcluster.Cluster) {
			s.mu.Lock()
			s.Cluster, s.Kubeconfig, s.HostDataDir = c, c.Kubeconfig, c.DataDir // known before create, so Ctrl-C can remove it
			s.mu.Unlock()
			s.reaper.Cluster(c.Name, c.Kubeconfig, c.DataDir) // and so can the reaper if the run dies
			s.Report.Note("cluster %s (config %s), kubeconfig %s", c.Name, filepath.Base(s.KindConfig), c.Kubeconfig)
		},
	})
	if up != nil {
		s.mu.Lock()
		s.Nodes = up.Nodes
		s.clusterDNS = up.ClusterDNS
		if up.Cluster != nil {
			s.Cluster = up.Cluster
		}
		s.mu.Unlock()
		if up.Image.Image != "" {
			s.Report.Note("node image %s (%s)", up.Image.Image, up.Image.Reason)
			s.Report.Describe(func(h *report.Header) { h.NodeImage = up.Image.Image })
		}
	}
	if err != nil {
		return err
	}
	return s.clients()
}

// ClusterDNS waits until the cluster resolves names (CoreDNS Available on
// the suite's own cluster; an existing cluster's DNS is taken as it is) and
// says why not.
func (s *Suite) ClusterDNS(ctx context.Context) error {
	s.mu.Lock()
	wait := s.clusterDNS
	s.mu.Unlock()
	if wait == nil {
		return nil
	}
	return wait(ctx)
}

func (s *Suite) preflight() error {
	sets, err := manifests.Discover(s.ManifestsDir)
	if err != nil {
		return err
	}
	s.Sets = map[manifests.Profile]*manifests.Set{}
	for _, p := range sets {
		// The first set of each profile is the one applied (the kustomize
		// layout comes before a Helm render of the same app).
		if s.Sets[p.Profile] != nil {
			s.Report.Note("manifests %s: %s set, %d objects (not applied: %s has one already)", p.Path, p.Profile, len(p.Objects), p.Profile)
			continue
		}
		s.Sets[p.Profile] = p.Set
		s.Report.Note("manifests %s: %s set, %d objects", p.Path, p.Profile, len(p.Objects))
	}
	s.describeManifests(sets)
	if s.Sets[manifests.Default] == nil {
		return fmt.Errorf("%s holds no default set", s.ManifestsDir)
	}
	if s.FakeSecret, err = FakeSecrets(s.FakeSecrets); err != nil {
		return err
	}
	if s.ExistingKubeconfig != "" {
		_, err := os.Stat(s.ExistingKubeconfig)
		return err
	}
	if !dockerhost.Answers(context.Background()) {
		return errors.New("the Docker engine does not answer: run `make docker` (installs and starts it here), or start Docker")
	}
	if _, err := os.Stat(s.KindConfig); err != nil {
		return fmt.Errorf("kind config: %w", err)
	}
	return nil
}

// clients builds the run's clients. envconf's Config is not touched: the
// cluster comes up while other lanes' tests copy that Config.
func (s *Suite) clients() error {
	rc, err := RESTConfig(s.Kubeconfig, s.KubeContext)
	if err != nil {
		return err
	}
	rc.QPS, rc.Burst = 50, 100
	if s.Clientset, err = kubernetes.NewForConfig(rc); err != nil {
		return err
	}
	s.Client, err = client.New(rc, client.Options{})
	return err
}

// Failed reports whether setup or any check failed.
func (s *Suite) Failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setupErr != nil || s.readyErr != nil || len(s.Report.NotPassed()) > 0
}

// ErrNoCheckSelected ends a run whose filters matched no check: a typo in
// --feature is not a green run.
var ErrNoCheckSelected = errors.New("no check selected: -run, --feature, --labels, --assess and --skip-* leave no assessment of any live check to run (IDs in ../shared/CHECKS.md, e.g. --feature L-DNS or --labels id=L-PVC)")

// Finish is the e2e-framework finish step: evidence, teardown, report. What
// fails here (teardown, writing the report) is printed and kept for
// FinishErr, which TestMain turns into a failed exit.
func (s *Suite) Finish(ctx context.Context, _ *envconf.Config) (context.Context, error) {
	var errs []error
	failed := s.Failed()
	if failed && s.Cluster != nil && s.Clientset != nil && s.Gone() == nil {
		dir := filepath.Join(s.Artifacts, "kind-logs")
		s.logf("a check failed: exporting kind logs to %s", dir)
		if err := s.Cluster.ExportLogs(dir); err != nil {
			err = fmt.Errorf("kind export logs to %s: %w", dir, err)
			s.Report.RunError("kind logs", report.CodeTeardown, err)
			errs = append(errs, err)
		}
	}
	if s.stopWatch != nil {
		s.stopWatch(errors.New("run finished"))
	}
	keep := s.KeepCluster == "always" || (s.KeepCluster == "on-failure" && failed)
	var teardownErr error
	switch {
	case keep && s.Cluster != nil:
		s.Report.Note("cluster kept (E2E_KEEP_CLUSTER=%s): KUBECONFIG=%s; remove with `make cluster-clean`", s.KeepCluster, s.Kubeconfig)
	default:
		// Cleanup runs once: a signal's teardown and this one share it.
		teardownErr = s.phase("teardown", 0, s.Cleanup)
	}
	if teardownErr != nil {
		// The reaper is not told "done": it tries again once this process ends.
		s.Report.RunError("teardown", report.CodeTeardown, teardownErr)
		errs = append(errs, teardownErr)
	} else if err := s.reaper.Done(); err != nil {
		err = fmt.Errorf("reaper: %w", err)
		s.Report.RunError("reaper", report.CodeTeardown, err)
		errs = append(errs, err)
	}
	if s.cfg != nil && s.cfg.DryRunMode() {
		return ctx, errors.Join(errs...)
	}
	if s.setupErr == nil && len(s.Report.Checks()) == 0 {
		errs = append(errs, ErrNoCheckSelected)
		err := errors.Join(errs...)
		s.logf("%v", err)
		s.mu.Lock()
		s.finishErr = err
		s.mu.Unlock()
		return ctx, err
	}
	s.Report.Print(os.Stdout)
	errs = append(errs, s.writeReport())
	err := errors.Join(errs...)
	if err != nil {
		s.logf("FINISH FAILED: %v", err)
	}
	s.mu.Lock()
	s.finishErr = err
	s.mu.Unlock()
	return ctx, err
}

// writeReport writes report.json, report.html and the checks' JUnit to
// $ARTIFACTS.
func (s *Suite) writeReport() error {
	if err := os.MkdirAll(s.Artifacts, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	var errs []error
	for _, w := range []struct {
		name  string
		write func(string) error
	}{{"report.json", s.Report.WriteJSON}, {"report.html", s.Report.WriteHTML}, {report.JUnitFile, s.Report.WriteJUnit}} {
		p := filepath.Join(s.Artifacts, w.name)
		if err := w.write(p); err != nil {
			errs = append(errs, fmt.Errorf("writing %s: %w", p, err))
			continue
		}
		s.logf("%s written", p)
	}
	return errors.Join(errs...)
}

// FinishErr is what went wrong in Finish (teardown, report), or nil.
func (s *Suite) FinishErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.finishErr
}

// Cleanup removes everything the run created: its kind cluster (with its
// kubeconfig and data dir), or on an existing cluster the namespaces and PVs
// it made. It runs once, whoever calls first (the signal trap or Finish), and
// later callers wait for it and get its error; safe from a signal handler
// while Setup is still creating the cluster.
func (s *Suite) Cleanup() error {
	s.cleanupOnce.Do(func() {
		s.mu.Lock()
		c, cs := s.Cluster, s.Clientset
		s.mu.Unlock()
		if s.ExistingKubeconfig != "" && cs != nil {
			// An existing cluster stays; what the run created in it goes,
			// on a signal as at the end.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			s.cleanupErr = s.removeCreated(ctx)
			return
		}
		if c == nil || s.ExistingKubeconfig != "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		s.cleanupErr = DeleteRunCluster(ctx, c.Name, s.Kubeconfig, s.HostDataDir)
	})
	return s.cleanupErr
}

// ErrInterrupted is the cause the run's context ends with on Ctrl-C or
// SIGTERM: every wait still running says it was stopped by the signal, not
// that the cluster vanished while the teardown removed it.
type ErrInterrupted struct{ Signal os.Signal }

func (e ErrInterrupted) Error() string {
	return fmt.Sprintf("interrupted by a signal (%s): the run was stopped, its verdicts are no result", e.Signal)
}

// interruptCause is the signal that stopped the run, or nil.
func (s *Suite) interruptCause() error {
	s.mu.Lock()
	ctx := s.runCtx
	s.mu.Unlock()
	if ctx == nil || ctx.Err() == nil {
		return nil
	}
	var in ErrInterrupted
	if errors.As(context.Cause(ctx), &in) {
		return in
	}
	return nil
}

// Interrupted reports whether the run was stopped by a signal.
func (s *Suite) Interrupted() bool {
	s.mu.Lock()
	ctx := s.runCtx
	s.mu.Unlock()
	if ctx == nil || ctx.Err() == nil {
		return false
	}
	var in ErrInterrupted
	return errors.As(context.Cause(ctx), &in)
}

// TrapSignals tears the run down on Ctrl-C or SIGTERM, with a fresh context,
// then exits 130. The run's context ends first, with ErrInterrupted, so the
// checks stop and the watchdog does not mistake the teardown for a cluster
// that vanished.
func (s *Suite) TrapSignals() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-ch
		s.logf("%s: tearing down before exit", sig)
		s.mu.Lock()
		stop := s.stopWatch
		s.mu.Unlock()
		if stop != nil {
			stop(ErrInterrupted{Signal: sig})
		}
		s.Report.Note("INTERRUPTED: %v", ErrInterrupted{Signal: sig})
		s.Report.Interrupt(ErrInterrupted{Signal: sig})
		if err := s.Cleanup(); err != nil {
			s.logf("cleanup: %v", err)
			s.Report.RunError("teardown", report.CodeTeardown, err)
		} else if err := s.reaper.Done(); err != nil {
			s.logf("reaper: %v", err)
			s.Report.RunError("reaper", report.CodeTeardown, fmt.Errorf("reaper: %w", err))
		}
		s.Report.Print(os.Stdout)
		if err := s.writeReport(); err != nil {
			s.logf("%v", err)
		}
		os.Exit(130)
	}()
}
