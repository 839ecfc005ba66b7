package selftest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/puretasks/k8s-conformance/internal/report"
)

const s = time.Second

func TestSpreadOf(t *testing.T) {
	assert.Equal(t, Spread{Name: "x"}, SpreadOf("x", nil))
	assert.Equal(t, Spread{Name: "x", N: 1, Min: 5 * s, Median: 5 * s, Max: 5 * s}, SpreadOf("x", []time.Duration{5 * s}))
	assert.Equal(t, Spread{Name: "x", N: 3, Min: 1 * s, Median: 2 * s, Max: 9 * s}, SpreadOf("x", []time.Duration{9 * s, 1 * s, 2 * s}))
	assert.Equal(t, Spread{Name: "x", N: 4, Min: 1 * s, Median: 3 * s, Max: 9 * s}, SpreadOf("x", []time.Duration{4 * s, 9 * s, 1 * s, 2 * s}))
	in := []time.Duration{3 * s, 1 * s}
	SpreadOf("x", in)
	assert.Equal(t, []time.Duration{3 * s, 1 * s}, in, "samples are not reordered")
}

func TestSummarise(t *testing.T) {
	run := func(n int, passed bool, createSecs, dnsSecs int, probe *report.ProbeMeasurement, failed ...string) RunOutcome {
		r := &RunReport{
			Phases: []report.Phase{{Name: "cluster create", Duration: time.Duration(createSecs) * s}},
			Lanes:  []report.Lane{{Name: "TestTodoApp", Span: time.Duration(createSecs*2) * s}},
			Checks: []report.Check{{ID: "L-DNS", Verdict: report.Pass, Duration: time.Duration(dnsSecs) * s}, {ID: "L-PVC"}},
		}
		if probe != nil {
			r.Probes = []report.ProbeMeasurement{*probe}
		}
		return RunOutcome{Run: n, Passed: passed, Wall: time.Duration(100+n) * s, Failed: failed, Report: r}
	}
	live := func(d time.Duration) *report.ProbeMeasurement {
		return &report.ProbeMeasurement{ID: "L-LIVENESS", Scenario: "liveness-fail-backend", Measured: d, Seed: report.Window{Min: 17 * s, Max: 33 * s}}
	}
	missing := &report.ProbeMeasurement{ID: "L-LIVENESS", Scenario: "liveness-fail-backend", Missing: true}
	sum := Summarise([]RunOutcome{
		run(1, true, 60, 3, live(31*s)),
		run(2, false, 80, 5, missing, "L-LIVENESS"),
		run(3, true, 70, 4, live(35*s)),
		{Run: 4, Passed: false, Wall: 10 * s, Err: "no report"},
	})
	assert.Equal(t, "2/4 (50%)", sum.PassRate())
	assert.Equal(t, []Spread{{Name: "cluster create", N: 3, Min: 60 * s, Median: 70 * s, Max: 80 * s}}, sum.Phases)
	assert.Equal(t, []Spread{{Name: "TestTodoApp", N: 3, Min: 120 * s, Median: 140 * s, Max: 160 * s}}, sum.Lanes)
	assert.Equal(t, []Spread{{Name: "L-DNS", N: 3, Min: 3 * s, Median: 4 * s, Max: 5 * s}}, sum.Checks, "checks that never ran are left out")
	assert.Equal(t, []Spread{{Name: "L-LIVENESS liveness-fail-backend", N: 2, Min: 31 * s, Median: 33 * s, Max: 35 * s, Misses: 1,
		Window: &report.Window{Min: 17 * s, Max: 33 * s}, Margin: -2 * s}}, sum.Probes, "35 s lies 2 s outside the seed window's end")
	assert.Equal(t, []string{"L-LIVENESS failed in 1/4 runs"}, sum.Flakes)
	assert.Equal(t, Spread{Name: "wall", N: 4, Min: 10 * s, Median: 101500 * time.Millisecond, Max: 103 * s}, sum.Wall)
	var out bytes.Buffer
	sum.Print(&out)
	assert.Contains(t, out.String(), "pass rate 2/4 (50%)")
	assert.Contains(t, out.String(), "L-LIVENESS liveness-fail-backend")
	assert.Regexp(t, `L-LIVENESS liveness-fail-backend +2 +31s +33s +35s +1 +\[17s, 33s\] +-2s`, out.String())
}

