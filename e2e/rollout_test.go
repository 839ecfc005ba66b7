//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/spec"
	"github.com/puretasks/k8s-conformance/internal/traffic"
)

// invariantOf is the seed's promise for a rolling update of w at replicas:
// ready never below replicas − maxUnavailable, pods never above replicas + maxSurge.
func invariantOf(w spec.Workload, replicas int32) live.Invariant {
	d := w.Deployment
	return live.Invariant{Desired: replicas - d.MaxUnavailable, MaxPods: replicas + d.MaxSurge, Selector: d.Selector}
}

func workloads() []spec.Workload { return []spec.Workload{spec.Seed.Backend, spec.Seed.Frontend} }

func rolloutFeature() features.Feature {
	const id = "L-ROLLOUT"
	return check(id, "both Deployments become Available; a rolling update keeps ready >= desired and pods <= desired+maxSurge on every event").
		Assess("both Deployments become Available", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			requireApplied(t, id)
			for _, w := range workloads() {
				_, err := live.WaitDeployment(ctx, suite.Clientset, spec.Namespace, w.Deployment.Name, poll.DeploymentAvailable)
				if err != nil {
					failf(t, id, "Deployment "+w.Deployment.Name, "expected Available: %v", err)
					continue
				}
				after, _ := availableAfter.LoadOrStore(w.Deployment.Name, time.Since(appliedAt))
				measure(t, id, "%s Available %s after apply", w.Deployment.Name, after.(time.Duration).Round(100*time.Millisecond))
			}
			return ctx
		}).
		Assess("a rolling update of each keeps the invariant on every watch event", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			requireApplied(t, id)
			start := time.Now()
			var wg sync.WaitGroup
			for _, w := range workloads() {
				wg.Add(1)
				go func() {
					defer wg.Done()
					rollOnce(ctx, testRecorder{t, id}, spec.Namespace, w, w.Deployment.Replicas)
				}()
			}
			wg.Wait()
			suite.Report.Phase("rolling updates (L-ROLLOUT)", time.Since(start), 0)
			return ctx
		}).
		Feature()
}

// rollOnce starts a rolling update of w in ns and holds it to the invariant.
func rollOnce(ctx context.Context, r recorder, ns string, w spec.Workload, replicas int32) {
	name := w.Deployment.Name
	obs, err := live.WatchRollout(ctx, suite.Clientset, ns, name, invariantOf(w, replicas),
		func(ctx context.Context) error { return live.RestartTemplate(ctx, suite.Clientset, ns, name) })
	r.measure("%s at %d replica(s): %s", name, replicas, obs)
	if err != nil {
		r.fail("Deployment "+name, "rolling update did not complete: %v", err)
	}
	for _, v := range obs.Violations {
		r.fail("Deployment "+name, "invariant broken (spec: maxUnavailable %d, maxSurge %d): %s", w.Deployment.MaxUnavailable, w.Deployment.MaxSurge, v)
	}
	if len(obs.NewPods) == 0 && err == nil {
		r.fail("Deployment "+name, "expected new pods after the template change, saw none")
	}
}

// Traffic runs bound to the rollout they watch: the load stops by itself
// once the old pods have been silent for trafficTail.
const (
	trafficInterval = 50 * time.Millisecond
	trafficTimeout  = 2 * time.Second
	trafficTail     = 3 * time.Second
)

func trafficFeature() features.Feature {
	const id = "L-TRAFFIC"
	return check(id, "continuous requests through each Service during its rolling update: zero failures").
		Assess("backend-service (in-cluster) and frontend-service (NodePort from the host) during rollouts", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			requireAvailable(ctx, t, id)
			start := time.Now()
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); backendTraffic(ctx, t, id) }()
			go func() { defer wg.Done(); frontendTraffic(ctx, t, id) }()
			wg.Wait()
			suite.Report.Phase("rolling updates under traffic (L-TRAFFIC)", time.Since(start), 0)
			return ctx
		}).
		Feature()
}

func checkSummary(t *testing.T, id, via string, s traffic.Summary) {
	measure(t, id, "%s: %d sent, %d failed, %d pods answered %v, p50 %.1fms p99 %.1fms, %s", via, s.Sent, s.Failed, len(s.Pods), s.Pods, s.P50Ms, s.P99Ms, s.Duration)
	if s.Failed > 0 {
		failf(t, id, via, "expected zero failed requests during the rolling update, got %d of %d: %v", s.Failed, s.Sent, s.Errors)
	}
	if !s.Replaced || len(s.Pods) < 2 {
		failf(t, id, via, "expected the traffic to span the rollout (old and new pods answering), saw pods %v, replaced=%v", s.Pods, s.Replaced)
	}
}

func backendTraffic(ctx context.Context, t *testing.T, id string) {
	b := spec.Seed.Backend
	url := fmt.Sprintf("http://%s:%d%s", b.Service.Name, b.Service.Port, spec.HealthPath)
	job := live.ProbeJob{
		Namespace: spec.Namespace, Name: "traffic-backend", Image: spec.Seed.Backend.Deployment.Container.Image,
		Args: []string{"load", "-duration", poll.Rollout.Timeout.String(), "-interval", trafficInterval.String(),
			"-timeout", trafficTimeout.String(), "-until-replaced", trafficTail.String(), url},
		Interval: poll.Rollout,
	}
	if err := job.Start(ctx, suite.Clientset); err != nil {
		failf(t, id, "Job traffic-backend", "%v", err)
		return
	}
	rollOnce(ctx, testRecorder{t, id}, spec.Namespace, b, b.Deployment.Replicas)
	lines, _, err := job.Finish(ctx, suite.Clientset)
	if err != nil || len(lines) == 0 {
		failf(t, id, "Job traffic-backend", "no load summary: %v", err)
		return
	}
	var s traffic.Summary
	if err := json.Unmarshal(lines[len(lines)-1], &s); err != nil {
		failf(t, id, "Job traffic-backend", "unreadable summary %s: %v", lines[len(lines)-1], err)
		return
	}
	checkSummary(t, id, "backend-service "+url+" (in-cluster Job)", s)
}

func frontendTraffic(ctx context.Context, t *testing.T, id string) {
	f := spec.Seed.Frontend
	url := fmt.Sprintf("http://%s:%d%s", suite.NodePortHost, f.Service.NodePort, spec.HealthPath)
	lctx, cancel := context.WithTimeout(ctx, poll.Rollout.Timeout)
	defer cancel()
	done := make(chan traffic.Summary, 1)
	baseline := make(chan struct{})
	go func() {
		done <- traffic.Run(lctx, traffic.Options{URL: url, Interval: trafficInterval, Timeout: trafficTimeout, UntilReplaced: trafficTail, Baseline: baseline})
	}()
	// The load must have seen the current pods before the rollout starts.
	select {
	case <-baseline:
	case s := <-done:
		checkSummary(t, id, "frontend-service "+url+" (NodePort from the host)", s)
		return
	}
	rollOnce(ctx, testRecorder{t, id}, spec.Namespace, f, f.Deployment.Replicas)
	checkSummary(t, id, "frontend-service "+url+" (NodePort from the host)", <-done)
}
