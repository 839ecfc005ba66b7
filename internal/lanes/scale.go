package lanes

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/spec"
	"github.com/puretasks/k8s-conformance/internal/traffic"
)

// ScaleNamespace holds the scale lane's copy of the app: the manifests'
// ConfigMap, Secret, Deployments and Services, so that scaling runs beside
// the probe scenarios and the todo-app checks instead of after them.
const ScaleNamespace = "scale-check"

// Workloads are the seed's two Deployments with their Services.
func Workloads() []spec.Workload { return []spec.Workload{spec.Seed.Backend, spec.Seed.Frontend} }

// ScaleTo is the seed's stated maximum for w: backend 3, frontend 2.
func ScaleTo(w spec.Workload) int32 {
	if w.Deployment.Name == spec.Seed.Backend.Deployment.Name {
		return spec.Seed.Scale.BackendMax
	}
	return spec.Seed.Scale.FrontendMax
}

// ScaleDemand is what scaling both copies to their maxima adds to the
// cluster, with a rolling update's surge pod.
func ScaleDemand() []live.Demand {
	var out []live.Demand
	for _, w := range Workloads() {
		out = append(out, Demand(w, int(ScaleTo(w)-w.Deployment.Replicas+w.Deployment.MaxSurge), w.Deployment.Name+" (scale + surge)"))
	}
	return out
}

// DeployCopy applies every namespaced object of the default set into ns
// (which must exist). It does not wait for the copy at its manifest's size:
// both checks scale it first and wait until every pod of the scaled copy is
// Ready (ScaleUp), so a copy that never starts fails there, and the wait
// for one Ready pod before scaling (about 20 s) stays off the run's
// critical path.
func DeployCopy(ctx context.Context, env Env, ns string) error {
	objs := env.Copy(manifests.Default, ns, func(o client.Object) bool {
		_, isNamespace := o.(*corev1.Namespace)
		return !isNamespace
	})
	if len(objs) == 0 {
		return fmt.Errorf("the manifests under test hold no default set to copy into %s", ns)
	}
	if err := env.Apply(ctx, objs); err != nil {
		return fmt.Errorf("applying the copy into %s: %w", ns, err)
	}
	return nil
}

// ScaleUp scales w in ns to n and waits until n pods are Ready, reporting
// each through r.
func ScaleUp(ctx context.Context, env Env, r *Recorder, ns string, w spec.Workload, n int32) bool {
	name := w.Deployment.Name
	if err := live.Scale(ctx, env.Clientset, ns, name, n); err != nil {
		r.Fail("Deployment "+ns+"/"+name, "scaling to %d: %v", n, err)
		return false
	}
	d, err := live.WaitDeployment(ctx, env.Clientset, ns, name, poll.Rollout)
	if err != nil {
		r.Fail("Deployment "+ns+"/"+name, "expected %d Ready replicas: %v", n, err)
		return false
	}
	pods, err := live.Pods(ctx, env.Clientset, ns, w.Deployment.Selector)
	if err != nil {
		r.Fail("Deployment "+ns+"/"+name, "listing its pods after the scale: %v", err)
		return false
	}
	nodes := map[string]int{}
	ready := 0
	for _, p := range pods {
		nodes[p.Spec.NodeName]++
		if live.PodReady(&p) {
			ready++
		}
	}
	r.Measure("%s: %d/%d pods Ready in %s, spread over %d node(s)", name, ready, n, d.Round(100*time.Millisecond), len(nodes))
	if ready != int(n) {
		r.Fail("Deployment "+ns+"/"+name, "expected %d Ready pods, got %d", n, ready)
		return false
	}
	return true
}

// Scale is L-SCALE on the copy in ns: once the cluster has room, both
// Deployments go to the seed's maxima with every pod Ready, then a rolling
// update of each at that size keeps the L-ROLLOUT invariant.
func Scale(ctx context.Context, env Env, r *Recorder, ns string) {
	// Other lanes come and go: wait for room, and say plainly if it never comes.
	msg, err := WaitForRoom(ctx, env.Clientset, ScaleDemand(), poll.Rollout)
	if err != nil {
		r.Fail("cluster", "no room to scale the copy: %v", err)
		return
	}
	r.Measure("%s", msg)
	var wg sync.WaitGroup
	ok := make([]bool, len(Workloads()))
	for i, w := range Workloads() {
		wg.Add(1)
		go func() { defer wg.Done(); ok[i] = ScaleUp(ctx, env, r, ns, w, ScaleTo(w)) }()
	}
	wg.Wait()
	for i, w := range Workloads() {
		if !ok[i] {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); Roll(ctx, env, ns, w, ScaleTo(w)).Judge(r) }()
	}
	wg.Wait()
}

