package lanes

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/report"
	"github.com/puretasks/k8s-conformance/internal/spec"
	"github.com/puretasks/k8s-conformance/stubs/stubserver"
)

// Probe scenario kinds.
const (
	StartupOK    = "startup-ok"
	StartupKill  = "startup-kill"
	LivenessFail = "liveness-fail"
	LivenessHang = "liveness-hang"
	Readiness    = "readiness"
)

// kindsOf lists the scenario kinds each catalogue ID runs, per workload.
var kindsOf = map[string][]string{
	"L-STARTUP":   {StartupOK, StartupKill},
	"L-LIVENESS":  {LivenessFail, LivenessHang},
	"L-READINESS": {Readiness},
}

// ProbeIDs are the catalogue IDs of the probe lane.
var ProbeIDs = []string{"L-STARTUP", "L-LIVENESS", "L-READINESS"}

// StartupMargin keeps the "a little less" and "more" start-up delays clear
// of the window's edges.
const StartupMargin = 5 * time.Second

// Scenario is one copy of a workload in a namespace of its own, with the
// stub's knobs set for what it measures.
type Scenario struct {
	ID        string
	Kind      string
	Workload  spec.Workload
	Namespace string
	Env       map[string]string // the stub's knobs
	dep       *appsv1.Deployment
}

// Name is the scenario's name in test output and the report ("startup-ok-backend").
func (s *Scenario) Name() string { return s.Kind + "-" + s.Workload.Deployment.Name }

// Scenarios returns the scenarios of one probe ID, for both workloads of the seed.
func Scenarios(id string) []*Scenario {
	var out []*Scenario
	for _, w := range []spec.Workload{spec.Seed.Backend, spec.Seed.Frontend} {
		for _, k := range kindsOf[id] {
			out = append(out, NewScenario(id, k, w))
		}
	}
	return out
}

// NewScenario is one scenario of w; its namespace is probe-<kind>-<deployment>.
func NewScenario(id, kind string, w spec.Workload) *Scenario {
	s := &Scenario{ID: id, Kind: kind, Workload: w, Env: map[string]string{}}
	s.Namespace = "probe-" + s.Name()
	c := w.Deployment.Container
	switch kind {
	case StartupOK:
		s.Env[stubserver.EnvStartupDelay] = (c.Startup.GuaranteedStartup() - StartupMargin).String()
	case StartupKill:
		s.Env[stubserver.EnvStartupDelay] = (c.Startup.KillWindow().Latest + StartupMargin).String()
	}
	return s
}

// ScenarioDemand is what the probe scenarios of the given IDs request of the
// cluster at once (one pod each).
func ScenarioDemand(ids ...string) []live.Demand {
	var out []live.Demand
	for _, w := range []spec.Workload{spec.Seed.Backend, spec.Seed.Frontend} {
		n := 0
		for _, id := range ids {
			n += len(kindsOf[id])
		}
		if n > 0 {
			out = append(out, Demand(w, n, w.Deployment.Name+" probe scenarios"))
		}
	}
	return out
}

// Demand is n pods of w's requests.
func Demand(w spec.Workload, pods int, what string) live.Demand {
	r := w.Deployment.Container.Resources
	return live.Demand{What: what, Pods: pods, CPU: resource.MustParse(r.RequestsCPU), Mem: resource.MustParse(r.RequestsMemory)}
}

// WaitForRoom waits until the cluster can hold the demands beside what runs
// now (other lanes come and go); it returns the sentence Fits wrote, and an
// error saying why when room never came.
func WaitForRoom(ctx context.Context, cs kubernetes.Interface, need []live.Demand, iv poll.Interval) (string, error) {
	msg := "no reading of the nodes yet"
	err := poll.Until(ctx, iv, func(ctx context.Context) (bool, error) {
		rooms, err := live.Room(ctx, cs)
		if err != nil {
			msg = "reading the nodes' room: " + err.Error()
			return false, nil
		}
		var ok bool
		ok, msg = live.Fits(rooms, need)
		return ok, nil
	})
	if err != nil {
		return msg, fmt.Errorf("%w; last seen: %s (the default topology, fixtures/kind/multi-node.yaml, holds it)", err, msg)
	}
	return msg, nil
}

