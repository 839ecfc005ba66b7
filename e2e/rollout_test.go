//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/puretasks/k8s-conformance/internal/lanes"
	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/report"
	"github.com/puretasks/k8s-conformance/internal/spec"
	"github.com/puretasks/k8s-conformance/internal/traffic"
	"github.com/puretasks/k8s-conformance/stubs/stubserver"
)

func rolloutFeature() features.Feature {
	const id = "L-ROLLOUT"
	return check(id, "both Deployments become Available; a rolling update keeps ready >= desired and pods <= desired+maxSurge on every event").
		NeedsClusterDNS(). // its rolling update is the one L-TRAFFIC sends requests through
		Assess("both Deployments become Available", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			c := checkOf(ctx, t)
			after, err := availableApp(ctx)
			if err != nil {
				c.Abort(t, report.CodeSetup, "namespace "+spec.Namespace, "not run: %v", err)
			}
			for _, w := range lanes.Workloads() {
				c.Measure(t, "%s Available %s after apply", w.Deployment.Name, after[w.Deployment.Name].Round(100*time.Millisecond))
			}
			return ctx
		}).
		Assess("a rolling update of each, under requests through both Services, keeps the invariant on every watch event", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			c, _ := requireAvailable(ctx, t)
			u := rolledUnderTraffic(ctx, t, c)
			r := lanes.NewRecorder(t, id, c, nil)
			for _, w := range lanes.Workloads() {
				u.rolls[w.Deployment.Name].Judge(r)
			}
			return ctx
		}).
		Feature()
}

// Traffic runs bound to the rollout they watch: the load stops by itself
// once the old pods have been silent for trafficTail.
const (
	trafficInterval = 50 * time.Millisecond
	trafficTimeout  = 2 * time.Second
	trafficTail     = 3 * time.Second
)

// trafficBasis is what L-TRAFFIC's zero failures rest on; the report states
// it with the result.
var trafficBasis = fmt.Sprintf("zero failures here rest on the stub draining: on SIGTERM it keeps serving, health included, for %s "+
	"(%s) while kube-proxy removes its endpoints, and the manifests have no preStop hook. "+
	"A real app that exits at once on SIGTERM would drop requests in that gap; give it a preStop sleep or a drain of its own",
	stubserver.DefaultDrain, stubserver.EnvDrain)

func trafficFeature() features.Feature {
	const id = "L-TRAFFIC"
	return check(id, "continuous requests through each Service during its rolling update: zero failures").
		NeedsClusterDNS().
		Assess("backend-service (in-cluster) and frontend-service (NodePort from the host) during rollouts", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			c, _ := requireAvailable(ctx, t)
			u := rolledUnderTraffic(ctx, t, c)
			c.Measure(t, "the lane's one rolling update of each Deployment, performed by %s in %s:", u.by, u.took.Round(100*time.Millisecond))
			for _, w := range lanes.Workloads() {
				name := w.Deployment.Name
				c.Measure(t, "during: %s at %d replica(s): %s", name, w.Deployment.Replicas, u.rolls[name].Obs)
				tr := u.traffic[name]
				if tr.err != nil {
					c.Fail(t, tr.via, "%v", tr.err)
					continue
				}
				checkSummary(t, c, tr.via, tr.summary)
			}
			c.Measure(t, "%s", trafficBasis)
			return ctx
		}).
		Feature()
}

// reqRolledUnderTraffic is the todo-app lane's one rolling update of both
// Deployments while requests flow through both Services. L-ROLLOUT judges
// its pod watch (the invariant on every event), L-TRAFFIC its requests (zero
// failures, old and new pods answering): one rollout, not two, and each
// check selected alone performs it itself.
const reqRolledUnderTraffic = "todo-app rolled under traffic"

// underTraffic is that rollout: each Deployment's pod watch and the
// requests through its Service, by Deployment name.
type underTraffic struct {
	rolls   map[string]lanes.Rolled
	traffic map[string]trafficOutcome
	by      string        // the check that performed it
	took    time.Duration // from the first request to the last rollout's end
}

// trafficOutcome is the requests through one Service during its rollout:
// the load's summary, or why there is none.
type trafficOutcome struct {
	via     string
	summary traffic.Summary
	err     error
}

// rolledUnderTraffic performs the lane's rollout under traffic once and
// returns it; a check that cannot have it stops (it could not judge).
func rolledUnderTraffic(ctx context.Context, t *testing.T, c *live.Check) underTraffic {
	t.Helper()
	l := live.LaneFrom(ctx)
	u, err := live.Require(ctx, l, reqRolledUnderTraffic, func(ctx context.Context) (underTraffic, error) {
		s := l.Suite
		// The traffic must measure this rollout only: pods an earlier one
		// (L-UPGRADE's) is still draining go first.
		for _, w := range lanes.Workloads() {
			if err := onlyCurrentPods(ctx, s, w); err != nil {
				return underTraffic{}, fmt.Errorf("Deployment %s before the traffic: %w", w.Deployment.Name, err)
			}
		}
		start := time.Now()
		u := underTraffic{rolls: map[string]lanes.Rolled{}, traffic: map[string]trafficOutcome{}}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, w := range lanes.Workloads() {
			wg.Go(func() {
				roll := func() lanes.Rolled {
					return lanes.Roll(ctx, laneEnv(s), spec.Namespace, w, w.Deployment.Replicas)
				}
				var rl lanes.Rolled
				var tr trafficOutcome
				if w.Deployment.Name == spec.Seed.Backend.Deployment.Name {
					rl, tr = backendTraffic(ctx, s, roll)
				} else {
					rl, tr = frontendTraffic(ctx, s, roll)
				}
				mu.Lock()
				defer mu.Unlock()
				u.rolls[w.Deployment.Name], u.traffic[w.Deployment.Name] = rl, tr
			})
		}
		wg.Wait()
		u.by, u.took = c.ID, time.Since(start)
		s.Report.Phase("rolling updates under traffic (L-ROLLOUT, L-TRAFFIC)", u.took)
		return u, nil
	})
	if err != nil {
		c.Fatal(t, "namespace "+spec.Namespace, "%v", err)
	}
	return u
}

