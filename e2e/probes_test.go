//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/spec"
	"github.com/puretasks/k8s-conformance/stubs/stubserver"
)

// outcome is what one background scenario measured; lanes report into it
// from several goroutines.
type outcome struct {
	id, name string
	mu       sync.Mutex
	lines    []string // measurements
	misses   []string // failures, each with the seed's window and the manifest's
}

func (o *outcome) measure(format string, a ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lines = append(o.lines, fmt.Sprintf(format, a...))
}

func (o *outcome) miss(format string, a ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.misses = append(o.misses, fmt.Sprintf(format, a...))
}

func (o *outcome) fail(resource, format string, a ...any) {
	o.miss("%s: %s", resource, fmt.Sprintf(format, a...))
}

// probeBlock runs every probe scenario at once, so the block costs about the
// longest single window rather than the sum.
type probeBlock struct {
	wg         sync.WaitGroup
	mu         sync.Mutex
	outcomes   []*outcome
	namespaces []string
	start      time.Time
}

var probes = &probeBlock{}

func fromProbe(p *corev1.Probe) spec.Probe {
	if p == nil {
		return spec.Probe{}
	}
	out := spec.Probe{InitialDelaySeconds: p.InitialDelaySeconds, PeriodSeconds: p.PeriodSeconds, FailureThreshold: p.FailureThreshold, TimeoutSeconds: p.TimeoutSeconds}
	if p.HTTPGet != nil {
		out.Path, out.Port = p.HTTPGet.Path, p.HTTPGet.Port.IntVal
	}
	return out
}

// scenario is one copy of a workload in its own namespace.
type scenario struct {
	id, name string
	w        spec.Workload
	ns       string
	env      map[string]string
	dep      *appsv1.Deployment // as deployed (the manifest's probe fields)
}

// scenarioCount is how many scenarios each workload runs.
const scenarioCount = 5

func (p *probeBlock) Start(ctx context.Context) {
	p.start = time.Now()
	b, f := spec.Seed.Backend, spec.Seed.Frontend
	// The app, the scale copy at its maxima (with surge), the storage copy
	// and every scenario must fit at once.
	rooms, err := live.Room(ctx, suite.Clientset)
	ok, msg := false, fmt.Sprint(err)
	if err == nil {
		ok, msg = live.Fits(rooms, []live.Demand{
			demand(f, scenarioCount+2+int(spec.Seed.Scale.FrontendMax+f.Deployment.MaxSurge), "frontend (app + surge, scenarios, scale copy)"),
			demand(b, scenarioCount+4+int(spec.Seed.Scale.BackendMax+b.Deployment.MaxSurge), "backend (app + surge, scenarios, scale copy, storage copy + surge)"),
		})
	}
	if !ok {
		for _, id := range []string{"L-STARTUP", "L-LIVENESS", "L-READINESS"} {
			p.outcomes = append(p.outcomes, &outcome{id: id, name: "capacity", misses: []string{
				"the probe scenarios cannot run: " + msg + " (the default topology, fixtures/kind/multi-node.yaml, holds them)"}})
		}
		return
	}
	for _, w := range []spec.Workload{b, f} {
		c := w.Deployment.Container
		okDelay := c.Startup.GuaranteedStartup() - startupMargin
		killDelay := c.Startup.KillWindow().Latest + startupMargin
		p.run(ctx, "L-STARTUP", "startup-ok", w, map[string]string{stubserver.EnvStartupDelay: okDelay.String()}, startupOK)
		p.run(ctx, "L-STARTUP", "startup-kill", w, map[string]string{stubserver.EnvStartupDelay: killDelay.String()}, startupKill)
		p.run(ctx, "L-LIVENESS", "liveness-fail", w, nil, liveness(false))
		p.run(ctx, "L-LIVENESS", "liveness-hang", w, nil, liveness(true))
		p.run(ctx, "L-READINESS", "readiness", w, nil, readiness)
	}
}

// startupMargin keeps the "a little less" and "more" start-up delays clear of
// the window's edges.
const startupMargin = 5 * time.Second