// Deploy copies the workload's Deployment (and what it needs: ConfigMaps,
// Secrets, its Service) from the manifests under test into the scenario's
// namespace, which must exist, adding only the stub's knobs.
func (s *Scenario) Deploy(ctx context.Context, env Env) error {
	objs := env.Copy(manifests.Default, s.Namespace, func(o client.Object) bool {
		switch x := o.(type) {
		case *corev1.ConfigMap, *corev1.Secret:
			return true
		case *corev1.Service:
			return x.Name == s.Workload.Service.Name
		case *appsv1.Deployment:
			return x.Name == s.Workload.Deployment.Name
		}
		return false
	})
	for _, o := range objs {
		d, ok := o.(*appsv1.Deployment)
		if !ok {
			continue
		}
		d.Spec.Replicas = ptr.To[int32](1)
		c := &d.Spec.Template.Spec.Containers[0]
		// No drain: the container's exit time is the kubelet's kill time.
		c.Env = append(c.Env, corev1.EnvVar{Name: stubserver.EnvDrain, Value: "0s"})
		for k, v := range s.Env {
			c.Env = append(c.Env, corev1.EnvVar{Name: k, Value: v})
		}
		s.dep = d
	}
	if s.dep == nil {
		return fmt.Errorf("no Deployment %s in the manifests under test", s.Workload.Deployment.Name)
	}
	if err := env.Apply(ctx, objs); err != nil {
		return fmt.Errorf("applying the scenario's copy in %s: %w", s.Namespace, err)
	}
	return nil
}

// own returns the manifest's own probe of the deployed copy (the window it
// implies is reported next to the seed's on a miss).
func (s *Scenario) own(pick func(*corev1.Container) *corev1.Probe) spec.Probe {
	if s.dep == nil || len(s.dep.Spec.Template.Spec.Containers) == 0 {
		return spec.Probe{}
	}
	return fromProbe(pick(&s.dep.Spec.Template.Spec.Containers[0]))
}

func startupProbe(c *corev1.Container) *corev1.Probe   { return c.StartupProbe }
func livenessProbe(c *corev1.Container) *corev1.Probe  { return c.LivenessProbe }
func readinessProbe(c *corev1.Container) *corev1.Probe { return c.ReadinessProbe }

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

// Measure runs the scenario's observation and reports it through r. Every
// path reports a measurement or a failure.
func (s *Scenario) Measure(ctx context.Context, env Env, r *Recorder) {
	switch s.Kind {
	case StartupOK:
		s.startupOK(ctx, env, r)
	case StartupKill:
		s.startupKill(ctx, env, r)
	case LivenessFail:
		s.liveness(ctx, env, r, false)
	case LivenessHang:
		s.liveness(ctx, env, r, true)
	case Readiness:
		s.readiness(ctx, env, r)
	default:
		r.Fail("scenario "+s.Name(), "unknown scenario kind %q", s.Kind)
	}
	r.RequireOutcome("scenario " + s.Name())
}

// runningPod returns the scenario's single pod once its container runs; the
// error says what was last seen.
func (s *Scenario) runningPod(ctx context.Context, env Env) (*corev1.Pod, error) {
	var pod *corev1.Pod
	last := "no pod yet"
	err := poll.Until(ctx, poll.PodRunning, func(ctx context.Context) (bool, error) {
		pods, err := live.Pods(ctx, env.Clientset, s.Namespace, s.Workload.Deployment.Selector)
		if err != nil {
			last = "listing pods: " + err.Error()
			return false, nil
		}
		if len(pods) == 0 {
			last = "no pod yet"
			return false, nil
		}
		pod = &pods[0]
		last = describePod(pod)
		if r := live.TerminalReason(pod); r != "" {
			return false, fmt.Errorf("cannot run: %s", r)
		}
		return len(pod.Status.ContainerStatuses) > 0 && pod.Status.ContainerStatuses[0].State.Running != nil, nil
	})
	if err != nil {
		return nil, fmt.Errorf("no running pod in %s: %w; last seen: %s", s.Namespace, err, last)
	}
	return pod, nil
}

