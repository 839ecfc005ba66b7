package lanes

import (
	"errors"
	"strings"
	"testing"

	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/report"
	"github.com/puretasks/k8s-conformance/internal/spec"
	"github.com/puretasks/k8s-conformance/internal/traffic"
)

func backendRollout(obs live.RolloutObservation, err error) Rollout {
	return Rollout{Namespace: "todo-app", Workload: spec.Seed.Backend, Replicas: 1, Observation: obs, Err: err}
}

// Each way a rollout can end, judged: only a clean one passes; one the
// suite could not start or watch is ERROR; the manifests' own failures are
// FAIL.
func TestRolloutJudge(t *testing.T) {
	clean := live.RolloutObservation{Events: 9, OldPods: []string{"backend-1"}, NewPods: []string{"backend-2"}}
	for _, tc := range []struct {
		name string
		ro   Rollout
		want string // "" for a pass; else a part of the failures
	}{
		{"clean", backendRollout(clean, nil), ""},
		{"too few events", backendRollout(clean, live.ErrTooFewEvents{Seen: 1, Want: 4}), "ERROR(api) Deployment todo-app/backend: rolling update not observed"},
		{"not started", backendRollout(live.RolloutObservation{}, &live.RolloutMachineryError{Err: errors.New("starting the rollout: the server is currently unable to handle the request")}), "ERROR(api) Deployment todo-app/backend: rolling update not observed: starting the rollout"},
		{"did not complete", backendRollout(clean, errors.New("deployment todo-app/backend: timed out")), "Deployment todo-app/backend: rolling update did not complete"},
		{"invariant broken", backendRollout(live.RolloutObservation{Events: 9, NewPods: []string{"backend-2"}, Violations: []string{"ready 0 < 1 at pod backend-1 terminating"}}, nil), "invariant broken (spec: maxUnavailable 0, maxSurge 1): ready 0 < 1"},
		{"nothing replaced", backendRollout(live.RolloutObservation{Events: 9, OldPods: []string{"backend-1"}}, nil), "expected new pods after the template change, saw none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ft, _ := newRecorder("L-ROLLOUT")
			tc.ro.Judge(r)
			judged(t, ft, tc.want)
		})
	}
}

// L-TRAFFIC's requests, judged: zero failures across a rollout pass; a
// failed request, no request, or traffic that did not span the rollout
// fail; no load summary, or no rollout to span, is ERROR.
func TestRequestsJudge(t *testing.T) {
	rolled := backendRollout(live.RolloutObservation{Events: 9, NewPods: []string{"backend-2"}}, nil)
	spanned := traffic.Summary{Sent: 400, Pods: map[string]int{"backend-1": 300, "backend-2": 100}, Replaced: true}
	via := "backend-service http://backend-service:8000/api/health (in-cluster Job)"
	for _, tc := range []struct {
		name   string
		q      Requests
		during Rollout
		want   string
	}{
		{"zero failures across the rollout", Requests{Via: via, Summary: spanned}, rolled, ""},
		{"a failed request", Requests{Via: via, Summary: traffic.Summary{Sent: 400, Failed: 3, Errors: map[string]int{"connection refused": 3}, Pods: spanned.Pods, Replaced: true}}, rolled, "expected zero failed requests during the rolling update, got 3 of 400"},
		{"none sent", Requests{Via: via, Summary: traffic.Summary{}}, rolled, "expected requests during the rolling update, none was sent"},
		{"did not span", Requests{Via: via, Summary: traffic.Summary{Sent: 100, Pods: map[string]int{"backend-1": 100}}}, rolled, "expected the traffic to span the rollout"},
		{"no summary", Requests{Via: via, Err: errors.New("Job traffic-backend: no load summary: the job printed no JSON line"), Code: report.CodeNoMeasurement}, rolled, "ERROR(no-measurement) " + via},
		{"the Job never started", Requests{Via: via, Err: errors.New("Job traffic-backend: ErrImageNeverPull"), Code: report.CodeSetup}, rolled, "ERROR(setup) " + via},
		{"no rollout to span", Requests{Via: via, Summary: spanned}, backendRollout(live.RolloutObservation{}, &live.RolloutMachineryError{Err: errors.New("pod watch did not sync")}), "ERROR(no-measurement) " + via + ": no rollout for the requests to span"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ft, _ := newRecorder("L-TRAFFIC")
			tc.q.Judge(r, tc.during)
			judged(t, ft, tc.want)
		})
	}
}

// judged holds a judgement to want: "" is a pass; otherwise a part of the
// failures, and an ERROR only where want says ERROR (a manifests' failure
// taken for the machine's is wrong too).
func judged(t *testing.T, ft *fakeT, want string) {
	t.Helper()
	got := ft.failures()
	switch {
	case want == "" && ft.Failed():
		t.Fatalf("expected a pass, got %s", got)
	case want == "":
	case !strings.Contains(got, want):
		t.Fatalf("expected %q in the failures, got %q", want, got)
	case !strings.HasPrefix(want, "ERROR") && strings.Contains(got, "ERROR"):
		t.Fatalf("the manifests' failure was taken for the machine's: %q", got)
	}
}
