// Package lanes holds the logic of the live tier's background lanes: the
// probe scenarios (L-STARTUP, L-LIVENESS, L-READINESS), the scale copy
// (L-SCALE, L-LB) and the storage copy (L-PVC). The e2e package wires them
// into e2e-framework features; here they are written against
// kubernetes.Interface so that every path where the cluster answers with an
// error, a timeout or nothing at all is unit-tested with a fake clientset.
//
// The rule every function here keeps: an API error, a timeout or a
// measurement that never came back is a failure that says what was last
// seen, never a pass.
package lanes

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/report"
	"github.com/puretasks/k8s-conformance/internal/spec"
)

// Env is what a lane needs of the run. The e2e package fills it from the
// suite; unit tests fill it with a fake clientset and fake functions.
type Env struct {
	Clientset kubernetes.Interface
	// Apply server-side applies objects (live.ApplySet in a run).
	Apply func(ctx context.Context, objs []client.Object) error
	// Proxy calls a pod's port through the API server (live.Proxy in a run;
	// the fake clientset has no REST client behind it).
	Proxy func(ctx context.Context, method, ns, pod string, port int32, path string, body []byte) (int, []byte, error)
	// Copy returns fresh copies of the set's objects that keep selects, fake
	// Secret values injected, namespaced ones moved to ns, Services made
	// ClusterIP (the e2e package's copyOf); nil when the manifests hold no
	// such set.
	Copy func(p manifests.Profile, ns string, keep func(client.Object) bool) []client.Object
	// CreatedPV is told a cluster-scoped PV's name right before the lane
	// creates it, so the run removes it whatever happens (may be nil).
	CreatedPV func(name string)
}

// LiveEnv is the Env of a real run.
func LiveEnv(cs kubernetes.Interface, c client.Client, copyOf func(manifests.Profile, string, func(client.Object) bool) []client.Object, createdPV func(string)) Env {
	return Env{
		Clientset: cs,
		Apply:     func(ctx context.Context, objs []client.Object) error { return live.ApplySet(ctx, c, objs).Err() },
		Proxy: func(ctx context.Context, method, ns, pod string, port int32, path string, body []byte) (int, []byte, error) {
			return live.Proxy(ctx, cs, method, ns, pod, port, path, body)
		},
		Copy:      copyOf,
		CreatedPV: createdPV,
	}
}

// Row is a check's row in the run's report (*live.Check): a failure made
// through it fails the test at the caller's line.
type Row interface {
	Measure(t live.TB, format string, a ...any)
	Fail(t live.TB, resource, format string, a ...any)
	Error(t live.TB, code report.Code, resource, format string, a ...any)
}

// ProbeSink takes probe measurements for the report's chart (*report.Report).
type ProbeSink interface {
	Probe(report.ProbeMeasurement)
}

// Recorder is what one check or scenario reports through: the running test
// (a failure points at the lane line that found it, not at a replay), the
// check's report row, and the probe chart. It counts what was reported, so
// a check that measured nothing fails instead of passing.
type Recorder struct {
	t        live.TB
	row      Row
	probes   ProbeSink
	id       string
	outcomes atomic.Int64
}

// NewRecorder reports check id through t and row; probes may be nil for a
// check that draws no probe measurements.
func NewRecorder(t live.TB, id string, row Row, probes ProbeSink) *Recorder {
	return &Recorder{t: t, row: row, probes: probes, id: id}
}

// For returns a recorder of the same check bound to another test (a
// scenario's subtest), with its own count.
func (r *Recorder) For(t live.TB) *Recorder {
	return &Recorder{t: t, row: r.row, probes: r.probes, id: r.id}
}

// ID is the catalogue ID the recorder reports for.
func (r *Recorder) ID() string { return r.id }

// Measure records a measurement.
func (r *Recorder) Measure(format string, a ...any) {
	r.t.Helper()
	r.outcomes.Add(1)
	r.row.Measure(r.t, format, a...)
}