// onlyCurrentPods waits until w has no terminating pod left in todo-app.
func onlyCurrentPods(ctx context.Context, s *live.Suite, w spec.Workload) error {
	last := "not listed"
	err := poll.Until(ctx, poll.PodGone, func(ctx context.Context) (bool, error) {
		pods, err := s.Clientset.CoreV1().Pods(spec.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(w.Deployment.Selector).String()})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		var leaving []string
		for _, p := range pods.Items {
			if live.Terminating(&p) {
				leaving = append(leaving, p.Name)
			}
		}
		last = fmt.Sprintf("terminating: %v", leaving)
		return len(leaving) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("old pods still terminating: %w; last seen: %s", err, last)
	}
	return nil
}

func checkSummary(t *testing.T, c *live.Check, via string, s traffic.Summary) {
	t.Helper()
	c.Measure(t, "%s: %d sent, %d failed, %d pods answered %v, p50 %.1fms p99 %.1fms, %s", via, s.Sent, s.Failed, len(s.Pods), s.Pods, s.P50Ms, s.P99Ms, s.Duration)
	if s.Sent == 0 {
		c.Fail(t, via, "expected requests during the rolling update, none was sent")
	}
	if s.Failed > 0 {
		c.Fail(t, via, "expected zero failed requests during the rolling update, got %d of %d: %v", s.Failed, s.Sent, s.Errors)
	}
	if !s.Replaced || len(s.Pods) < 2 {
		c.Fail(t, via, "expected the traffic to span the rollout (old and new pods answering), saw pods %v, replaced=%v, errors %v", s.Pods, s.Replaced, s.Errors)
	}
}

// backendTraffic sends requests to backend-service from an in-cluster Job
// while roll runs. The rollout happens whatever becomes of the traffic
// (L-ROLLOUT judges it on its own).
func backendTraffic(ctx context.Context, s *live.Suite, roll func() lanes.Rolled) (lanes.Rolled, trafficOutcome) {
	b := spec.Seed.Backend
	cs := s.Clientset
	url := fmt.Sprintf("http://%s:%d%s", b.Service.Name, b.Service.Port, spec.HealthPath)
	out := trafficOutcome{via: "backend-service " + url + " (in-cluster Job)"}
	job := live.ProbeJob{
		Namespace: spec.Namespace, Name: "traffic-backend", Image: spec.Seed.Backend.Deployment.Container.Image,
		Args: []string{"load", "-duration", poll.Rollout.Timeout.String(), "-interval", trafficInterval.String(),
			"-timeout", trafficTimeout.String(), "-until-replaced", trafficTail.String(), url},
		Interval: poll.Rollout,
	}
	if err := job.Start(ctx, cs); err != nil {
		out.err = fmt.Errorf("Job traffic-backend: %w", err)
		return roll(), out
	}
	rl := roll()
	lines, _, err := job.Finish(ctx, cs)
	switch {
	case err != nil:
		out.err = fmt.Errorf("Job traffic-backend: no load summary: %w", err)
	case len(lines) == 0:
		out.err = fmt.Errorf("Job traffic-backend: no load summary: the job printed no JSON line")
	default:
		if err := json.Unmarshal(lines[len(lines)-1], &out.summary); err != nil {
			out.err = fmt.Errorf("Job traffic-backend: unreadable summary %s: %w", lines[len(lines)-1], err)
		}
	}
	return rl, out
}

// frontendTraffic sends requests to frontend-service's NodePort from the
// host while roll runs; the load must have seen the current pods first.
func frontendTraffic(ctx context.Context, s *live.Suite, roll func() lanes.Rolled) (lanes.Rolled, trafficOutcome) {
	f := spec.Seed.Frontend
	url := fmt.Sprintf("http://%s:%d%s", s.NodePortHost, f.Service.NodePort, spec.HealthPath)
	out := trafficOutcome{via: "frontend-service " + url + " (NodePort from the host)"}
	lctx, cancel := context.WithTimeout(ctx, poll.Rollout.Timeout)
	defer cancel()
	done := make(chan traffic.Summary, 1)
	baseline := make(chan struct{})
	go func() {
		done <- traffic.Run(lctx, traffic.Options{URL: url, Interval: trafficInterval, Timeout: trafficTimeout, UntilReplaced: trafficTail, Baseline: baseline})
	}()
	select {
	case <-baseline:
	case out.summary = <-done:
		// The load ended before it saw the current pods: its summary says
		// why (checkSummary), and the rollout still happens.
		return roll(), out
	}
	rl := roll()
	out.summary = <-done
	return rl, out
}