// watchPod polls the pod until cond holds. A failed Get is never an empty
// pod: it is carried as the last seen state, and on timeout the error says
// what was last seen.
func (s *Scenario) watchPod(ctx context.Context, env Env, name string, iv poll.Interval, cond func(*corev1.Pod) bool) (*corev1.Pod, error) {
	var pod *corev1.Pod
	last := "no pod seen"
	err := poll.Until(ctx, iv, func(ctx context.Context) (bool, error) {
		p, err := env.Clientset.CoreV1().Pods(s.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = "getting pod " + name + ": " + err.Error()
			return false, nil
		}
		pod, last = p, describePod(p)
		return cond(p), nil
	})
	if err != nil {
		return pod, fmt.Errorf("%w; last seen: %s", err, last)
	}
	return pod, nil
}

// getPod reads the pod once; a failed Get is an error, never an empty pod.
func getPod(ctx context.Context, env Env, ns, name string) (*corev1.Pod, error) {
	p, err := env.Clientset.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("getting pod %s/%s: %w", ns, name, err)
	}
	return p, nil
}

func readyAt(p *corev1.Pod) (time.Time, bool) {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time, true
		}
	}
	return time.Time{}, false
}

// containerStarted reports that the current container passed its startup probe.
func containerStarted(p *corev1.Pod) bool {
	if p == nil || len(p.Status.ContainerStatuses) == 0 {
		return false
	}
	st := p.Status.ContainerStatuses[0].Started
	return st != nil && *st
}

// statusResolution is the resolution of the pod status timestamps a
// measurement subtracts (container start, condition transition): a second.
const statusResolution = time.Second

// readyWindow is when a container that starts answering after delay becomes
// Ready: its startup probe passes within one startup period, its readiness
// probe within one readiness period after that. Both ends are read from
// one-second timestamps, so the window opens a second early (measured here:
// 45 s for a 45 s delay, on the edge).
func readyWindow(startup, readiness spec.Probe, delay time.Duration) spec.Window {
	return spec.Window{Earliest: delay - statusResolution, Latest: delay + time.Duration(startup.PeriodSeconds+readiness.PeriodSeconds)*time.Second + spec.KubeletSlack}
}

func (s *Scenario) startupOK(ctx context.Context, env Env, r *Recorder) {
	c := s.Workload.Deployment.Container
	name := s.Workload.Deployment.Name
	delay, _ := time.ParseDuration(s.Env[stubserver.EnvStartupDelay])
	seedWin := readyWindow(c.Startup, c.Readiness, delay)
	miss := report.ProbeMeasurement{Scenario: s.Name(), Missing: true, Seed: window(seedWin)}
	pod, err := s.runningPod(ctx, env)
	if err != nil {
		r.Probe(miss)
		r.Fail("scenario "+s.Name(), "%v", err)
		return
	}
	started := pod.Status.ContainerStatuses[0].State.Running.StartedAt.Time
	p, err := s.watchPod(ctx, env, pod.Name, poll.ProbeObservation, func(p *corev1.Pod) bool {
		_, ok := readyAt(p)
		return ok || restartsAtLeast(p, 1)
	})
	if err != nil {
		r.Probe(miss)
		r.Fail("Deployment "+name, "a container that starts in %s never became Ready: %v", delay, err)
		return
	}
	n, err := restarts(p)
	if err != nil {
		r.Fail("pod "+p.Name, "%v", err)
		return
	}
	own := s.own(startupProbe)
	at, ready := readyAt(p)
	if !ready || n != 0 {
		r.Probe(miss)
		r.Fail("Deployment "+name, "a container that starts in %s was restarted (%d restarts) instead of becoming Ready; the manifest's startupProbe %s guarantees only %s (kill window %s)",
			delay, n, own, own.GuaranteedStartup(), own.KillWindow())
		return
	}
	after := at.Sub(started)
	pass := seedWin.Contains(after)
	r.Probe(report.ProbeMeasurement{Scenario: s.Name(), Measured: after, Seed: window(seedWin), Pass: pass,
		Manifest: manifestWindow(pass, readyWindow(own, s.own(readinessProbe), delay)),
		Note:     fmt.Sprintf("start-up delay %s (seed prose %s, numbers guarantee %s), 0 restarts", delay, c.Startup.Budget(), c.Startup.GuaranteedStartup())})
	if !pass {
		r.Fail("Deployment "+name, "a container answering after %s became Ready %s after start, outside %s (one startup period and one readiness period of the seed, + slack); the manifest's startupProbe is %s",
			delay, after.Round(100*time.Millisecond), seedWin, own)
	}
}

