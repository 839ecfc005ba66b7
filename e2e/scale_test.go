//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/spec"
	"github.com/puretasks/k8s-conformance/internal/traffic"
)

// scaleTo holds the seed's stated maxima: backend 3, frontend 2.
func scaleTo(w spec.Workload) int32 {
	if w.Deployment.Name == spec.Seed.Backend.Deployment.Name {
		return spec.Seed.Scale.BackendMax
	}
	return spec.Seed.Scale.FrontendMax
}

func demand(w spec.Workload, pods int, what string) live.Demand {
	r := w.Deployment.Container.Resources
	return live.Demand{What: what, Pods: pods, CPU: resource.MustParse(r.RequestsCPU), Mem: resource.MustParse(r.RequestsMemory)}
}

// scaleAll scales both Deployments and waits until every pod is Ready.
func scaleAll(ctx context.Context, t *testing.T, id string, size func(spec.Workload) int32) {
	var wg sync.WaitGroup
	for _, w := range workloads() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := size(w)
			if err := live.Scale(ctx, suite.Clientset, spec.Namespace, w.Deployment.Name, n); err != nil {
				failf(t, id, "Deployment "+w.Deployment.Name, "scaling to %d: %v", n, err)
				return
			}
			d, err := live.WaitDeployment(ctx, suite.Clientset, spec.Namespace, w.Deployment.Name, poll.Rollout)
			if err != nil {
				failf(t, id, "Deployment "+w.Deployment.Name, "expected %d Ready replicas: %v", n, err)
				return
			}
			pods, _ := live.Pods(ctx, suite.Clientset, spec.Namespace, w.Deployment.Selector)
			nodes := map[string]int{}
			ready := 0
			for _, p := range pods {
				nodes[p.Spec.NodeName]++
				if live.PodReady(&p) {
					ready++
				}
			}
			measure(t, id, "%s: %d/%d pods Ready in %s, on nodes %v", w.Deployment.Name, ready, n, d.Round(100*time.Millisecond), nodes)
			if ready != int(n) {
				failf(t, id, "Deployment "+w.Deployment.Name, "expected %d Ready pods, got %d", n, ready)
			}
		}()
	}
	wg.Wait()
}

func scaleFeature() features.Feature {
	const id = "L-SCALE"
	return check(id, "backend scales to 3 and frontend to 2 with every pod Ready; a rolling update at those sizes keeps the L-ROLLOUT invariant").
		Assess("the cluster can hold the scaled set", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			requireAvailable(ctx, t, id)
			rooms, err := live.Room(ctx, suite.Clientset)
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			b, f := spec.Seed.Backend, spec.Seed.Frontend
			// The extra replicas, plus one surge pod of each during the rolling update.
			ok, msg := live.Fits(rooms, []live.Demand{
				demand(f, int(scaleTo(f)-f.Deployment.Replicas+f.Deployment.MaxSurge), "frontend (scale + surge)"),
				demand(b, int(scaleTo(b)-b.Deployment.Replicas+b.Deployment.MaxSurge), "backend (scale + surge)"),
			})
			measure(t, id, "%s", msg)
			if !ok {
				t.Fatalf("%s: %s (use a larger topology: E2E_KIND_CONFIG=fixtures/kind/multi-node.yaml)", id, msg)
			}
			return ctx
		}).
		Assess("scale to the seed's maxima", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			start := time.Now()
			scaleAll(ctx, t, id, scaleTo)
			suite.Report.Phase("scale to 3/2", time.Since(start), 0)
			return ctx
		}).
		Assess("rolling updates at the scaled sizes keep the invariant", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			start := time.Now()
			var wg sync.WaitGroup
			for _, w := range workloads() {
				wg.Add(1)
				go func() { defer wg.Done(); rollOnce(ctx, t, id, w, scaleTo(w)) }()
			}
			wg.Wait()
			suite.Report.Phase("rolling updates at 3/2 (L-SCALE)", time.Since(start), 0)
			return ctx
		}).
		Feature()
}

// lbRequests is how many requests L-LB sends; with 3 replicas the chance that
// one never answers is (2/3)^300.
const lbRequests = 300

func lbFeature() features.Feature {
	const id = "L-LB"
	b := spec.Seed.Backend
	return check(id, "with 3 backend replicas, requests through backend-service reach every replica").
		Assess("requests from a pod reach every backend replica", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			requireAvailable(ctx, t, id)
			pods, err := live.Pods(ctx, suite.Clientset, spec.Namespace, b.Deployment.Selector)
			if err != nil || len(pods) != int(spec.Seed.Scale.BackendMax) {
				scaleAll(ctx, t, id, scaleTo)
				pods, _ = live.Pods(ctx, suite.Clientset, spec.Namespace, b.Deployment.Selector)
			}
			// Pods replaced by an earlier rollout may still be draining behind
			// the Service: start once its ready endpoints are exactly these pods.
			want := map[string]bool{}
			for _, p := range pods {
				want[p.Name] = true
			}
			var seen map[string]bool
			err = poll.Until(ctx, poll.PodGone, func(ctx context.Context) (bool, error) {
				seen = endpointPods(ctx, spec.Namespace, b.Service.Name)
				return maps.Equal(seen, want), nil
			})
			if err != nil {
				failf(t, id, "Service "+b.Service.Name, "expected its endpoints to be exactly the %d replicas %v, saw %v: %v", len(want), want, seen, err)
			}
			url := fmt.Sprintf("http://%s:%d%s", b.Service.Name, b.Service.Port, spec.HealthPath)
			lines, ok, err := live.ProbeJob{Namespace: spec.Namespace, Name: "lb", Image: b.Deployment.Container.Image,
				Args: []string{"load", "-count", fmt.Sprint(lbRequests), "-interval", "10ms", url}, Interval: poll.JobComplete}.Run(ctx, suite.Clientset)
			if err != nil || len(lines) == 0 {
				t.Fatalf("%s: load job: %v", id, err)
			}
			var s traffic.Summary
			if err := json.Unmarshal(lines[len(lines)-1], &s); err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			var names []string
			for _, p := range pods {
				names = append(names, p.Name)
				if s.Pods[p.Name] == 0 {
					failf(t, id, "Service "+b.Service.Name, "replica %s never answered (%d requests: %v)", p.Name, s.Sent, s.Pods)
				}
			}
			sort.Strings(names)
			measure(t, id, "%d requests, %d failed, answered by %d/%d replicas: %v", s.Sent, s.Failed, len(s.Pods), len(pods), s.Pods)
			if !ok {
				failf(t, id, "Service "+b.Service.Name, "expected every request to succeed: %v", s.Errors)
			}
			return ctx
		}).
		Assess("back to the seed's replicas", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			scaleAll(ctx, t, id, func(w spec.Workload) int32 { return w.Deployment.Replicas })
			return ctx
		}).
		Feature()
}
