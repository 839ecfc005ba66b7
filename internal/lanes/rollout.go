package lanes

import (
	"context"
	"errors"

	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/report"
	"github.com/puretasks/k8s-conformance/internal/spec"
	"github.com/puretasks/k8s-conformance/internal/traffic"
)

// InvariantOf is the seed's promise for a rolling update of w at replicas:
// ready never below replicas − maxUnavailable, pods never above replicas + maxSurge.
func InvariantOf(w spec.Workload, replicas int32) live.Invariant {
	d := w.Deployment
	return live.Invariant{Desired: replicas - d.MaxUnavailable, MaxPods: replicas + d.MaxSurge, Selector: d.Selector}
}

// Rollout is one rolling update of a Deployment as its pod watch saw it,
// kept for a check to judge: L-SCALE judges its own, L-ROLLOUT the todo-app
// lane's (whose requests L-TRAFFIC judges).
type Rollout struct {
	Namespace   string
	Workload    spec.Workload
	Replicas    int32
	Observation live.RolloutObservation
	Err         error
}

// Roll starts a rolling update of w in ns and watches every pod event
// until it is over.
func Roll(ctx context.Context, env Env, ns string, w spec.Workload, replicas int32) Rollout {
	name := w.Deployment.Name
	obs, err := live.WatchRollout(ctx, env.Clientset, ns, name, InvariantOf(w, replicas),
		func(ctx context.Context) error { return live.RestartTemplate(ctx, env.Clientset, ns, name) })
	return Rollout{Namespace: ns, Workload: w, Replicas: replicas, Observation: obs, Err: err}
}

// Happened reports that the rollout ran: it started and was watched, whether
// or not it completed (a rollout the manifests stop half way happened).
func (ro Rollout) Happened() bool {
	return !notObserved(ro.Err)
}

// notObserved is a rollout the suite could not start or watch (the API,
// the watch): nothing of it says anything about the manifests.
func notObserved(err error) bool {
	var few live.ErrTooFewEvents
	var machinery *live.RolloutMachineryError
	return errors.As(err, &few) || errors.As(err, &machinery)
}

// Judge holds the rollout to the invariant on every event it saw: never
// fewer ready pods than desired - maxUnavailable, never more than desired +
// maxSurge, new pods in the end. A rollout the suite could not start or
// watch is ERROR, never a pass; one that did not complete is FAIL.
func (ro Rollout) Judge(r *Recorder) {
	name, d := ro.Workload.Deployment.Name, ro.Workload.Deployment
	resource := "Deployment " + ro.Namespace + "/" + name
	r.Measure("%s at %d replica(s): %s", name, ro.Replicas, ro.Observation)
	switch {
	case notObserved(ro.Err):
		r.Error(report.CodeAPI, resource, "rolling update not observed: %v", ro.Err)
	case ro.Err != nil:
		r.Fail(resource, "rolling update did not complete: %v", ro.Err)
	}
	for _, v := range ro.Observation.Violations {
		r.Fail(resource, "invariant broken (spec: maxUnavailable %d, maxSurge %d): %s", d.MaxUnavailable, d.MaxSurge, v)
	}
	if len(ro.Observation.NewPods) == 0 && ro.Err == nil {
		r.Fail(resource, "expected new pods after the template change, saw none")
	}
}

// Requests are the requests through one Service during a rolling update:
// the load's summary, or why there is none (Code says whose fault: never
// the manifests', since the load is the suite's own machinery).
type Requests struct {
	Via     string // "backend-service http://... (in-cluster Job)"
	Summary traffic.Summary
	Err     error
	Code    report.Code
}

// Judge holds the requests to L-TRAFFIC's promise: some were sent, none
// failed, and they spanned the rollout (old and new pods answered). Without
// a load summary, or without a rollout to span, the check could not judge.
func (q Requests) Judge(r *Recorder, during Rollout) {
	if q.Err != nil {
		r.Error(q.Code, q.Via, "%v", q.Err)
		return
	}
	if !during.Happened() {
		r.Error(report.CodeNoMeasurement, q.Via, "no rollout for the requests to span: %v", during.Err)
		return
	}
	s := q.Summary
	r.Measure("%s: %d sent, %d failed, %d pods answered %v, p50 %.1fms p99 %.1fms, %s", q.Via, s.Sent, s.Failed, len(s.Pods), s.Pods, s.P50Ms, s.P99Ms, s.Duration)
	if s.Sent == 0 {
		r.Fail(q.Via, "expected requests during the rolling update, none was sent")
	}
	if s.Failed > 0 {
		r.Fail(q.Via, "expected zero failed requests during the rolling update, got %d of %d: %v", s.Failed, s.Sent, s.Errors)
	}
	if !s.Replaced || len(s.Pods) < 2 {
		r.Fail(q.Via, "expected the traffic to span the rollout (old and new pods answering), saw pods %v, replaced=%v, errors %v", s.Pods, s.Replaced, s.Errors)
	}
}