func (s *Scenario) startupKill(ctx context.Context, env Env, r *Recorder) {
	c := s.Workload.Deployment.Container
	name := s.Workload.Deployment.Name
	seedWin := c.Startup.KillWindow()
	own := s.own(startupProbe)
	miss := report.ProbeMeasurement{Scenario: s.Name(), Missing: true, Seed: window(seedWin), Manifest: manifestWindow(false, own.KillWindow())}
	pod, err := s.runningPod(ctx, env)
	if err != nil {
		r.Probe(miss)
		r.Fail("scenario "+s.Name(), "%v", err)
		return
	}
	p, err := s.watchPod(ctx, env, pod.Name, poll.ProbeObservation, func(p *corev1.Pod) bool { return restartsAtLeast(p, 1) || live.PodReady(p) })
	if err != nil {
		r.Probe(miss)
		r.Fail("Deployment "+name, "a container needing %s was not restarted by the kubelet: %v", s.Env[stubserver.EnvStartupDelay], err)
		return
	}
	if !restartsAtLeast(p, 1) {
		r.Probe(miss)
		r.Fail("Deployment "+name, "a container needing %s became Ready instead of being restarted; the manifest's startupProbe %s allows up to %s (seed window %s); last seen: %s",
			s.Env[stubserver.EnvStartupDelay], own, own.KillWindow().Latest, seedWin, describePod(p))
		return
	}
	// The killed container started when the pod was first seen running.
	first := pod.Status.ContainerStatuses[0].State.Running.StartedAt.Time
	end, how, err := killMoment(ctx, env, p, "startup", first)
	if err != nil {
		r.Probe(miss)
		r.Fail("pod "+p.Name, "%v", err)
		return
	}
	if term := p.Status.ContainerStatuses[0].LastTerminationState.Terminated; term != nil {
		first = term.StartedAt.Time
	}
	kill := end.Sub(first)
	pass := seedWin.Contains(kill)
	r.Probe(report.ProbeMeasurement{Scenario: s.Name(), Measured: kill, Seed: window(seedWin), Pass: pass, Manifest: manifestWindow(pass, own.KillWindow()),
		Note: "killed after start (" + how + ")"})
	if !pass {
		r.Fail("Deployment "+name, "startup kill at %s, outside the seed's window %s; the manifest's startupProbe %s implies %s", kill, seedWin, own, own.KillWindow())
	}
}

// killMoment is when the kubelet ended the pod's container for failing its
// probe ("liveness" or "startup"), and which record says so. The container's
// termination record comes first. The kubelet can remove the exited
// container right after creating its replacement (seen in a soak run:
// restarts 1, lastState {} for good, containerd's log showing the removal
// within a second of the restart), and the record goes with it; then the
// kubelet's own event, "Container X failed liveness probe, will be
// restarted", dates the kill. Both have
// one-second resolution. Neither found is a failure saying what was seen.
func killMoment(ctx context.Context, env Env, p *corev1.Pod, probe string, since time.Time) (time.Time, string, error) {
	st := p.Status.ContainerStatuses[0]
	if t := st.LastTerminationState.Terminated; t != nil {
		return t.FinishedAt.Time, fmt.Sprintf("termination record: exit %d %s", t.ExitCode, t.Reason), nil
	}
	want := fmt.Sprintf("Container %s failed %s probe", st.Name, probe)
	var at time.Time
	last := "no Killing event for the pod"
	err := poll.Until(ctx, poll.KubeletEvent, func(ctx context.Context) (bool, error) {
		events, err := env.Clientset.CoreV1().Events(p.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + p.Name + ",reason=Killing"})
		if err != nil {
			last = fmt.Sprintf("listing the events of pod %s/%s: %v", p.Namespace, p.Name, err)
			return false, nil
		}
		for _, e := range events.Items {
			when := eventTime(e)
			if e.InvolvedObject.Name != p.Name || e.Reason != "Killing" || !strings.HasPrefix(e.Message, want) {
				continue
			}
			// The event's time is truncated to the second.
			if when.Before(since.Truncate(time.Second)) {
				last = fmt.Sprintf("a Killing event from %s, before %s", when.Format(time.TimeOnly), since.Format(time.TimeOnly))
				continue
			}
			at = when
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return time.Time{}, "", fmt.Errorf("restarted, but neither a termination record nor the kubelet's %q event dates the kill: %v; last seen: %s; %s", want, err, last, describePod(p))
	}
	return at, "termination record removed with the exited container; dated by the kubelet's Killing event", nil
}

// eventTime is an event's own time: the series' last occurrence, else its
// first, else the new-style event time.
func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.FirstTimestamp.IsZero():
		return e.FirstTimestamp.Time
	default:
		return e.EventTime.Time
	}
}