func TestMarginIn(t *testing.T) {
	w := report.Window{Min: 2 * s, Max: 13 * s}
	assert.Equal(t, 3*s, marginIn(w, []time.Duration{10 * s, 5 * s}), "10 s is 3 s from the end")
	assert.Equal(t, 500*time.Millisecond, marginIn(w, []time.Duration{2500 * time.Millisecond, 10 * s}), "2.5 s is 0.5 s from the start")
	assert.Equal(t, -1*s, marginIn(w, []time.Duration{1 * s}), "outside the window: negative")
}

func TestScheduleIsReplayableFromItsSeed(t *testing.T) {
	a, err := Schedule(42, 10, 2*s, 200*s)
	require.NoError(t, err)
	b, err := Schedule(42, 10, 2*s, 200*s)
	require.NoError(t, err)
	assert.Equal(t, a, b, "same seed, same moments")
	c, err := Schedule(43, 10, 2*s, 200*s)
	require.NoError(t, err)
	assert.NotEqual(t, a, c, "another seed, other moments")

	moments := map[time.Duration]bool{}
	signals := map[syscall.Signal]int{}
	for i, x := range a {
		assert.Equal(t, i+1, x.Run)
		assert.GreaterOrEqual(t, x.At, 2*s)
		assert.Less(t, x.At, 200*s+100*time.Millisecond)
		moments[x.At] = true
		signals[x.Signal]++
	}
	assert.Len(t, moments, 10, "each run at a different moment")
	assert.Len(t, signals, 2, "both SIGINT and SIGTERM are used: %v", signals)

	// A prefix of a longer schedule is the shorter one: RUNS=3 replays runs 1-3 of RUNS=10.
	short, err := Schedule(42, 3, 2*s, 200*s)
	require.NoError(t, err)
	assert.Equal(t, a[:3], short)

	_, err = Schedule(1, 0, s, 2*s)
	require.Error(t, err)
	_, err = Schedule(1, 1, 2*s, 2*s)
	require.Error(t, err)
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{"INT": syscall.SIGINT, "SIGTERM": syscall.SIGTERM, "TERM": syscall.SIGTERM} {
		got, err := ParseSignal(in)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	_, err := ParseSignal("KILL")
	require.Error(t, err)
}

// fakeLister returns what a test sets.
type fakeLister struct {
	containers, networks, volumes, processes, files, objects []string
	err                                                      error
}

func (f fakeLister) Containers(context.Context) ([]string, error) { return f.containers, f.err }
func (f fakeLister) Networks(context.Context) ([]string, error)   { return f.networks, nil }
func (f fakeLister) Volumes(context.Context) ([]string, error)    { return f.volumes, nil }
func (f fakeLister) Processes() ([]string, error)                 { return f.processes, nil }
func (f fakeLister) Files(...string) ([]string, error)            { return f.files, nil }
func (f fakeLister) ClusterObjects(context.Context) ([]string, error) {
	return f.objects, nil
}

func TestLeftoverDetector(t *testing.T) {
	ctx := context.Background()
	// Before the soak: a developer's own cluster and its network.
	before, err := Observe(ctx, fakeLister{containers: []string{"todo-dev-control-plane"}, networks: []string{"kind"}}, "/r")
	require.NoError(t, err)

	clean, err := Observe(ctx, fakeLister{containers: []string{"todo-dev-control-plane"}, networks: []string{"kind"}}, "/r")
	require.NoError(t, err)
	assert.Empty(t, clean.Since(before), "what existed before is never blamed on the run")

	after, err := Observe(ctx, fakeLister{
		containers: []string{"todo-dev-control-plane", "todoconf-123-abcd-worker"},
		networks:   []string{"kind"},
		volumes:    []string{"4d86a899"},
		processes:  []string{"4242 /r/_build/soak/e2e.test"},
		files:      []string{"/r/_build/kubeconfig-todoconf-123-abcd", "/r/_build/todoconf-123-abcd-data"},
		objects:    []string{"job/todo-app/dns-get", "namespace/todo-app"},
	}, "/r")
	require.NoError(t, err)
	assert.Equal(t, Traces{
		"cluster job/todo-app/dns-get", "cluster namespace/todo-app",
		"container todoconf-123-abcd-worker",
		"file /r/_build/kubeconfig-todoconf-123-abcd", "file /r/_build/todoconf-123-abcd-data",
		"process 4242 /r/_build/soak/e2e.test",
		"volume 4d86a899",
	}, after.Since(before))

	// The kind network counts when it was not there before the soak.
	fresh, err := Observe(ctx, fakeLister{}, "/r")
	require.NoError(t, err)
	net, err := Observe(ctx, fakeLister{networks: []string{"kind"}}, "/r")
	require.NoError(t, err)
	assert.Equal(t, Traces{"network kind"}, net.Since(fresh))

	_, err = Observe(ctx, fakeLister{err: errors.New("Cannot connect to the Docker daemon")}, "/r")
	require.ErrorContains(t, err, "Docker daemon", "a failed listing is an error, not a clean bill")
}

// A process still running the test binary (a reaper not done) is found
// through /proc, and is gone from the list once it ended.
func TestHostListerFindsProcessesOfTheBinary(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	require.NoError(t, err)
	raw, err := os.ReadFile(sleep)
	require.NoError(t, err)
	bin := filepath.Join(t.TempDir(), "e2e.test")
	require.NoError(t, os.WriteFile(bin, raw, 0o755))
	l := HostLister{Binary: bin}

	none, err := l.Processes()
	require.NoError(t, err)
	assert.Empty(t, none)

	cmd := exec.Command(bin, "60")
	require.NoError(t, cmd.Start())
	got, err := l.Processes()
	require.NoError(t, err)
	assert.Equal(t, []string{fmt.Sprintf("%d %s", cmd.Process.Pid, bin)}, got)

	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait() // killed: the error is the signal
	gone, err := l.Processes()
	require.NoError(t, err)
	assert.Empty(t, gone, "an ended process is no trace")

	all, err := HostLister{}.Processes()
	require.NoError(t, err)
	assert.Empty(t, all, "no binary named, no process listed")
}

func TestBuildPatternsMatchTheSuitesNames(t *testing.T) {
	p := BuildPatterns("/r")
	assert.Equal(t, []string{"/r/_build/kubeconfig-todoconf-*", "/r/_build/todoconf-*-data"}, p)
}

func TestHostListerFindsTheSuitesClusterObjects(t *testing.T) {
	own := map[string]string{"app.kubernetes.io/managed-by": "k8s-conformance"}
	cs := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "todo-app"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "scale-check", Labels: own}},
		&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "dns-get", Namespace: "todo-app", Labels: own}},
		&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "someone-elses", Namespace: "default"}},
		&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "backend-uploads-pv"}},
	)
	got, err := HostLister{Client: cs}.ClusterObjects(context.Background())
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"namespace/scale-check", "job/todo-app/dns-get", "namespace/todo-app", "pv/backend-uploads-pv"}, got)
	none, err := HostLister{}.ClusterObjects(context.Background())
	require.NoError(t, err)
	assert.Empty(t, none)
}

// A run whose signal could not be sent was never interrupted: it is not a
// clean interruption, however tidy it left the host.
func TestInterruptOutcomeCleanNeedsTheSignal(t *testing.T) {
	if !(InterruptOutcome{}).Clean() {
		t.Fatal("a run that got its signal, exited and left nothing is clean")
	}
	if (InterruptOutcome{SignalErr: "operation not permitted"}).Clean() {
		t.Fatal("a run that never got its signal was called a clean interruption")
	}
	if (InterruptOutcome{Killed: true}).Clean() {
		t.Fatal("a killed run was called clean")
	}
	if (InterruptOutcome{EndedFirst: true}).Clean() {
		t.Fatal("a run that ended before its moment was called a clean interruption")
	}
	if (InterruptOutcome{ExitedZero: true}).Clean() {
		t.Fatal("a run that exited 0 after the signal (the signal had no effect) was called clean")
	}
	if (InterruptOutcome{Leftovers: Traces{"volume 4d86"}}).Clean() {
		t.Fatal("a run that left a volume was called clean")
	}
}