func (p *probeBlock) run(ctx context.Context, id, kind string, w spec.Workload, env map[string]string, fn func(context.Context, *scenario, *outcome)) {
	s := &scenario{id: id, name: kind + "-" + w.Deployment.Name, w: w, ns: "probe-" + kind + "-" + w.Deployment.Name, env: env}
	o := &outcome{id: id, name: s.name}
	p.mu.Lock()
	p.outcomes = append(p.outcomes, o)
	p.namespaces = append(p.namespaces, s.ns)
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		// Measured: free the scenario's capacity for the lanes still running.
		defer func() {
			_ = suite.Clientset.CoreV1().Namespaces().Delete(context.WithoutCancel(ctx), s.ns, metav1.DeleteOptions{})
		}()
		if err := s.deploy(ctx); err != nil {
			o.miss("deploying the scenario: %v", err)
			return
		}
		fn(ctx, s, o)
	}()
}

// Results waits for the block and returns the outcomes of one catalogue ID.
func (p *probeBlock) Results(id string) []*outcome {
	p.wg.Wait()
	var out []*outcome
	for _, o := range p.outcomes {
		if o.id == id {
			out = append(out, o)
		}
	}
	return out
}

// Wait blocks until every lane is done and returns how long they ran.
func (p *probeBlock) Wait() time.Duration {
	p.wg.Wait()
	return time.Since(p.start)
}

// Delete removes the lanes' namespaces (in an existing cluster this is the
// cleanup; a kind cluster goes as a whole right after).
func (p *probeBlock) Delete(ctx context.Context) {
	p.wg.Wait()
	for _, ns := range p.namespaces {
		_ = suite.Clientset.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	}
}

// deploy copies the workload's Deployment (and what it needs: ConfigMap,
// Secret, Service) from the manifests under test into the scenario's
// namespace, adding only the stub's knobs.
func (s *scenario) deploy(ctx context.Context) error {
	if err := createNamespace(ctx, s.ns, map[string]string{"k8s-conformance/scenario": s.name}); err != nil {
		return err
	}
	objs := copyInto(manifests.Default, s.ns, func(o client.Object) bool {
		switch x := o.(type) {
		case *corev1.ConfigMap, *corev1.Secret:
			return true
		case *corev1.Service:
			return x.Name == s.w.Service.Name
		case *appsv1.Deployment:
			return x.Name == s.w.Deployment.Name
		}
		return false
	})
	for _, o := range objs {
		if d, ok := o.(*appsv1.Deployment); ok {
			d.Spec.Replicas = ptr.To[int32](1)
			c := &d.Spec.Template.Spec.Containers[0]
			// No drain: the container's exit time is the kubelet's kill time.
			c.Env = append(c.Env, corev1.EnvVar{Name: stubserver.EnvDrain, Value: "0s"})
			for k, v := range s.env {
				c.Env = append(c.Env, corev1.EnvVar{Name: k, Value: v})
			}
			s.dep = d
		}
	}
	if s.dep == nil {
		return fmt.Errorf("no Deployment %s in the manifests under test", s.w.Deployment.Name)
	}
	return live.ApplySet(ctx, suite.Client, objs).Err()
}

// pod returns the scenario's single pod once it exists.
func (s *scenario) pod(ctx context.Context) (*corev1.Pod, error) {
	var pod *corev1.Pod
	err := poll.Until(ctx, poll.PodRunning, func(ctx context.Context) (bool, error) {
		pods, err := live.Pods(ctx, suite.Clientset, s.ns, s.w.Deployment.Selector)
		if err != nil || len(pods) == 0 {
			return false, nil
		}
		pod = &pods[0]
		if r := live.TerminalReason(pod); r != "" {
			return false, fmt.Errorf("cannot run: %s", r)
		}
		return len(pod.Status.ContainerStatuses) > 0 && pod.Status.ContainerStatuses[0].State.Running != nil, nil
	})
	return pod, err
}

// watchPod polls the pod until cond holds (or the observation deadline).
func (s *scenario) watchPod(ctx context.Context, name string, cond func(*corev1.Pod) bool) (*corev1.Pod, error) {
	var last *corev1.Pod
	err := poll.Until(ctx, poll.ProbeObservation, func(ctx context.Context) (bool, error) {
		p, err := suite.Clientset.CoreV1().Pods(s.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = p
		return cond(p), nil
	})
	return last, err
}

func readyAt(p *corev1.Pod) (time.Time, bool) {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time, true
		}
	}
	return time.Time{}, false
}

func restarts(p *corev1.Pod) int32 {
	if len(p.Status.ContainerStatuses) == 0 {
		return 0
	}
	return p.Status.ContainerStatuses[0].RestartCount
}

