package lanes

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/report"
)

// fakeT stands for the running test: it keeps what a check reported.
type fakeT struct {
	mu   sync.Mutex
	errs []string
	logs []string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Logf(format string, a ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, fmt.Sprintf(format, a...))
}
func (f *fakeT) Errorf(format string, a ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, fmt.Sprintf(format, a...))
}
func (f *fakeT) Fatalf(format string, a ...any) { f.Errorf(format, a...) }
func (f *fakeT) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.errs) > 0
}
func (f *fakeT) Skipped() bool { return false }

func (f *fakeT) failures() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.errs, "\n")
}

func (f *fakeT) measurements() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.logs, "\n")
}

// row is a report row that writes into the test.
type row struct{}

func (row) Measure(t live.TB, format string, a ...any) { t.Logf(format, a...) }
func (row) Error(t live.TB, code report.Code, resource, format string, a ...any) {
	t.Errorf("ERROR(%s) %s: %s", code, resource, fmt.Sprintf(format, a...))
}
func (row) Fail(t live.TB, resource, format string, a ...any) {
	t.Helper()
	t.Errorf("%s: %s", resource, fmt.Sprintf(format, a...))
}

// chart keeps the probe measurements.
type chart struct {
	mu sync.Mutex
	ms []report.ProbeMeasurement
}

func (c *chart) Probe(m report.ProbeMeasurement) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ms = append(c.ms, m)
}

func (c *chart) all() []report.ProbeMeasurement {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]report.ProbeMeasurement(nil), c.ms...)
}

func newRecorder(id string) (*Recorder, *fakeT, *chart) {
	ft, ch := &fakeT{}, &chart{}
	return NewRecorder(ft, id, row{}, ch), ft, ch
}

// failWith makes every verb on resource answer err.
func failWith(cs *fake.Clientset, verb, resource string, err error) {
	cs.PrependReactor(verb, resource, func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, err })
}

var errAPI = errors.New("the server is currently unable to handle the request")

// D1: a check that reported nothing fails; one that reported passes.
func TestRequireOutcomeFailsACheckThatMeasuredNothing(t *testing.T) {
	r, ft, _ := newRecorder("L-PVC")
	r.RequireOutcome("lane pvc-check")
	if !strings.Contains(ft.failures(), "measured nothing") {
		t.Fatalf("expected a 'measured nothing' failure, got %q", ft.failures())
	}

	r, ft, _ = newRecorder("L-PVC")
	r.Measure("bound in 1s")
	r.RequireOutcome("lane pvc-check")
	if ft.Failed() {
		t.Fatalf("a check with a measurement failed: %s", ft.failures())
	}
}

// D1: a scenario whose cluster never shows a pod fails with what it saw,
// and its probe chart shows the measurement as never observed.
func TestScenarioThatSeesNoPodFails(t *testing.T) {
	cs := fake.NewClientset()
	r, ft, ch := newRecorder("L-STARTUP")
	s := NewScenario("L-STARTUP", StartupKill, quickWorkload())
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s.Measure(ctx, Env{Clientset: cs}, r)
	if !strings.Contains(ft.failures(), "no running pod") || !strings.Contains(ft.failures(), "last seen: no pod yet") {
		t.Fatalf("expected a failure saying no pod was seen, got %q", ft.failures())
	}
	ms := ch.all()
	if len(ms) != 1 || !ms[0].Missing || ms[0].Pass {
		t.Fatalf("expected one missing, failed probe measurement, got %+v", ms)
	}
}

func TestRestartsOfAPodWithoutStatusIsAnError(t *testing.T) {
	if _, err := restarts(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}); err == nil {
		t.Fatal("a pod without container status read as a restart count")
	}
	if _, err := restarts(nil); err == nil {
		t.Fatal("no pod read as a restart count")
	}
}

// A failed node List is not room: the wait fails saying what it read.
func TestWaitForRoomListErrorIsLastSeen(t *testing.T) {
	cs := fake.NewClientset()
	failWith(cs, "list", "nodes", errAPI)
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	_, err := WaitForRoom(ctx, cs, ScaleDemand(), poll.PodRunning)
	if err == nil || !strings.Contains(err.Error(), "last seen: reading the nodes' room") || !strings.Contains(err.Error(), errAPI.Error()) {
		t.Fatalf("expected the failed List as last seen, got %v", err)
	}
}

// An empty cluster has no room: said plainly, never a pass.
func TestWaitForRoomOnAClusterWithoutNodesFails(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	_, err := WaitForRoom(ctx, fake.NewClientset(), ScenarioDemand(ProbeIDs...), poll.PodRunning)
	if err == nil || !strings.Contains(err.Error(), "cannot hold it") {
		t.Fatalf("expected 'cannot hold it', got %v", err)
	}
}
