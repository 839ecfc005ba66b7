package live

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/pkg/envconf"

	"github.com/puretasks/k8s-conformance/internal/dockerhost"
	"github.com/puretasks/k8s-conformance/internal/kindcluster"
	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/nodeimage"
	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/report"
	"github.com/puretasks/k8s-conformance/internal/spec"
	"github.com/puretasks/k8s-conformance/internal/stubimage"
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
	cleanupOnce sync.Once
}

// NewSuite reads the settings; a bad setting is reported by Setup.
func NewSuite() *Suite {
	s := &Suite{Report: report.New(), Log: os.Stderr, started: time.Now()}
	st, err := FromEnv()
	s.Settings, s.setupErr = st, err
	return s
}

func (s *Suite) logf(format string, a ...any) {
	fmt.Fprintf(s.Log, "live: "+format+"\n", a...)
}

// phase times a setup step and logs it.
func (s *Suite) phase(name string, budget time.Duration, fn func() error) error {
	s.logf("%s ...", name)
	start := time.Now()
	err := fn()
	d := time.Since(start)
	s.Report.Phase(name, d, budget)
	if err != nil {
		s.logf("%s FAILED after %s: %v", name, d.Round(100*time.Millisecond), err)
		return fmt.Errorf("%s: %w", name, err)
	}
	s.logf("%s done in %s", name, d.Round(100*time.Millisecond))
	return nil
}

// Setup is the e2e-framework setup step: everything a check needs before it
// runs. Bad input fails here within seconds, before any cluster exists.
func (s *Suite) Setup(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
	err := s.setup(ctx, cfg)
	if err != nil {
		s.mu.Lock()
		s.setupErr = err
		s.mu.Unlock()
		s.Report.Note("SETUP FAILED: %v", err)
	}
	return ctx, err
}