// livenessProbeFailure returns the kubelet's first "Liveness probe failed"
// event for the pod, "" when there is none. A failed List is an error: the
// control cannot pass unseen.
func livenessProbeFailure(ctx context.Context, env Env, ns, pod string) (string, error) {
	events, err := env.Clientset.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + pod + ",reason=Unhealthy"})
	if err != nil {
		return "", fmt.Errorf("listing the events of pod %s/%s: %w", ns, pod, err)
	}
	for _, e := range events.Items {
		if e.InvolvedObject.Name == pod && strings.HasPrefix(e.Message, "Liveness probe failed") {
			return e.Message, nil
		}
	}
	return "", nil
}

// liveness: after the pod is Ready and its liveness probe is running, health
// stops answering (5xx, or a hang past the timeout); the kubelet must restart
// the container once, inside the seed's window, and the replacement must
// pass its startup probe.
func (s *Scenario) liveness(ctx context.Context, env Env, r *Recorder, hang bool) {
	c := s.Workload.Deployment.Container
	name := s.Workload.Deployment.Name
	mode := "fail"
	if hang {
		mode = "hang"
	}
	own := s.own(livenessProbe)
	seedWin := c.Liveness.DetectionWindow(hang)
	miss := report.ProbeMeasurement{Scenario: s.Name(), Missing: true, Seed: window(seedWin), Manifest: manifestWindow(false, own.DetectionWindow(hang))}
	pod, err := s.runningPod(ctx, env)
	if err != nil {
		r.Probe(miss)
		r.Fail("scenario "+s.Name(), "%v", err)
		return
	}
	started := pod.Status.ContainerStatuses[0].State.Running.StartedAt.Time
	// Arm once the liveness probe has run at least once against the healthy
	// server (initial delay + one period): its verdict on a healthy server
	// is the control for what follows.
	armed := started.Add(time.Duration(max(own.InitialDelaySeconds, c.Liveness.InitialDelaySeconds)+max(own.PeriodSeconds, c.Liveness.PeriodSeconds))*time.Second + time.Second)
	p0, err := s.watchPod(ctx, env, pod.Name, poll.ProbeObservation, func(p *corev1.Pod) bool {
		return restartsAtLeast(p, 1) || (live.PodReady(p) && time.Now().After(armed))
	})
	if err != nil {
		r.Probe(miss)
		r.Fail("Deployment "+name, "pod not Ready with its liveness probe running: %v", err)
		return
	}
	if n, err := restarts(p0); err != nil || n > 0 {
		r.Probe(miss)
		r.Fail("Deployment "+name, "(%s) restarted while its health answered 200 (%s): the manifest's livenessProbe %s fails a healthy server", mode, describePod(p0), own)
		return
	}
	// The kubelet records every failed probe; against a healthy server there
	// must be none, or a later restart proves nothing.
	msg, err := livenessProbeFailure(ctx, env, s.Namespace, pod.Name)
	if err != nil {
		r.Probe(miss)
		r.Fail("pod "+pod.Name, "(%s) the control (no liveness failure against a healthy server) could not be read: %v", mode, err)
		return
	}
	if msg != "" {
		r.Probe(miss)
		r.Fail("Deployment "+name, "(%s) the liveness probe failed while health answered 200 (%s): the manifest's livenessProbe %s does not probe the server's health", mode, msg, own)
		return
	}
	trigger := time.Now()
	code, body, err := env.Proxy(ctx, "POST", s.Namespace, pod.Name, c.Port, "/stub/health/"+mode, nil)
	if err != nil || code != 200 {
		r.Probe(miss)
		r.Error(report.CodeAPI, "pod "+pod.Name, "setting the %s knob: %v", mode, answerErr(code, body, err, "POST /stub/health/"+mode+" on pod "+pod.Name))
		return
	}
	p, err := s.watchPod(ctx, env, pod.Name, poll.ProbeObservation, func(p *corev1.Pod) bool { return restartsAtLeast(p, 1) })
	if err != nil {
		r.Probe(miss)
		r.Fail("Deployment "+name, "(%s) health stopped answering %s ago and the container was not restarted: %v", mode, time.Since(trigger).Round(time.Second), err)
		return
	}
	end, how, err := killMoment(ctx, env, p, "liveness", trigger)
	if err != nil {
		r.Probe(miss)
		r.Fail("pod "+p.Name, "%v", err)
		return
	}
	// Both sources have one-second resolution: credit the second.
	latency := end.Sub(trigger) + 500*time.Millisecond
	pass := seedWin.Contains(latency)
	r.Probe(report.ProbeMeasurement{Scenario: s.Name(), Measured: latency, Seed: window(seedWin), Pass: pass, Manifest: manifestWindow(pass, own.DetectionWindow(hang)),
		Note: fmt.Sprintf("health %s: restart after it stopped answering (%s)", mode, how)})
	if !pass {
		r.Fail("Deployment "+name, "(%s) liveness restart after %s, outside the seed's window %s; the manifest's livenessProbe %s implies %s",
			mode, latency.Round(100*time.Millisecond), seedWin, own, own.DetectionWindow(hang))
	}
	// Exactly one: the replacement gets past its startup probe without
	// another restart. A timeout here is a failure with what was last seen.
	p, err = s.watchPod(ctx, env, pod.Name, poll.ProbeObservation, func(p *corev1.Pod) bool { return containerStarted(p) || restartsAtLeast(p, 2) })
	if err != nil {
		r.Fail("pod "+pod.Name, "(%s) the replacement container did not pass its startup probe: %v", mode, err)
		return
	}
	n, err := restarts(p)
	if err != nil {
		r.Fail("pod "+pod.Name, "%v", err)
		return
	}
	r.Measure("%s (%s): replacement started, restarts %d", name, mode, n)
	if n != 1 {
		r.Fail("Deployment "+name, "(%s) expected exactly one restart, got %d; last seen: %s", mode, n, describePod(p))
	}
}

