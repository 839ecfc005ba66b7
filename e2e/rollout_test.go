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
				u.rollouts[w.Deployment.Name].Judge(r)
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
			r := lanes.NewRecorder(t, id, c, nil)
			r.Measure("the lane's one rolling update of each Deployment, performed by %s (%s with its traffic):", u.by, u.took.Round(100*time.Millisecond))
			for _, w := range lanes.Workloads() {
				name := w.Deployment.Name
				ro := u.rollouts[name]
				r.Measure("during: %s at %d replica(s): %s", name, ro.Replicas, ro.Observation)
				u.requests[name].Judge(r, ro)
			}
			r.Measure("%s", trafficBasis)
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

// underTraffic is that rollout: each Deployment's rollout and the requests
// through its Service, by Deployment name.
type underTraffic struct {
	rollouts map[string]lanes.Rollout
	requests map[string]lanes.Requests
	by       string        // the check that performed it
	took     time.Duration // the rollouts with their traffic, set-up and read-out included
}

// rolledUnderTraffic performs the lane's rollout under traffic once and
// returns it; a check that cannot have it could not judge (ERROR).
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
		out := underTraffic{rollouts: map[string]lanes.Rollout{}, requests: map[string]lanes.Requests{}, by: c.ID}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, w := range lanes.Workloads() {
			wg.Go(func() {
				roll := func() lanes.Rollout {
					return lanes.Roll(ctx, laneEnv(s), spec.Namespace, w, w.Deployment.Replicas)
				}
				var ro lanes.Rollout
				var q lanes.Requests
				if w.Deployment.Name == spec.Seed.Backend.Deployment.Name {
					ro, q = backendTraffic(ctx, s, roll)
				} else {
					ro, q = frontendTraffic(ctx, s, roll)
				}
				mu.Lock()
				defer mu.Unlock()
				out.rollouts[w.Deployment.Name], out.requests[w.Deployment.Name] = ro, q
			})
		}
		wg.Wait()
		out.took = time.Since(start)
		s.Report.Phase("rolling updates under traffic (todo-app lane)", out.took)
		return out, nil
	})
	if err != nil {
		c.Abort(t, report.CodeSetup, "namespace "+spec.Namespace, "not run: %v", err)
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

// backendTraffic sends requests to backend-service from an in-cluster Job
// while roll runs. The rollout happens whatever becomes of the traffic
// (L-ROLLOUT judges it on its own); what goes wrong with the Job is the
// suite's, never the manifests'.
func backendTraffic(ctx context.Context, s *live.Suite, roll func() lanes.Rollout) (lanes.Rollout, lanes.Requests) {
	b := spec.Seed.Backend
	cs := s.Clientset
	url := fmt.Sprintf("http://%s:%d%s", b.Service.Name, b.Service.Port, spec.HealthPath)
	q := lanes.Requests{Via: "backend-service " + url + " (in-cluster Job)"}
	job := live.ProbeJob{
		Namespace: spec.Namespace, Name: "traffic-backend", Image: spec.Seed.Backend.Deployment.Container.Image,
		Args: []string{"load", "-duration", poll.Rollout.Timeout.String(), "-interval", trafficInterval.String(),
			"-timeout", trafficTimeout.String(), "-until-replaced", trafficTail.String(), url},
		Interval: poll.Rollout,
	}
	if err := job.Start(ctx, cs); err != nil {
		q.Err, q.Code = fmt.Errorf("Job traffic-backend: %w", err), report.CodeSetup
		return roll(), q
	}
	ro := roll()
	lines, _, err := job.Finish(ctx, cs)
	switch {
	case err != nil:
		q.Err, q.Code = fmt.Errorf("Job traffic-backend: no load summary: %w", err), report.CodeAPI
	case len(lines) == 0:
		q.Err, q.Code = fmt.Errorf("Job traffic-backend: no load summary: the job printed no JSON line"), report.CodeNoMeasurement
	default:
		if err := json.Unmarshal(lines[len(lines)-1], &q.Summary); err != nil {
			q.Err, q.Code = fmt.Errorf("Job traffic-backend: unreadable summary %s: %w", lines[len(lines)-1], err), report.CodeNoMeasurement
		}
	}
	return ro, q
}

// frontendTraffic sends requests to frontend-service's NodePort from the
// host while roll runs; the load must have seen the current pods first.
func frontendTraffic(ctx context.Context, s *live.Suite, roll func() lanes.Rollout) (lanes.Rollout, lanes.Requests) {
	f := spec.Seed.Frontend
	url := fmt.Sprintf("http://%s:%d%s", s.NodePortHost, f.Service.NodePort, spec.HealthPath)
	q := lanes.Requests{Via: "frontend-service " + url + " (NodePort from the host)"}
	lctx, cancel := context.WithTimeout(ctx, poll.Rollout.Timeout)
	defer cancel()
	done := make(chan traffic.Summary, 1)
	baseline := make(chan struct{})
	go func() {
		done <- traffic.Run(lctx, traffic.Options{URL: url, Interval: trafficInterval, Timeout: trafficTimeout, UntilReplaced: trafficTail, Baseline: baseline})
	}()
	select {
	case <-baseline:
	case q.Summary = <-done:
		// The load ended before it saw the current pods (nothing answers
		// the NodePort): its summary says so, and the rollout still happens.
		return roll(), q
	}
	ro := roll()
	q.Summary = <-done
	return ro, q
}