// Fail fails the check at the caller's line, naming the resource and what
// was expected and seen.
func (r *Recorder) Fail(resource, format string, a ...any) {
	r.t.Helper()
	r.outcomes.Add(1)
	r.row.Fail(r.t, resource, format, a...)
}

// Error records that the check could not judge (code says why: an API
// error, an answer with an unexpected status): the check is ERROR unless a
// broken promise was also seen.
func (r *Recorder) Error(code report.Code, resource, format string, a ...any) {
	r.t.Helper()
	r.outcomes.Add(1)
	r.row.Error(r.t, code, resource, format, a...)
}

// Probe records a probe measurement against its windows: in the report's
// chart and as a line of the check's row. It does not fail the check; the
// caller does, with the words of the catalogue line.
func (r *Recorder) Probe(m report.ProbeMeasurement) {
	r.t.Helper()
	m.ID = r.id
	if r.probes != nil {
		r.probes.Probe(m)
	}
	measured := "never observed"
	if !m.Missing {
		measured = m.Measured.Round(100 * time.Millisecond).String()
	}
	r.Measure("%s: %s (seed window %s)", m.Scenario, measured, m.Seed)
}

// Outcomes is how many measurements and failures were reported.
func (r *Recorder) Outcomes() int64 { return r.outcomes.Load() }

// RequireOutcome fails the check when nothing at all was reported for it:
// a lane that returned without a measurement has checked nothing, and that
// is never a pass.
func (r *Recorder) RequireOutcome(what string) {
	r.t.Helper()
	if r.outcomes.Load() == 0 {
		r.Error(report.CodeNoMeasurement, what, "measured nothing: the check returned without a measurement or a failure")
	}
}

// window converts the spec's window for the report.
func window(w spec.Window) report.Window { return report.Window{Min: w.Earliest, Max: w.Latest} }

// manifestWindow is the manifest's own window, drawn only on a miss.
func manifestWindow(pass bool, w spec.Window) *report.Window {
	if pass {
		return nil
	}
	rw := window(w)
	return &rw
}

// describePod is the last-seen text of a pod: phase, container state,
// readiness, restarts.
func describePod(p *corev1.Pod) string {
	if p == nil {
		return "no pod seen"
	}
	parts := []string{fmt.Sprintf("pod %s phase %s on %q", p.Name, p.Status.Phase, p.Spec.NodeName)}
	if len(p.Status.ContainerStatuses) == 0 {
		parts = append(parts, "no container status")
	}
	for _, cs := range p.Status.ContainerStatuses {
		st := "unknown"
		switch {
		case cs.State.Running != nil:
			st = "running since " + cs.State.Running.StartedAt.Format(time.TimeOnly)
		case cs.State.Waiting != nil:
			st = "waiting " + cs.State.Waiting.Reason
		case cs.State.Terminated != nil:
			st = fmt.Sprintf("terminated %s exit %d", cs.State.Terminated.Reason, cs.State.Terminated.ExitCode)
		}
		started := cs.Started != nil && *cs.Started
		parts = append(parts, fmt.Sprintf("container %s %s, started=%v ready=%v restarts=%d", cs.Name, st, started, cs.Ready, cs.RestartCount))
	}
	parts = append(parts, fmt.Sprintf("Ready=%v", live.PodReady(p)))
	return strings.Join(parts, ", ")
}

// restarts returns the pod's first container's restart count; a pod without
// a container status has no count, which is an error, not zero.
func restarts(p *corev1.Pod) (int32, error) {
	if p == nil {
		return 0, fmt.Errorf("no pod to read restarts from")
	}
	if len(p.Status.ContainerStatuses) == 0 {
		return 0, fmt.Errorf("pod %s has no container status (restart count unknown)", p.Name)
	}
	return p.Status.ContainerStatuses[0].RestartCount, nil
}

// restartsAtLeast is a watch condition: the container restarted n times or more.
func restartsAtLeast(p *corev1.Pod, n int32) bool {
	c, err := restarts(p)
	return err == nil && c >= n
}