// endpointState is whether the pod is an endpoint of the Service and whether
// that endpoint is ready. A failed List is an error, never "not an endpoint".
func endpointState(ctx context.Context, env Env, ns, service, pod string) (present, ready bool, err error) {
	slices, err := env.Clientset.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		return false, false, fmt.Errorf("listing the EndpointSlices of Service %s/%s: %w", ns, service, err)
	}
	for _, sl := range slices.Items {
		for _, e := range sl.Endpoints {
			if e.TargetRef != nil && e.TargetRef.Name == pod {
				return true, e.Conditions.Ready == nil || *e.Conditions.Ready, nil
			}
		}
	}
	return false, false, nil
}

// endpointPods lists every pod behind the Service, whatever its condition;
// a failed List is an error, never an empty Service.
func endpointPods(ctx context.Context, env Env, ns, service string) (map[string]bool, error) {
	slices, err := env.Clientset.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		return nil, fmt.Errorf("listing the EndpointSlices of Service %s/%s: %w", ns, service, err)
	}
	out := map[string]bool{}
	for _, sl := range slices.Items {
		for _, e := range sl.Endpoints {
			if e.TargetRef != nil {
				out[e.TargetRef.Name] = true
			}
		}
	}
	return out, nil
}

// waitEndpoint waits until the pod's readiness as an endpoint of the Service
// is want. Only an observed endpoint state counts: a List error is carried
// as the last seen state and, if it lasts, ends in a failure saying so.
func waitEndpoint(ctx context.Context, env Env, ns, service, pod string, want bool, iv poll.Interval) error {
	last := "no observation yet"
	err := poll.Until(ctx, iv, func(ctx context.Context) (bool, error) {
		present, ready, err := endpointState(ctx, env, ns, service, pod)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		switch {
		case !present:
			last = "pod " + pod + " is not an endpoint"
		case ready:
			last = "pod " + pod + " is a ready endpoint"
		default:
			last = "pod " + pod + " is an endpoint, not ready"
		}
		return ready == want, nil
	})
	if err != nil {
		return fmt.Errorf("%w; last seen: %s", err, last)
	}
	return nil
}