// LBRequests is how many requests L-LB sends; with 3 replicas the chance
// that one never answers is (2/3)^300.
const LBRequests = 300

// lbInterval spaces L-LB's requests.
const lbInterval = 10 * time.Millisecond

// LoadSpread is L-LB on the copy in ns: with the backend at its maximum,
// requests through backend-service from inside the cluster reach every
// replica and all succeed. A backend not at its maximum is scaled first
// (L-LB may run without L-SCALE).
func LoadSpread(ctx context.Context, env Env, r *Recorder, ns string) {
	b := spec.Seed.Backend
	if !ScaleUp(ctx, env, r, ns, b, ScaleTo(b)) {
		return
	}
	pods, err := live.Pods(ctx, env.Clientset, ns, b.Deployment.Selector)
	if err != nil {
		r.Fail("Deployment "+ns+"/"+b.Deployment.Name, "listing its pods: %v", err)
		return
	}
	// Pods replaced by a rolling update may still be draining behind the
	// Service: start once its endpoints are exactly the current replicas.
	want := map[string]bool{}
	for _, p := range pods {
		want[p.Name] = true
	}
	last := "no observation yet"
	err = poll.Until(ctx, poll.PodGone, func(ctx context.Context) (bool, error) {
		seen, err := endpointPods(ctx, env, ns, b.Service.Name)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = fmt.Sprint(seen)
		return maps.Equal(seen, want), nil
	})
	if err != nil {
		r.Fail("Service "+ns+"/"+b.Service.Name, "expected its endpoints to be exactly the %d replicas %v: %v; last seen: %s", len(want), want, err, last)
		return
	}
	url := fmt.Sprintf("http://%s:%d%s", b.Service.Name, b.Service.Port, spec.HealthPath)
	lines, ok, err := live.ProbeJob{Namespace: ns, Name: "lb", Image: b.Deployment.Container.Image,
		Args: []string{"load", "-count", fmt.Sprint(LBRequests), "-interval", lbInterval.String(), url}, Interval: poll.JobComplete}.Run(ctx, env.Clientset)
	if err != nil {
		r.Fail("Job "+ns+"/lb", "load job: %v", err)
		return
	}
	if len(lines) == 0 {
		r.Fail("Job "+ns+"/lb", "the load job printed no summary (succeeded=%v)", ok)
		return
	}
	var s traffic.Summary
	if err := json.Unmarshal(lines[len(lines)-1], &s); err != nil {
		r.Fail("Job "+ns+"/lb", "unreadable summary %s: %v", lines[len(lines)-1], err)
		return
	}
	r.Measure("%d requests through %s (copy in %s), %d failed, answered by %d/%d replicas: %v", s.Sent, b.Service.Name, ns, s.Failed, len(s.Pods), len(pods), s.Pods)
	if s.Sent != LBRequests {
		r.Fail("Job "+ns+"/lb", "expected %d requests sent, the summary says %d", LBRequests, s.Sent)
	}
	for _, p := range pods {
		if s.Pods[p.Name] == 0 {
			r.Fail("Service "+ns+"/"+b.Service.Name, "replica %s never answered (%d requests: %v)", p.Name, s.Sent, s.Pods)
		}
	}
	if !ok || s.Failed > 0 {
		r.Fail("Service "+ns+"/"+b.Service.Name, "expected every request to succeed: %d failed, job succeeded=%v: %v", s.Failed, ok, s.Errors)
	}
}

// RolloutWatch is one Deployment's pod watch across a change.
type RolloutWatch struct {
	Workload  spec.Workload
	Invariant live.Invariant
	Obs       live.RolloutObservation
	Err       error
}

// WatchTogether watches every workload's pods in ns across one change that
// rolls them together (a helm upgrade, an apply of a new revision): change
// runs once, when every pod watch has synced, so no watch misses its first
// events; a watch that never started does not hold it up. change's error
// ends each watch as WatchRollout's trigger error does.
func WatchTogether(ctx context.Context, cs kubernetes.Interface, ns string, ws []spec.Workload, invariant func(spec.Workload) live.Invariant, change func() error) []RolloutWatch {
	var (
		ready     sync.WaitGroup
		once      sync.Once
		changeErr error
	)
	out := make([]RolloutWatch, len(ws))
	ready.Add(len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Go(func() {
			inv := invariant(w)
			triggered := false
			obs, err := live.WatchRollout(ctx, cs, ns, w.Deployment.Name, inv, func(context.Context) error {
				triggered = true
				ready.Done()
				once.Do(func() { ready.Wait(); changeErr = change() })
				return changeErr
			})
			if !triggered {
				ready.Done() // the watch never started: the change must not wait for it
			}
			out[i] = RolloutWatch{Workload: w, Invariant: inv, Obs: obs, Err: err}
		})
	}
	wg.Wait()
	return out
}