func startupOK(ctx context.Context, s *scenario, o *outcome) {
	c := s.w.Deployment.Container
	pod, err := s.pod(ctx)
	if err != nil {
		o.miss("no running pod: %v", err)
		return
	}
	started := pod.Status.ContainerStatuses[0].State.Running.StartedAt.Time
	p, err := s.watchPod(ctx, pod.Name, func(p *corev1.Pod) bool { _, ok := readyAt(p); return ok || restarts(p) > 0 })
	if err != nil {
		o.miss("not Ready: %v", err)
		return
	}
	at, ready := readyAt(p)
	o.measure("%s: start-up delay %s (seed prose %s, numbers guarantee %s): Ready %s after start, %d restarts",
		s.w.Deployment.Name, s.env[stubserver.EnvStartupDelay], c.Startup.Budget(), c.Startup.GuaranteedStartup(), at.Sub(started).Round(time.Second), restarts(p))
	if !ready || restarts(p) != 0 {
		o.miss("%s: a container that starts in %s was restarted (%d restarts) instead of becoming Ready; the manifest's startupProbe %s guarantees only %s (kill window %s)",
			s.w.Deployment.Name, s.env[stubserver.EnvStartupDelay], restarts(p), fromProbe(s.dep.Spec.Template.Spec.Containers[0].StartupProbe),
			fromProbe(s.dep.Spec.Template.Spec.Containers[0].StartupProbe).GuaranteedStartup(), fromProbe(s.dep.Spec.Template.Spec.Containers[0].StartupProbe).KillWindow())
	}
}

func startupKill(ctx context.Context, s *scenario, o *outcome) {
	c := s.w.Deployment.Container
	pod, err := s.pod(ctx)
	if err != nil {
		o.miss("no running pod: %v", err)
		return
	}
	p, err := s.watchPod(ctx, pod.Name, func(p *corev1.Pod) bool { return restarts(p) > 0 || isReady(p) })
	if err != nil || restarts(p) == 0 {
		o.miss("%s: a container needing %s was not restarted by the kubelet (ready=%v): %v", s.w.Deployment.Name, s.env[stubserver.EnvStartupDelay], isReady(p), err)
		return
	}
	term := p.Status.ContainerStatuses[0].LastTerminationState.Terminated
	if term == nil {
		o.miss("%s: restarted, but no termination record", s.w.Deployment.Name)
		return
	}
	kill := term.FinishedAt.Sub(term.StartedAt.Time)
	seedWin := c.Startup.KillWindow()
	own := fromProbe(s.dep.Spec.Template.Spec.Containers[0].StartupProbe)
	o.measure("%s: killed %s after start (seed window %s, exit %d %s)", s.w.Deployment.Name, kill, seedWin, term.ExitCode, term.Reason)
	if !seedWin.Contains(kill) {
		o.miss("%s: startup kill at %s, outside the seed's window %s; the manifest's startupProbe %s implies %s", s.w.Deployment.Name, kill, seedWin, own, own.KillWindow())
	}
}

func isReady(p *corev1.Pod) bool { return p != nil && live.PodReady(p) }

// containerStarted reports that the current container passed its startup probe.
func containerStarted(p *corev1.Pod) bool {
	if p == nil || len(p.Status.ContainerStatuses) == 0 {
		return false
	}
	st := p.Status.ContainerStatuses[0].Started
	return st != nil && *st
}