// readiness: health fails for longer than the readiness window and shorter
// than the liveness window; the pod must leave the Service's endpoints in
// the readiness window, not restart, and rejoin once healthy.
func (s *Scenario) readiness(ctx context.Context, env Env, r *Recorder) {
	c := s.Workload.Deployment.Container
	name := s.Workload.Deployment.Name
	svc := s.Workload.Service.Name
	own := s.own(readinessProbe)
	seedWin := c.Readiness.DetectionWindow(false)
	failFor := (seedWin.Latest + c.Liveness.DetectionWindow(false).Earliest) / 2
	rejoinWin := spec.Window{Latest: time.Duration(c.Readiness.PeriodSeconds)*time.Second + spec.KubeletSlack}
	miss := report.ProbeMeasurement{Scenario: s.Name(), Missing: true, Seed: window(seedWin), Manifest: manifestWindow(false, own.DetectionWindow(false))}
	pod, err := s.runningPod(ctx, env)
	if err != nil {
		r.Probe(miss)
		r.Fail("scenario "+s.Name(), "%v", err)
		return
	}
	if err := waitEndpoint(ctx, env, s.Namespace, svc, pod.Name, true, poll.ProbeObservation); err != nil {
		r.Probe(miss)
		r.Fail("Service "+svc, "pod %s never became a ready endpoint: %v", pod.Name, err)
		return
	}
	trigger := time.Now()
	code, body, err := env.Proxy(ctx, "POST", s.Namespace, pod.Name, c.Port, "/stub/health/fail?for="+failFor.String(), nil)
	if err != nil || code != 200 {
		r.Probe(miss)
		r.Error(report.CodeAPI, "pod "+pod.Name, "setting the fail knob: %v", answerErr(code, body, err, "POST /stub/health/fail on pod "+pod.Name))
		return
	}
	// Once health recovers the pod can no longer leave because of it.
	if err := waitEndpoint(ctx, env, s.Namespace, svc, pod.Name, false, poll.Within("readiness-removal", failFor+spec.KubeletSlack)); err != nil {
		r.Probe(miss)
		r.Fail("Service "+svc, "health failed for %s and pod %s was not seen leaving the Service's ready endpoints: %v; the manifest's readinessProbe %s implies %s",
			failFor, pod.Name, err, own, own.DetectionWindow(false))
		return
	}
	removed := time.Since(trigger)
	pass := seedWin.Contains(removed)
	r.Probe(report.ProbeMeasurement{Scenario: s.Name(), Measured: removed, Seed: window(seedWin), Pass: pass, Manifest: manifestWindow(pass, own.DetectionWindow(false)),
		Note: fmt.Sprintf("health failing for %s: out of the Service", failFor)})
	if !pass {
		r.Fail("Service "+svc, "%s left the Service after %s, outside the seed's window %s; the manifest's readinessProbe %s implies %s",
			name, removed.Round(100*time.Millisecond), seedWin, own, own.DetectionWindow(false))
	}
	if err := waitEndpoint(ctx, env, s.Namespace, svc, pod.Name, true, poll.ProbeObservation); err != nil {
		r.Probe(report.ProbeMeasurement{Scenario: s.Name() + " rejoin", Missing: true, Seed: window(rejoinWin)})
		r.Fail("Service "+svc, "pod %s did not rejoin the Service after health recovered: %v", pod.Name, err)
		return
	}
	rejoin := time.Since(trigger) - failFor
	rejoinOK := rejoinWin.Contains(rejoin)
	r.Probe(report.ProbeMeasurement{Scenario: s.Name() + " rejoin", Measured: rejoin, Seed: window(rejoinWin), Pass: rejoinOK, Note: "back in the Service after health recovered"})
	if !rejoinOK {
		r.Fail("Service "+svc, "%s rejoined %s after recovery, expected within %s (one readiness period + slack); the manifest's readinessProbe is %s", name, rejoin.Round(100*time.Millisecond), rejoinWin, own)
	}
	p, err := getPod(ctx, env, s.Namespace, pod.Name)
	if err != nil {
		r.Fail("pod "+pod.Name, "reading restarts after the unready spell: %v", err)
		return
	}
	n, err := restarts(p)
	if err != nil {
		r.Fail("pod "+pod.Name, "%v", err)
		return
	}
	r.Measure("%s: restarts %d after %s unready", name, n, failFor)
	if n != 0 {
		r.Fail("Deployment "+name, "unready-but-alive pod was restarted %d time(s): liveness acted inside %s", n, failFor)
	}
}
