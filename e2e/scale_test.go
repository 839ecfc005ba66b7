//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/spec"
	"github.com/puretasks/k8s-conformance/internal/traffic"
)

// scaleNamespace holds the scale lane's copy of the app: the manifests'
// ConfigMap, Secret, Deployments and Services, so that scaling runs beside the
// probe block and the todo-app checks instead of after them.
const scaleNamespace = "scale-check"

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

// scaleAll scales both Deployments in ns and waits until every pod is Ready.
func scaleAll(ctx context.Context, r recorder, ns string, size func(spec.Workload) int32) {
	var wg sync.WaitGroup
	for _, w := range workloads() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := size(w)
			if err := live.Scale(ctx, suite.Clientset, ns, w.Deployment.Name, n); err != nil {
				r.fail("Deployment "+w.Deployment.Name, "scaling to %d: %v", n, err)
				return
			}
			d, err := live.WaitDeployment(ctx, suite.Clientset, ns, w.Deployment.Name, poll.Rollout)
			if err != nil {
				r.fail("Deployment "+w.Deployment.Name, "expected %d Ready replicas: %v", n, err)
				return
			}
			pods, _ := live.Pods(ctx, suite.Clientset, ns, w.Deployment.Selector)
			nodes := map[string]int{}
			ready := 0
			for _, p := range pods {
				nodes[p.Spec.NodeName]++
				if live.PodReady(&p) {
					ready++
				}
			}
			r.measure("%s: %d/%d pods Ready in %s, spread over %d node(s)", w.Deployment.Name, ready, n, d.Round(100*time.Millisecond), len(nodes))
			if ready != int(n) {
				r.fail("Deployment "+w.Deployment.Name, "expected %d Ready pods, got %d", n, ready)
			}
		}()
	}
	wg.Wait()
}

// startScaleLane runs L-SCALE and then L-LB on the copy, in the background.
func (p *probeBlock) startScaleLane(ctx context.Context) {
	scale := &outcome{id: "L-SCALE", name: scaleNamespace}
	lb := &outcome{id: "L-LB", name: scaleNamespace}
	p.mu.Lock()
	p.outcomes = append(p.outcomes, scale, lb)
	p.namespaces = append(p.namespaces, scaleNamespace)
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		start := time.Now()
		if !scaleLane(ctx, scale) {
			lb.miss("not run: the scale lane failed (see L-SCALE)")
			return
		}
		suite.Report.Phase("scale lane: L-SCALE (copy in "+scaleNamespace+")", time.Since(start), 0)
		start = time.Now()
		loadSpread(ctx, lb)
		suite.Report.Phase("scale lane: L-LB", time.Since(start), 0)
	}()
}

func deployCopy(ctx context.Context, ns string) error {
	if err := createNamespace(ctx, ns, nil); err != nil {
		return err
	}
	objs := copyInto(manifests.Default, ns, func(o client.Object) bool {
		_, isNamespace := o.(*corev1.Namespace)
		return !isNamespace
	})
	return live.ApplySet(ctx, suite.Client, objs).Err()
}

func scaleLane(ctx context.Context, o *outcome) bool {
	if err := deployCopy(ctx, scaleNamespace); err != nil {
		o.fail("namespace "+scaleNamespace, "deploying the copy: %v", err)
		return false
	}
	for _, w := range workloads() {
		if _, err := live.WaitDeployment(ctx, suite.Clientset, scaleNamespace, w.Deployment.Name, poll.DeploymentAvailable); err != nil {
			o.fail("Deployment "+w.Deployment.Name, "copy not Available: %v", err)
			return false
		}
	}
	b, f := spec.Seed.Backend, spec.Seed.Frontend
	need := []live.Demand{
		demand(f, int(scaleTo(f)-f.Deployment.Replicas+f.Deployment.MaxSurge), "frontend (scale + surge)"),
		demand(b, int(scaleTo(b)-b.Deployment.Replicas+b.Deployment.MaxSurge), "backend (scale + surge)"),
	}
	// Other lanes come and go: wait for room, and say plainly if it never comes.
	var msg string
	err := poll.Until(ctx, poll.Rollout, func(ctx context.Context) (bool, error) {
		rooms, err := live.Room(ctx, suite.Clientset)
		if err != nil {
			return false, nil
		}
		var ok bool
		ok, msg = live.Fits(rooms, need)
		return ok, nil
	})
	o.measure("%s", msg)
	if err != nil {
		o.fail("cluster", "%s (the default topology, fixtures/kind/multi-node.yaml, holds it)", msg)
		return false
	}
	scaleAll(ctx, o, scaleNamespace, scaleTo)
	var wg sync.WaitGroup
	for _, w := range workloads() {
		wg.Add(1)
		go func() { defer wg.Done(); rollOnce(ctx, o, scaleNamespace, w, scaleTo(w)) }()
	}
	wg.Wait()
	return len(o.misses) == 0
}

// lbRequests is how many requests L-LB sends; with 3 replicas the chance that
// one never answers is (2/3)^300.
const lbRequests = 300

func loadSpread(ctx context.Context, o *outcome) {
	b := spec.Seed.Backend
	pods, err := live.Pods(ctx, suite.Clientset, scaleNamespace, b.Deployment.Selector)
	if err != nil {
		o.fail("Deployment "+b.Deployment.Name, "%v", err)
		return
	}
	// Pods replaced by the rolling update may still be draining behind the
	// Service: start once its endpoints are exactly the current replicas.
	want := map[string]bool{}
	for _, p := range pods {
		want[p.Name] = true
	}
	var seen map[string]bool
	err = poll.Until(ctx, poll.PodGone, func(ctx context.Context) (bool, error) {
		seen = endpointPods(ctx, scaleNamespace, b.Service.Name)
		return maps.Equal(seen, want), nil
	})
	if err != nil {
		o.fail("Service "+b.Service.Name, "expected its endpoints to be exactly the %d replicas %v, saw %v: %v", len(want), want, seen, err)
	}
	url := fmt.Sprintf("http://%s:%d%s", b.Service.Name, b.Service.Port, spec.HealthPath)
	lines, ok, err := live.ProbeJob{Namespace: scaleNamespace, Name: "lb", Image: b.Deployment.Container.Image,
		Args: []string{"load", "-count", fmt.Sprint(lbRequests), "-interval", "10ms", url}, Interval: poll.JobComplete}.Run(ctx, suite.Clientset)
	if err != nil || len(lines) == 0 {
		o.fail("Job lb", "load job: %v", err)
		return
	}
	var s traffic.Summary
	if err := json.Unmarshal(lines[len(lines)-1], &s); err != nil {
		o.fail("Job lb", "%v", err)
		return
	}
	for _, p := range pods {
		if s.Pods[p.Name] == 0 {
			o.fail("Service "+b.Service.Name, "replica %s never answered (%d requests: %v)", p.Name, s.Sent, s.Pods)
		}
	}
	o.measure("%d requests through %s (copy in %s), %d failed, answered by %d/%d replicas: %v", s.Sent, b.Service.Name, scaleNamespace, s.Failed, len(s.Pods), len(pods), s.Pods)
	if !ok {
		o.fail("Service "+b.Service.Name, "expected every request to succeed: %v", s.Errors)
	}
}

func scaleFeature() features.Feature {
	return probeFeature("L-SCALE", "backend scales to 3 and frontend to 2 with every pod Ready; a rolling update at those sizes keeps the L-ROLLOUT invariant")
}
func lbFeature() features.Feature {
	return probeFeature("L-LB", "with 3 backend replicas, requests through backend-service reach every replica")
}