// liveness: after the pod is Ready and its liveness probe is running, health
// stops answering (5xx, or a hang past the timeout); the kubelet must restart
// the container once, inside the seed's window.
func liveness(hang bool) func(context.Context, *scenario, *outcome) {
	return func(ctx context.Context, s *scenario, o *outcome) {
		c := s.w.Deployment.Container
		mode := "fail"
		if hang {
			mode = "hang"
		}
		pod, err := s.pod(ctx)
		if err != nil {
			o.miss("no running pod: %v", err)
			return
		}
		own := fromProbe(s.dep.Spec.Template.Spec.Containers[0].LivenessProbe)
		started := pod.Status.ContainerStatuses[0].State.Running.StartedAt.Time
		// Arm once the liveness probe has run at least once against the
		// healthy server (initial delay + one period): its verdict on a
		// healthy server is the control for what follows.
		armed := started.Add(time.Duration(max(own.InitialDelaySeconds, c.Liveness.InitialDelaySeconds)+max(own.PeriodSeconds, c.Liveness.PeriodSeconds))*time.Second + time.Second)
		p0, err := s.watchPod(ctx, pod.Name, func(p *corev1.Pod) bool { return restarts(p) > 0 || (isReady(p) && time.Now().After(armed)) })
		if err != nil {
			o.miss("%s: pod not Ready with its liveness probe running: %v", s.w.Deployment.Name, err)
			return
		}
		if restarts(p0) > 0 {
			o.miss("%s (%s): restarted %d time(s) while its health answered 200: the manifest's livenessProbe %s fails a healthy server", s.w.Deployment.Name, mode, restarts(p0), own)
			return
		}
		// The kubelet records every failed probe; against a healthy server
		// there must be none, or a later restart proves nothing.
		if msg := livenessFailure(ctx, s.ns, pod.Name); msg != "" {
			o.miss("%s (%s): the liveness probe failed while health answered 200 (%s): the manifest's livenessProbe %s does not probe the server's health", s.w.Deployment.Name, mode, msg, own)
			return
		}
		trigger := time.Now()
		code, body, err := live.Proxy(ctx, suite.Clientset, "POST", s.ns, pod.Name, c.Port, "/stub/health/"+mode, nil)
		if err != nil || code != 200 {
			o.miss("%s: setting the %s knob: %d %s %v", s.w.Deployment.Name, mode, code, body, err)
			return
		}
		p, err := s.watchPod(ctx, pod.Name, func(p *corev1.Pod) bool { return restarts(p) > 0 })
		if err != nil {
			o.miss("%s: health %s for %s and no restart: %v", s.w.Deployment.Name, mode, time.Since(trigger).Round(time.Second), err)
			return
		}
		term := p.Status.ContainerStatuses[0].LastTerminationState.Terminated
		if term == nil {
			o.miss("%s: restarted, but no termination record", s.w.Deployment.Name)
			return
		}
		// FinishedAt has one-second resolution: credit the second.
		latency := term.FinishedAt.Sub(trigger) + 500*time.Millisecond
		seedWin := c.Liveness.DetectionWindow(hang)
		// Exactly one: the new container gets past its startup probe without
		// another restart.
		p, _ = s.watchPod(ctx, pod.Name, func(p *corev1.Pod) bool { return containerStarted(p) || restarts(p) > 1 })
		o.measure("%s (%s): restarted %s after health stopped answering (seed window %s), restarts %d", s.w.Deployment.Name, mode, latency.Round(100*time.Millisecond), seedWin, restarts(p))
		if !seedWin.Contains(latency) {
			o.miss("%s (%s): liveness restart after %s, outside the seed's window %s; the manifest's livenessProbe %s implies %s",
				s.w.Deployment.Name, mode, latency.Round(100*time.Millisecond), seedWin, own, own.DetectionWindow(hang))
		}
		if restarts(p) != 1 {
			o.miss("%s (%s): expected exactly one restart, got %d", s.w.Deployment.Name, mode, restarts(p))
		}
	}
}

// livenessFailure returns the kubelet's first "Liveness probe failed" event
// for the pod, if any.
func livenessFailure(ctx context.Context, ns, pod string) string {
	events, err := suite.Clientset.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod + ",reason=Unhealthy"})
	if err != nil {
		return ""
	}
	for _, e := range events.Items {
		if strings.HasPrefix(e.Message, "Liveness probe failed") {
			return e.Message
		}
	}
	return ""
}

// endpointReady reports whether the pod is a ready endpoint of the Service.
func endpointReady(ctx context.Context, ns, service, pod string) (present, ready bool) {
	slices, err := suite.Clientset.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		return false, false
	}
	for _, sl := range slices.Items {
		for _, e := range sl.Endpoints {
			if e.TargetRef != nil && e.TargetRef.Name == pod {
				return true, e.Conditions.Ready == nil || *e.Conditions.Ready
			}
		}
	}
	return false, false
}

// endpointPods lists every pod behind the Service, whatever its condition.
func endpointPods(ctx context.Context, ns, service string) map[string]bool {
	out := map[string]bool{}
	slices, err := suite.Clientset.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		return out
	}
	for _, sl := range slices.Items {
		for _, e := range sl.Endpoints {
			if e.TargetRef != nil {
				out[e.TargetRef.Name] = true
			}
		}
	}
	return out
}

