package live

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// The reaper is a second copy of the test binary that outlives it. The run
// tells it, over a pipe, what it is about to create; the reaper does nothing
// until that pipe closes. If the run said "done" first, it exits; if the pipe
// closed without it, the run died in a way no deferred cleanup survives
// (os.Exit from a flag error, the -timeout panic, a panic in a test
// goroutine, SIGKILL), and the reaper removes what the run created: the kind
// cluster, its kubeconfig and data dir, or on an existing cluster the
// namespaces and PersistentVolumes the run made.

// ReaperEnv marks the reaper process; TestMain hands over to RunReaper when
// it is set.
const ReaperEnv = "K8S_CONFORMANCE_REAPER"

// reaperTimeout bounds the reaper's cleanup.
const reaperTimeout = 3 * time.Minute

// Reaper is the run's side of the pipe. A nil Reaper does nothing (unit
// tests, or a reaper that could not start, which Setup reports).
type Reaper struct {
	mu   sync.Mutex
	w    io.WriteCloser
	cmd  *exec.Cmd
	done bool
}

// IsReaper reports whether this process was started as the reaper.
func IsReaper() bool { return os.Getenv(ReaperEnv) != "" }

// StartReaper starts the reaper: this same executable, in a process group of
// its own so a terminal's Ctrl-C reaches the run (whose trap cleans up) but
// not the reaper.
func StartReaper() (*Reaper, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), ReaperEnv+"=1")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	w, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the reaper: %w", err)
	}
	return &Reaper{w: w, cmd: cmd}, nil
}

// PID is the reaper's process id (0 for none).
func (r *Reaper) PID() int {
	if r == nil || r.cmd == nil || r.cmd.Process == nil {
		return 0
	}
	return r.cmd.Process.Pid
}

func (r *Reaper) send(fields ...string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return
	}
	// A failed write means the reaper is gone; the run's own cleanup still
	// runs, so this is not fatal.
	_, _ = fmt.Fprintln(r.w, strings.Join(fields, "\t"))
}

// Cluster tells the reaper the kind cluster the run is about to create.
func (r *Reaper) Cluster(name, kubeconfig, dataDir string) {
	r.send("cluster", name, kubeconfig, dataDir)
}

// Existing tells the reaper the run uses an existing cluster (a kubeconfig
// and the context in it, "" for its current one): only what the run creates
// in it is removed.
func (r *Reaper) Existing(kubeconfig, kubeContext string) {
	r.send("existing", kubeconfig, kubeContext)
}

// Namespace tells the reaper about a namespace the run created.
func (r *Reaper) Namespace(name string) { r.send("namespace", name) }

// PersistentVolume tells the reaper about a PV the run created.
func (r *Reaper) PersistentVolume(name string) { r.send("pv", name) }

// Done tells the reaper the run has cleaned up after itself, and waits for
// it to exit.
func (r *Reaper) Done() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	if r.done {
		r.mu.Unlock()
		return nil
	}
	_, werr := fmt.Fprintln(r.w, "done")
	r.done = true
	cerr := r.w.Close()
	r.mu.Unlock()
	return errors.Join(werr, cerr, r.cmd.Wait())
}

// ReaperState is what the run announced before it died.
type ReaperState struct {
	Cluster, Kubeconfig, DataDir string // a kind cluster of the run's own
	Existing                     string // kubeconfig of an existing cluster
	Context                      string // and its context ("" for the current one)
	Namespaces, PVs              []string
}

// ReadReaperPipe reads the run's announcements until "done" (clean: false)
// or the end of the pipe (clean: true, the run died).
func ReadReaperPipe(in io.Reader) (st ReaperState, clean bool) {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		switch {
		case f[0] == "done":
			return st, false
		case f[0] == "cluster" && len(f) == 4:
			st.Cluster, st.Kubeconfig, st.DataDir = f[1], f[2], f[3]
		case f[0] == "existing" && (len(f) == 2 || len(f) == 3):
			st.Existing = f[1]
			if len(f) == 3 {
				st.Context = f[2]
			}
		case f[0] == "namespace" && len(f) == 2:
			st.Namespaces = append(st.Namespaces, f[1])
		case f[0] == "pv" && len(f) == 2:
			st.PVs = append(st.PVs, f[1])
		}
	}
	return st, true
}

// RunReaper is the reaper process: it survives the signals that end the run,
// waits for the pipe on stdin, and cleans up if the run died. It returns the
// process's exit code.
func RunReaper() int {
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	// The run's stderr may be gone with it: a write must fail, not kill us.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	st, clean := ReadReaperPipe(os.Stdin)
	if !clean {
		return 0
	}
	logf := func(format string, a ...any) { fmt.Fprintf(os.Stderr, "reaper: "+format+"\n", a...) }
	if st.Cluster == "" && st.Existing == "" {
		logf("the test process ended before creating anything: nothing to remove")
		return 0
	}
	logf("the test process ended without cleaning up: removing what it created")
	ctx, cancel := context.WithTimeout(context.Background(), reaperTimeout)
	defer cancel()
	if err := st.Clean(ctx, logf); err != nil {
		logf("cleanup incomplete: %v", err)
		return 1
	}
	logf("cleanup complete")
	return 0
}

// Clean removes what the state names.
func (st ReaperState) Clean(ctx context.Context, logf func(string, ...any)) error {
	if st.Cluster != "" {
		logf("deleting kind cluster %s, %s, %s", st.Cluster, st.Kubeconfig, st.DataDir)
		return DeleteRunCluster(ctx, st.Cluster, st.Kubeconfig, st.DataDir)
	}
	rc, err := RESTConfig(st.Existing, st.Context)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	return deleteCreated(ctx, cs, st.Namespaces, st.PVs, logf)
}

// deleteCreated deletes namespaces and PVs and waits for the namespaces.
func deleteCreated(ctx context.Context, cs kubernetes.Interface, namespaces, pvs []string, logf func(string, ...any)) error {
	var errs []error
	for _, n := range namespaces {
		logf("deleting namespace %s", n)
		if err := cs.CoreV1().Namespaces().Delete(ctx, n, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	for _, p := range pvs {
		logf("deleting PersistentVolume %s", p)
		if err := cs.CoreV1().PersistentVolumes().Delete(ctx, p, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	for _, n := range namespaces {
		errs = append(errs, NamespaceGone(ctx, cs, n))
	}
	return errors.Join(errs...)
}