func (s *Suite) setup(ctx context.Context, cfg *envconf.Config) error {
	if s.setupErr != nil {
		return s.setupErr
	}
	if err := s.phase("preflight", 0, s.preflight); err != nil {
		return err
	}
	if s.ExistingKubeconfig != "" {
		s.Kubeconfig = s.ExistingKubeconfig
		s.Report.Note("existing cluster (E2E_KUBECONFIG=%s): not created, not deleted, images not loaded", s.Kubeconfig)
		if err := s.clients(cfg); err != nil {
			return err
		}
		return s.phase("node Ready", 0, func() error { return NodesReady(ctx, s.Clientset, s.countNodes(ctx)) })
	}
	var archives []string
	if err := s.phase("stub images", 0, func() (err error) { archives, err = s.stubImages(ctx); return err }); err != nil {
		return err
	}
	var image nodeimage.Choice
	if err := s.phase("node image", 0, func() (err error) { image, err = s.nodeImage(ctx); return err }); err != nil {
		return err
	}
	s.Report.Note("node image %s (%s)", image.Image, image.Reason)
	if err := s.phase("cluster create", 0, func() error { return s.createCluster(ctx, image.Image) }); err != nil {
		return err
	}
	if err := s.clients(cfg); err != nil {
		return err
	}
	if err := s.phase("node Ready", 0, func() error { return NodesReady(ctx, s.Clientset, s.Nodes) }); err != nil {
		return err
	}
	if err := s.phase("CoreDNS Available", 0, func() error {
		_, err := WaitDeployment(ctx, s.Clientset, "kube-system", "coredns", poll.CoreDNSAvailable)
		return err
	}); err != nil {
		return err
	}
	return s.phase("image load", 0, func() error {
		for _, a := range archives {
			if err := s.Cluster.LoadImageArchive(a); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Suite) countNodes(ctx context.Context) int {
	nodes, err := s.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return 1
	}
	return len(nodes.Items)
}

func (s *Suite) preflight() error {
	sets, err := manifests.Discover(s.ManifestsDir)
	if err != nil {
		return err
	}
	s.Sets = map[manifests.Profile]*manifests.Set{}
	for _, p := range sets {
		s.Sets[p.Profile] = p.Set
		s.Report.Note("manifests %s: %s set, %d objects", p.Path, p.Profile, len(p.Objects))
	}
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
	return s.removeLeftovers()
}

// ownerPID extracts the PID a cluster name carries (todoconf-<pid>-<hex>).
func ownerPID(name string) (int, bool) {
	parts := strings.Split(strings.TrimPrefix(name, kindcluster.NamePrefix), "-")
	if len(parts) != 2 {
		return 0, false
	}
	pid, err := strconv.Atoi(parts[0])
	return pid, err == nil
}

// removeLeftovers deletes clusters of earlier runs whose process is gone,
// and refuses to touch one whose run is still alive.
func (s *Suite) removeLeftovers() error {
	names, err := kindcluster.Leftovers()
	if err != nil {
		return fmt.Errorf("listing kind clusters: %w", err)
	}
	for _, n := range names {
		if pid, ok := ownerPID(n); ok && pid != os.Getpid() && processAlive(pid) {
			return fmt.Errorf("kind cluster %s belongs to a live run (pid %d); wait for it or stop it", n, pid)
		}
		s.logf("removing cluster %s left by an earlier run", n)
		if err := kindcluster.Adopt(n, "").Delete(); err != nil {
			return err
		}
	}
	return nil
}

func processAlive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}

func (s *Suite) stubImages(ctx context.Context) ([]string, error) {
	var archives []string
	missing := false
	for _, st := range stubimage.Stubs() {
		p := filepath.Join(s.ImagesDir, st.ArchiveName())
		archives = append(archives, p)
		if _, err := os.Stat(p); err != nil {
			missing = true
		}
	}
	if missing {
		s.logf("stub image archives missing in %s: building them", s.ImagesDir)
		if _, err := stubimage.Build(ctx, s.ModuleRoot, s.ImagesDir, s.Log); err != nil {
			return nil, err
		}
	}
	return archives, nil
}

func (s *Suite) nodeImage(ctx context.Context) (nodeimage.Choice, error) {
	src, err := nodeimage.ParseSource(s.NodeSource)
	if err != nil {
		return nodeimage.Choice{}, err
	}
	b, err := nodeimage.NewDefaultBuilder(s.Log)
	if err != nil {
		return nodeimage.Choice{}, err
	}
	return nodeimage.Choose(ctx, s.NodeImage, src, b)
}

func (s *Suite) createCluster(ctx context.Context, image string) error {
	name := fmt.Sprintf("%s%d-%04x", kindcluster.NamePrefix, os.Getpid(), rand.IntN(1<<16))
	s.Kubeconfig = filepath.Join(s.ModuleRoot, "_build", "kubeconfig-"+name)
	s.HostDataDir = filepath.Join(s.ModuleRoot, "_build", name+"-data")
	// The PV's hostPath is /mnt/data/uploads; the stubs run as non-root.
	if err := os.MkdirAll(filepath.Join(s.HostDataDir, "uploads"), 0o777); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Join(s.HostDataDir, "uploads"), 0o777); err != nil {
		return err
	}
	cfg, err := kindcluster.LoadConfig(s.KindConfig, s.HostDataDir)
	if err != nil {
		return err
	}
	s.Nodes = len(cfg.Nodes)
	s.mu.Lock()
	s.Cluster = kindcluster.Adopt(name, s.Kubeconfig) // known before create, so Ctrl-C can remove it
	s.mu.Unlock()
	s.Report.Note("cluster %s (%d node(s), config %s), kubeconfig %s", name, s.Nodes, filepath.Base(s.KindConfig), s.Kubeconfig)
	c, err := kindcluster.Create(ctx, kindcluster.Options{
		Name: name, ConfigFile: s.KindConfig, NodeImage: image, Kubeconfig: s.Kubeconfig,
		HostDataDir: s.HostDataDir,
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.Cluster = c
	s.mu.Unlock()
	return nil
}

func (s *Suite) clients(cfg *envconf.Config) error {
	cfg.WithKubeconfigFile(s.Kubeconfig)
	rc, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
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
	return s.setupErr != nil || len(s.Report.Failed()) > 0
}

// Finish is the e2e-framework finish step: evidence, teardown, report.
func (s *Suite) Finish(ctx context.Context, _ *envconf.Config) (context.Context, error) {
	failed := s.Failed()
	if failed && s.Cluster != nil && s.Clientset != nil {
		dir := filepath.Join(s.Artifacts, "kind-logs")
		s.logf("a check failed: exporting kind logs to %s", dir)
		if err := s.Cluster.ExportLogs(dir); err != nil {
			s.logf("kind export logs: %v", err)
		}
	}
	keep := s.KeepCluster == "always" || (s.KeepCluster == "on-failure" && failed)
	if keep && s.Cluster != nil {
		s.Report.Note("cluster kept (E2E_KEEP_CLUSTER=%s): KUBECONFIG=%s; remove with `make cluster-clean`", s.KeepCluster, s.Kubeconfig)
	} else {
		_ = s.phase("teardown", 0, func() error { return s.Cleanup() })
	}
	if s.setupErr == nil {
		s.noteBudget()
	}
	s.Report.Print(os.Stdout)
	if err := os.MkdirAll(s.Artifacts, 0o755); err == nil {
		_ = s.Report.WriteJSON(filepath.Join(s.Artifacts, "report.json"))
	}
	return ctx, nil
}

// noteBudget holds the run to BudgetFactor times its floor: the phases no
// run avoids plus the longest probe window of the seed.
func (s *Suite) noteBudget() {
	floor, parts := s.Report.Floor(spec.Seed.LongestWindow())
	total := time.Since(s.started)
	verdict := "within"
	if float64(total) > report.BudgetFactor*float64(floor) {
		verdict = "EXCEEDED"
	}
	s.Report.Note("time budget: total %s vs %.1f x floor %s = %s: %s (floor = %s + longest probe window %s)",
		total.Round(time.Second), report.BudgetFactor, floor.Round(time.Second), time.Duration(report.BudgetFactor*float64(floor)).Round(time.Second),
		verdict, strings.Join(parts, " + "), spec.Seed.LongestWindow())
}

// Cleanup removes everything the run created on the host. Idempotent; safe
// from a signal handler while Setup is still creating the cluster.
func (s *Suite) Cleanup() error {
	var err error
	s.cleanupOnce.Do(func() {
		s.mu.Lock()
		c := s.Cluster
		s.mu.Unlock()
		if c == nil || s.ExistingKubeconfig != "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var errs []error
		if e := c.Delete(); e != nil {
			errs = append(errs, e)
		}
		// A create still in flight may start a node after the delete: sweep
		// by kind's cluster label until nothing is left.
		errs = append(errs, poll.Until(ctx, poll.DockerStop, func(ctx context.Context) (bool, error) {
			out, e := exec.CommandContext(ctx, "docker", "ps", "-aq", "--filter", "label=io.x-k8s.kind.cluster="+c.Name).Output()
			if e != nil {
				return false, nil
			}
			ids := strings.Fields(string(out))
			if len(ids) == 0 {
				return true, nil
			}
			_ = exec.CommandContext(ctx, "docker", append([]string{"rm", "-f", "-v"}, ids...)...).Run()
			return false, nil
		}))
		errs = append(errs, kindcluster.RemoveKindNetworkIfUnused(ctx))
		if s.HostDataDir != "" {
			errs = append(errs, os.RemoveAll(s.HostDataDir))
		}
		if e := os.Remove(s.Kubeconfig); e != nil && !errors.Is(e, os.ErrNotExist) {
			errs = append(errs, e)
		}
		err = errors.Join(errs...)
	})
	return err
}

// TrapSignals tears the run down on Ctrl-C or SIGTERM, with a fresh context,
// then exits 130.
func (s *Suite) TrapSignals() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-ch
		s.logf("%s: tearing down before exit", sig)
		if err := s.Cleanup(); err != nil {
			s.logf("cleanup: %v", err)
		}
		s.Report.Print(os.Stdout)
		os.Exit(130)
	}()
}