// readiness: health fails for longer than the readiness window and shorter
// than the liveness window; the pod must leave the Service's endpoints in the
// readiness window, not restart, and rejoin once healthy.
func readiness(ctx context.Context, s *scenario, o *outcome) {
	c := s.w.Deployment.Container
	name := s.w.Deployment.Name
	own := fromProbe(s.dep.Spec.Template.Spec.Containers[0].ReadinessProbe)
	seedWin := c.Readiness.DetectionWindow(false)
	failFor := (seedWin.Latest + c.Liveness.DetectionWindow(false).Earliest) / 2
	pod, err := s.pod(ctx)
	if err != nil {
		o.miss("no running pod: %v", err)
		return
	}
	inService := func(want bool, iv poll.Interval) error {
		return poll.Until(ctx, iv, func(ctx context.Context) (bool, error) {
			_, ready := endpointReady(ctx, s.ns, s.w.Service.Name, pod.Name)
			return ready == want, nil
		})
	}
	if err := inService(true, poll.ProbeObservation); err != nil {
		o.miss("%s: pod never became a ready endpoint: %v", name, err)
		return
	}
	trigger := time.Now()
	code, body, err := live.Proxy(ctx, suite.Clientset, "POST", s.ns, pod.Name, c.Port, "/stub/health/fail?for="+failFor.String(), nil)
	if err != nil || code != 200 {
		o.miss("%s: setting the fail knob: %d %s %v", name, code, body, err)
		return
	}
	// Once health recovers the pod can no longer leave because of it.
	if err := inService(false, poll.Within("readiness-removal", failFor+spec.KubeletSlack)); err != nil {
		o.miss("%s: health failed for %s and the pod stayed in the Service: %v; the manifest's readinessProbe %s implies %s", name, failFor, err, own, own.DetectionWindow(false))
		return
	}
	removed := time.Since(trigger)
	if err := inService(true, poll.ProbeObservation); err != nil {
		o.miss("%s: the pod did not rejoin the Service after health recovered: %v", name, err)
		return
	}
	rejoin := time.Since(trigger) - failFor
	p, _ := suite.Clientset.CoreV1().Pods(s.ns).Get(ctx, pod.Name, metav1.GetOptions{})
	o.measure("%s: health failing for %s: out of the Service after %s (seed window %s), back %s after recovery, restarts %d",
		name, failFor, removed.Round(100*time.Millisecond), seedWin, rejoin.Round(100*time.Millisecond), restarts(p))
	if !seedWin.Contains(removed) {
		o.miss("%s: left the Service after %s, outside the seed's window %s; the manifest's readinessProbe %s implies %s", name, removed.Round(100*time.Millisecond), seedWin, own, own.DetectionWindow(false))
	}
	rejoinBound := time.Duration(c.Readiness.PeriodSeconds)*time.Second + spec.KubeletSlack
	if rejoin > rejoinBound {
		o.miss("%s: rejoined %s after recovery, expected within %s (one readiness period + slack); the manifest's readinessProbe is %s", name, rejoin.Round(100*time.Millisecond), rejoinBound, own)
	}
	if restarts(p) != 0 {
		o.miss("%s: unready-but-alive pod was restarted %d time(s): liveness acted inside %s", name, restarts(p), failFor)
	}
}

// probeFeature reports the outcomes of one ID's scenarios.
func probeFeature(id, title string) features.Feature {
	return check(id, title).
		Assess("measured against the seed's windows", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			for _, o := range probes.Results(id) {
				for _, l := range o.lines {
					measure(t, id, "%s", l)
				}
				for _, m := range o.misses {
					failf(t, id, "scenario "+o.name, "%s", m)
				}
			}
			return ctx
		}).
		Feature()
}

func startupFeature() features.Feature {
	return probeFeature("L-STARTUP", "a start-up a little under the seed's budget becomes Ready with 0 restarts; one over it is killed inside the window")
}
func livenessFeature() features.Feature {
	return probeFeature("L-LIVENESS", "health that fails or hangs is restarted once, inside the seed's window")
}
func readinessFeature() features.Feature {
	return probeFeature("L-READINESS", "an unhealthy pod leaves the Service inside the readiness window, is not restarted, and rejoins")
}
