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
		Assess("a rolling update of each keeps the invariant on every watch event", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			c, s := requireAvailable(ctx, t)
			start := time.Now()
			var wg sync.WaitGroup
			for _, w := range lanes.Workloads() {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rollingUpdate(ctx, t, c, spec.Namespace, w, w.Deployment.Replicas)
				}()
			}
			wg.Wait()
			s.Report.Phase("rolling updates (L-ROLLOUT)", time.Since(start))
			return ctx
		}).
		Feature()
}

// rollingUpdate starts a rolling update of w in ns and holds it to the
// seed's invariant on every pod event, reporting into the check c. It is
// the same path the scale lane uses (lanes.RollOnce), and safe from a
// goroutine: it never stops t.
func rollingUpdate(ctx context.Context, t *testing.T, c *live.Check, ns string, w spec.Workload, replicas int32) {
	t.Helper()
	lanes.RollOnce(ctx, laneEnv(c.Suite), lanes.NewRecorder(t, c.ID, c, nil), ns, w, replicas)
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
			c, s := requireAvailable(ctx, t)
			// The traffic must measure this check's rollouts only: pods an
			// earlier rollout (L-ROLLOUT) is still draining go first.
			for _, w := range lanes.Workloads() {
				if err := onlyCurrentPods(ctx, c, w); err != nil {
					c.Fatal(t, "Deployment "+w.Deployment.Name, "before the traffic: %v", err)
				}
			}
			start := time.Now()
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); backendTraffic(ctx, t, c) }()
			go func() { defer wg.Done(); frontendTraffic(ctx, t, c) }()
			wg.Wait()
			c.Measure(t, "%s", trafficBasis)
			s.Report.Phase("rolling updates under traffic (L-TRAFFIC)", time.Since(start))
			return ctx
		}).
		Feature()
}

// onlyCurrentPods waits until w has no terminating pod left in todo-app.
func onlyCurrentPods(ctx context.Context, c *live.Check, w spec.Workload) error {
	last := "not listed"
	err := poll.Until(ctx, poll.PodGone, func(ctx context.Context) (bool, error) {
		pods, err := c.Suite.Clientset.CoreV1().Pods(spec.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(w.Deployment.Selector).String()})
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

func backendTraffic(ctx context.Context, t *testing.T, c *live.Check) {
	b := spec.Seed.Backend
	cs := c.Suite.Clientset
	url := fmt.Sprintf("http://%s:%d%s", b.Service.Name, b.Service.Port, spec.HealthPath)
	job := live.ProbeJob{
		Namespace: spec.Namespace, Name: "traffic-backend", Image: spec.Seed.Backend.Deployment.Container.Image,
		Args: []string{"load", "-duration", poll.Rollout.Timeout.String(), "-interval", trafficInterval.String(),
			"-timeout", trafficTimeout.String(), "-until-replaced", trafficTail.String(), url},
		Interval: poll.Rollout,
	}
	if err := job.Start(ctx, cs); err != nil {
		c.Fail(t, "Job traffic-backend", "%v", err)
		return
	}
	rollingUpdate(ctx, t, c, spec.Namespace, b, b.Deployment.Replicas)
	lines, _, err := job.Finish(ctx, cs)
	if err != nil {
		c.Fail(t, "Job traffic-backend", "no load summary: %v", err)
		return
	}
	if len(lines) == 0 {
		c.Fail(t, "Job traffic-backend", "no load summary: the job printed no JSON line")
		return
	}
	var s traffic.Summary
	if err := json.Unmarshal(lines[len(lines)-1], &s); err != nil {
		c.Fail(t, "Job traffic-backend", "unreadable summary %s: %v", lines[len(lines)-1], err)
		return
	}
	checkSummary(t, c, "backend-service "+url+" (in-cluster Job)", s)
}

func frontendTraffic(ctx context.Context, t *testing.T, c *live.Check) {
	f := spec.Seed.Frontend
	url := fmt.Sprintf("http://%s:%d%s", c.Suite.NodePortHost, f.Service.NodePort, spec.HealthPath)
	lctx, cancel := context.WithTimeout(ctx, poll.Rollout.Timeout)
	defer cancel()
	done := make(chan traffic.Summary, 1)
	baseline := make(chan struct{})
	go func() {
		done <- traffic.Run(lctx, traffic.Options{URL: url, Interval: trafficInterval, Timeout: trafficTimeout, UntilReplaced: trafficTail, Baseline: baseline})
	}()
	via := "frontend-service " + url + " (NodePort from the host)"
	// The load must have seen the current pods before the rollout starts.
	select {
	case <-baseline:
	case s := <-done:
		checkSummary(t, c, via, s)
		return
	}
	rollingUpdate(ctx, t, c, spec.Namespace, f, f.Deployment.Replicas)
	checkSummary(t, c, via, <-done)
}
