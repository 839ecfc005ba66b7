package selftest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/puretasks/k8s-conformance/internal/kindcluster"
	"github.com/puretasks/k8s-conformance/internal/live"
)

// Traces are what a live run can leave on the machine or in an existing
// cluster, each entry "<what> <name>".
type Traces []string

// Lister finds a run's possible traces.
type Lister interface {
	// Containers lists kind node containers (any cluster).
	Containers(ctx context.Context) ([]string, error)
	// Networks lists Docker networks named kind.
	Networks(ctx context.Context) ([]string, error)
	// Volumes lists Docker volumes: a kind node keeps its /var in an
	// anonymous volume that outlives a container removed without -v.
	Volumes(ctx context.Context) ([]string, error)
	// Processes lists live processes of the suite's test binary: a run's
	// reaper still at work after the run exited is a teardown not finished.
	Processes() ([]string, error)
	// Files lists paths matching the glob patterns (kubeconfigs, data dirs).
	Files(patterns ...string) ([]string, error)
	// ClusterObjects lists the suite's namespaces, Jobs and PVs in an
	// existing cluster (none when there is none).
	ClusterObjects(ctx context.Context) ([]string, error)
}

// BuildPatterns are the files a run keeps under the module root's _build:
// the kubeconfig and the data directory of each todoconf- cluster.
func BuildPatterns(root string) []string {
	return []string{
		filepath.Join(root, "_build", "kubeconfig-"+kindcluster.NamePrefix+"*"),
		filepath.Join(root, "_build", kindcluster.NamePrefix+"*-data"),
	}
}

// Observe lists every trace. An error listing is returned, never read as
// "nothing there".
func Observe(ctx context.Context, l Lister, root string) (Traces, error) {
	var t Traces
	add := func(what string, names []string, err error) error {
		if err != nil {
			return fmt.Errorf("listing %ss: %w", what, err)
		}
		for _, n := range names {
			t = append(t, what+" "+n)
		}
		return nil
	}
	c, err := l.Containers(ctx)
	if err := add("container", c, err); err != nil {
		return nil, err
	}
	n, err := l.Networks(ctx)
	if err := add("network", n, err); err != nil {
		return nil, err
	}
	v, err := l.Volumes(ctx)
	if err := add("volume", v, err); err != nil {
		return nil, err
	}
	p, err := l.Processes()
	if err := add("process", p, err); err != nil {
		return nil, err
	}
	f, err := l.Files(BuildPatterns(root)...)
	if err := add("file", f, err); err != nil {
		return nil, err
	}
	o, err := l.ClusterObjects(ctx)
	if err := add("cluster", o, err); err != nil {
		return nil, err
	}
	sort.Strings(t)
	return t, nil
}

// Since lists the traces in now that were not in before: what a run left.
// Traces that existed before the soak (a developer's own cluster, a kind
// network someone else made) are never blamed on it.
func (now Traces) Since(before Traces) Traces {
	var out Traces
	for _, x := range now {
		if !slices.Contains(before, x) {
			out = append(out, x)
		}
	}
	return out
}

// HostLister is the real Lister: the docker CLI, the file system, and, with
// a kubeconfig, the cluster.
type HostLister struct {
	// Client of an existing cluster (E2E_KUBECONFIG); nil with kind.
	Client kubernetes.Interface
	// Binary is the test binary the runs execute; "" lists no process.
	Binary string
}

func docker(ctx context.Context, args ...string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "docker", args...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return nil, fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, ee.Stderr)
		}
		return nil, fmt.Errorf("docker %s: %w", strings.Join(args, " "), err)
	}
	return strings.Fields(string(out)), nil
}

// Containers implements Lister.
func (HostLister) Containers(ctx context.Context) ([]string, error) {
	return docker(ctx, "ps", "-a", "--filter", "label=io.x-k8s.kind.cluster", "--format", "{{.Names}}")
}

// Networks implements Lister.
func (HostLister) Networks(ctx context.Context) ([]string, error) {
	return docker(ctx, "network", "ls", "--filter", "name=^kind$", "--format", "{{.Name}}")
}

// Volumes implements Lister.
func (HostLister) Volumes(ctx context.Context) ([]string, error) {
	return docker(ctx, "volume", "ls", "--format", "{{.Name}}")
}

// Processes implements Lister: every /proc entry whose executable is Binary
// (a binary rebuilt under a running process shows as "<path> (deleted)").
func (h HostLister) Processes() ([]string, error) {
	if h.Binary == "" {
		return nil, nil
	}
	want, err := filepath.Abs(h.Binary)
	if err != nil {
		return nil, err
	}
	if resolved, err := filepath.EvalSymlinks(want); err == nil {
		want = resolved
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		// A process that ended meanwhile, or one not ours to read, is not a run's.
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			continue
		}
		if strings.TrimSuffix(exe, " (deleted)") == want {
			out = append(out, fmt.Sprintf("%d %s", pid, exe))
		}
	}
	return out, nil
}

// Files implements Lister.
func (HostLister) Files(patterns ...string) ([]string, error) {
	var out []string
	for _, p := range patterns {
		m, err := filepath.Glob(p)
		if err != nil {
			return nil, err
		}
		out = append(out, m...)
	}
	return out, nil
}

// ClusterObjects implements Lister: the namespaces and Jobs the suite
// labels as its own, and the app's PVs.
func (h HostLister) ClusterObjects(ctx context.Context) ([]string, error) {
	if h.Client == nil {
		return nil, nil
	}
	own := metav1.ListOptions{LabelSelector: "app.kubernetes.io/managed-by=" + live.FieldOwner}
	var out []string
	nss, err := h.Client.CoreV1().Namespaces().List(ctx, own)
	if err != nil {
		return nil, err
	}
	for _, n := range nss.Items {
		out = append(out, "namespace/"+n.Name)
	}
	jobs, err := h.Client.BatchV1().Jobs("").List(ctx, own)
	if err != nil {
		return nil, err
	}
	for _, j := range jobs.Items {
		out = append(out, "job/"+j.Namespace+"/"+j.Name)
	}
	// The app's own namespace and PV carry the manifests' labels, not ours.
	all, err := h.Client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, n := range all.Items {
		if n.Name == "todo-app" {
			out = append(out, "namespace/todo-app")
		}
	}
	pvs, err := h.Client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for _, p := range pvs.Items {
		out = append(out, "pv/"+p.Name)
	}
	return out, nil
}

// InterruptOutcome is what happened after a run was interrupted.
type InterruptOutcome struct {
	Interruption
	// LastLine is the run's last output line before the signal: where it was.
	LastLine string `json:"lastLine"`
	// ExitAfter is how long the run took to exit after the signal.
	ExitAfter time.Duration `json:"exitAfter"`
	ExitCode  int           `json:"exitCode"`
	// Killed: the run did not exit within RunExit and was killed.
	Killed bool `json:"killed,omitempty"`
	// EndedFirst: the run was over before the moment came (not interrupted);
	// it is then judged as a full run.
	EndedFirst bool `json:"endedFirst,omitempty"`
	// ExitedZero: the run got the signal and still exited 0, as if it had
	// not: the signal had no effect.
	ExitedZero bool `json:"exitedZero,omitempty"`
	// SignalErr: a signal could not be sent (other than to a group already
	// gone), so the run was not interrupted as scheduled.
	SignalErr string `json:"signalErr,omitempty"`
	Leftovers Traces `json:"leftovers"`
}

// Clean reports whether the interrupted run got its signal, acted on it
// (a non-zero exit, by itself within the grace) and left nothing. A run that
// ended before its moment was not interrupted and is never a clean
// interruption.
func (o InterruptOutcome) Clean() bool {
	return !o.EndedFirst && !o.Killed && !o.ExitedZero && o.SignalErr == "" && len(o.Leftovers) == 0
}
