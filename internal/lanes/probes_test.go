package lanes

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/spec"
)

// quickWorkload is the seed's backend with probes of one-second periods, so
// that its windows fit a unit test: readiness removal [0, 4s], the unready
// spell 2 s, liveness restart [0, 4s].
func quickWorkload() spec.Workload {
	w := spec.Seed.Backend
	c := &w.Deployment.Container
	c.Startup = spec.Probe{PeriodSeconds: 1, FailureThreshold: 1, TimeoutSeconds: 1}
	c.Liveness = spec.Probe{PeriodSeconds: 1, FailureThreshold: 1, TimeoutSeconds: 1}
	c.Readiness = spec.Probe{PeriodSeconds: 1, FailureThreshold: 1, TimeoutSeconds: 1}
	return w
}

// scenarioPod is the scenario's running pod, Ready, started a minute ago
// (so the liveness control is armed at once).
func scenarioPod(s *Scenario, name string) *corev1.Pod {
	started := metav1.NewTime(time.Now().Add(-time.Minute))
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: s.Namespace, Labels: s.Workload.Deployment.Selector},
		Spec:       corev1.PodSpec{NodeName: "worker"},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: started}},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: s.Workload.Deployment.Container.Name, Ready: true, Started: ptr.To(true),
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}},
			}},
		},
	}
}

func endpointSlice(s *Scenario, pod string, ready bool) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: s.Workload.Service.Name + "-x", Namespace: s.Namespace,
			Labels: map[string]string{discoveryv1.LabelServiceName: s.Workload.Service.Name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: pod, Namespace: s.Namespace}}},
	}
}

// knob is a fake pod proxy that remembers when the knob was set.
type knob struct {
	mu    sync.Mutex
	at    time.Time
	after func() // runs once the knob is set
}

func (k *knob) proxy(_ context.Context, method, _, _ string, _ int32, path string, _ []byte) (int, []byte, error) {
	if method == "POST" && strings.HasPrefix(path, "/stub/health/") {
		k.mu.Lock()
		k.at = time.Now()
		after := k.after
		k.mu.Unlock()
		if after != nil {
			after()
		}
		return 200, []byte(`{"ok":true}`), nil
	}
	return 404, nil, nil
}

func (k *knob) since() (time.Duration, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.at.IsZero() {
		return 0, false
	}
	return time.Since(k.at), true
}

// D2: once health fails, a failed EndpointSlice List is not "left the
// Service": the wait fails saying the List failed.
func TestReadinessEndpointListErrorIsNotRemoval(t *testing.T) {
	s := NewScenario("L-READINESS", Readiness, quickWorkload())
	pod := scenarioPod(s, "backend-1")
	cs := fake.NewClientset(pod, endpointSlice(s, pod.Name, true))
	k := &knob{}
	cs.PrependReactor("list", "endpointslices", func(k8stesting.Action) (bool, runtime.Object, error) {
		if _, set := k.since(); set {
			return true, nil, errAPI
		}
		return false, nil, nil
	})
	r, ft, ch := newRecorder("L-READINESS")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.Measure(ctx, Env{Clientset: cs, Proxy: k.proxy}, r)
	got := ft.failures()
	if !strings.Contains(got, "was not seen leaving") || !strings.Contains(got, "last seen: listing the EndpointSlices") || !strings.Contains(got, errAPI.Error()) {
		t.Fatalf("expected a failure naming the failed List, got %q", got)
	}
	for _, m := range ch.all() {
		if !m.Missing || m.Pass {
			t.Fatalf("a List error produced a measurement: %+v", m)
		}
	}
}

func TestEndpointStateListErrorIsAnError(t *testing.T) {
	cs := fake.NewClientset()
	failWith(cs, "list", "endpointslices", errAPI)
	if _, _, err := endpointState(context.Background(), Env{Clientset: cs}, "ns", "svc", "pod"); err == nil {
		t.Fatal("a failed List read as an endpoint state")
	}
	if _, err := endpointPods(context.Background(), Env{Clientset: cs}, "ns", "svc"); err == nil {
		t.Fatal("a failed List read as an empty Service")
	}
}

// readinessCluster serves the endpoint as ready, then not ready for the
// unready spell (from 300 ms after the knob to its end), then ready again.
func readinessCluster(s *Scenario, pod *corev1.Pod) (*fake.Clientset, *knob) {
	cs := fake.NewClientset(pod)
	k := &knob{}
	failFor := 2 * time.Second
	cs.PrependReactor("list", "endpointslices", func(k8stesting.Action) (bool, runtime.Object, error) {
		d, set := k.since()
		ready := !set || d < 300*time.Millisecond || d >= failFor
		return true, &discoveryv1.EndpointSliceList{Items: []discoveryv1.EndpointSlice{*endpointSlice(s, pod.Name, ready)}}, nil
	})
	return cs, k
}

// The readiness flow passes on a cluster that behaves, so the failures
// below come from the errors injected, not from the fake.
func TestReadinessPassesOnAClusterThatBehaves(t *testing.T) {
	s := NewScenario("L-READINESS", Readiness, quickWorkload())
	pod := scenarioPod(s, "backend-1")
	cs, k := readinessCluster(s, pod)
	r, ft, ch := newRecorder("L-READINESS")
	s.Measure(context.Background(), Env{Clientset: cs, Proxy: k.proxy}, r)
	if ft.Failed() {
		t.Fatalf("unexpected failures: %s", ft.failures())
	}
	if ms := ch.all(); len(ms) != 2 || !ms[0].Pass || !ms[1].Pass {
		t.Fatalf("expected removal and rejoin measured in their windows, got %+v", ms)
	}
	if !strings.Contains(ft.measurements(), "restarts 0") {
		t.Fatalf("expected the restart count measured, got %q", ft.measurements())
	}
}

// D3: a failed pod Get at the end is an error, never an empty pod whose
// restarts read 0.
func TestReadinessPodGetErrorIsNotZeroRestarts(t *testing.T) {
	s := NewScenario("L-READINESS", Readiness, quickWorkload())
	pod := scenarioPod(s, "backend-1")
	cs, k := readinessCluster(s, pod)
	failWith(cs, "get", "pods", errAPI)
	r, ft, _ := newRecorder("L-READINESS")
	s.Measure(context.Background(), Env{Clientset: cs, Proxy: k.proxy}, r)
	if got := ft.failures(); !strings.Contains(got, "reading restarts after the unready spell") || !strings.Contains(got, errAPI.Error()) {
		t.Fatalf("expected a failure naming the failed Get, got %q", got)
	}
	if strings.Contains(ft.measurements(), "restarts 0") {
		t.Fatalf("a failed Get was reported as 0 restarts: %q", ft.measurements())
	}
}

// D3 for the watch: a Get that keeps failing ends in a failure that says
// so, not in an empty pod.
func TestWatchPodGetErrorIsLastSeen(t *testing.T) {
	s := NewScenario("L-STARTUP", StartupOK, quickWorkload())
	cs := fake.NewClientset()
	failWith(cs, "get", "pods", errAPI)
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	p, err := s.watchPod(ctx, Env{Clientset: cs}, "backend-1", poll.ProbeObservation, func(*corev1.Pod) bool { return true })
	if err == nil || p != nil || !strings.Contains(err.Error(), errAPI.Error()) {
		t.Fatalf("expected an error naming the failed Get and no pod, got %v, %v", p, err)
	}
}

// livenessCluster is a Ready pod whose container the kubelet restarts as
// soon as the knob is set; started says whether the replacement passes its
// startup probe.
func livenessCluster(t *testing.T, s *Scenario, started bool) (*fake.Clientset, *knob) {
	pod := scenarioPod(s, "backend-1")
	cs := fake.NewClientset(pod)
	k := &knob{}
	k.after = func() {
		p := pod.DeepCopy()
		now := metav1.Now()
		st := &p.Status.ContainerStatuses[0]
		st.RestartCount = 1
		st.Started = ptr.To(started)
		st.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error", StartedAt: st.State.Running.StartedAt, FinishedAt: now}}
		st.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
		if _, err := cs.CoreV1().Pods(p.Namespace).UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
			t.Errorf("fake kubelet: %v", err)
		}
	}
	return cs, k
}

func TestLivenessPassesOnAClusterThatBehaves(t *testing.T) {
	s := NewScenario("L-LIVENESS", LivenessFail, quickWorkload())
	cs, k := livenessCluster(t, s, true)
	r, ft, ch := newRecorder("L-LIVENESS")
	s.Measure(context.Background(), Env{Clientset: cs, Proxy: k.proxy}, r)
	if ft.Failed() {
		t.Fatalf("unexpected failures: %s", ft.failures())
	}
	if ms := ch.all(); len(ms) != 1 || !ms[0].Pass {
		t.Fatalf("expected the restart measured in its window, got %+v", ms)
	}
}

// The kubelet may remove the exited container, and its termination record
// with it (seen in a soak: restarts 1, lastState {}): the kill is dated by
// the kubelet's Killing event instead; with neither, the check fails saying so.
func TestLivenessWithoutATerminationRecord(t *testing.T) {
	for _, withEvent := range []bool{true, false} {
		s := NewScenario("L-LIVENESS", LivenessFail, quickWorkload())
		cs, k := livenessCluster(t, s, true)
		restart := k.after
		k.after = func() {
			restart()
			p, err := cs.CoreV1().Pods(s.Namespace).Get(context.Background(), "backend-1", metav1.GetOptions{})
			if err != nil {
				t.Errorf("fake kubelet: %v", err)
				return
			}
			p.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{}
			if _, err := cs.CoreV1().Pods(s.Namespace).UpdateStatus(context.Background(), p, metav1.UpdateOptions{}); err != nil {
				t.Errorf("fake kubelet: %v", err)
			}
			if withEvent {
				killing(t, cs, s, "backend-1", "Container backend failed liveness probe, will be restarted", time.Now())
			}
		}
		r, ft, ch := newRecorder("L-LIVENESS")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		s.Measure(ctx, Env{Clientset: cs, Proxy: k.proxy}, r)
		cancel()
		ms := ch.all()
		if withEvent {
			if ft.Failed() || len(ms) != 1 || !ms[0].Pass || !strings.Contains(ms[0].Note, "Killing event") {
				t.Fatalf("expected the restart dated by the Killing event and passed, got %s %+v", ft.failures(), ms)
			}
			continue
		}
		if got := ft.failures(); !strings.Contains(got, "neither a termination record nor") || !strings.Contains(got, "no Killing event") {
			t.Fatalf("expected a failure naming both missing records, got %q", got)
		}
		if len(ms) != 1 || !ms[0].Missing {
			t.Fatalf("expected the measurement recorded as missing, got %+v", ms)
		}
	}
}

// killing records the kubelet's Killing event for a pod.
func killing(t *testing.T, cs *fake.Clientset, s *Scenario, pod, msg string, at time.Time) {
	t.Helper()
	_, err := cs.CoreV1().Events(s.Namespace).Create(context.Background(), &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: pod + "." + at.Format("150405.000"), Namespace: s.Namespace},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: pod, Namespace: s.Namespace},
		Reason:         "Killing", Message: msg, LastTimestamp: metav1.NewTime(at),
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating the Killing event: %v", err)
	}
}

// A Killing event from an earlier restart, or for the other probe, does not
// date this one.
func TestKillMomentIgnoresOtherKillings(t *testing.T) {
	s := NewScenario("L-LIVENESS", LivenessFail, quickWorkload())
	p := scenarioPod(s, "backend-1")
	p.Status.ContainerStatuses[0].RestartCount = 1
	cs := fake.NewClientset(p)
	trigger := time.Now()
	killing(t, cs, s, "backend-1", "Container backend failed liveness probe, will be restarted", trigger.Add(-time.Minute))
	killing(t, cs, s, "backend-1", "Container backend failed startup probe, will be restarted", trigger.Add(2*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, _, err := killMoment(ctx, Env{Clientset: cs}, p, "liveness", trigger); err == nil || !strings.Contains(err.Error(), "before") {
		t.Fatalf("expected no kill moment from the older or the startup event, got %v", err)
	}
	killing(t, cs, s, "backend-1", "Container backend failed liveness probe, will be restarted", trigger.Add(3*time.Second))
	at, how, err := killMoment(context.Background(), Env{Clientset: cs}, p, "liveness", trigger)
	if err != nil || !at.Equal(trigger.Add(3*time.Second).Truncate(time.Second)) && !at.Equal(trigger.Add(3*time.Second)) || !strings.Contains(how, "Killing event") {
		t.Fatalf("expected the liveness Killing 3 s after the trigger, got %v %q %v", at, how, err)
	}
}

// D4: the liveness control's failed event List is an error, not "no
// failure seen".
func TestLivenessControlListErrorFails(t *testing.T) {
	s := NewScenario("L-LIVENESS", LivenessFail, quickWorkload())
	cs, k := livenessCluster(t, s, true)
	failWith(cs, "list", "events", errAPI)
	r, ft, _ := newRecorder("L-LIVENESS")
	s.Measure(context.Background(), Env{Clientset: cs, Proxy: k.proxy}, r)
	if got := ft.failures(); !strings.Contains(got, "the control") || !strings.Contains(got, errAPI.Error()) {
		t.Fatalf("expected a failure naming the failed event List, got %q", got)
	}
	if _, set := k.since(); set {
		t.Fatal("the health knob was set although the control was never read")
	}
}

// D5: a replacement that never passes its startup probe fails with the last
// seen pod state; the timeout is not dropped.
func TestLivenessReplacementStartupTimeoutFails(t *testing.T) {
	s := NewScenario("L-LIVENESS", LivenessHang, quickWorkload())
	cs, k := livenessCluster(t, s, false)
	r, ft, _ := newRecorder("L-LIVENESS")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.Measure(ctx, Env{Clientset: cs, Proxy: k.proxy}, r)
	got := ft.failures()
	if !strings.Contains(got, "did not pass its startup probe") || !strings.Contains(got, "last seen: pod backend-1") || !strings.Contains(got, "started=false") {
		t.Fatalf("expected a failure with the replacement's last state, got %q", got)
	}
}

// startupCluster is the seed backend's startup-ok scenario whose pod became
// Ready readyAfter its container started, with no restart.
func startupCluster(readyAfter time.Duration) (*Scenario, *fake.Clientset) {
	s := NewScenario("L-STARTUP", StartupOK, spec.Seed.Backend)
	pod := scenarioPod(s, "backend-1")
	started := pod.Status.ContainerStatuses[0].State.Running.StartedAt
	pod.Status.Conditions[0].LastTransitionTime = metav1.NewTime(started.Add(readyAfter))
	return s, fake.NewClientset(pod)
}

// Timestamps have one-second resolution: Ready read a second before the
// delay is on the window's edge, not a miss (measured in a run: 45 s for 45 s).
func TestStartupOKReadyOnTheEdgePasses(t *testing.T) {
	s, cs := startupCluster(44 * time.Second)
	r, ft, ch := newRecorder("L-STARTUP")
	s.Measure(context.Background(), Env{Clientset: cs}, r)
	if ft.Failed() {
		t.Fatalf("unexpected failures: %s", ft.failures())
	}
	if ms := ch.all(); len(ms) != 1 || !ms[0].Pass || ms[0].Measured != 44*time.Second {
		t.Fatalf("expected Ready after 44s measured as a pass, got %+v", ms)
	}
}

func TestStartupOKReadyLateFails(t *testing.T) {
	s, cs := startupCluster(70 * time.Second)
	r, ft, ch := newRecorder("L-STARTUP")
	s.Measure(context.Background(), Env{Clientset: cs}, r)
	if got := ft.failures(); !strings.Contains(got, "became Ready 1m10s after start, outside [44s, 1m3s]") {
		t.Fatalf("expected a late Ready to fail with its window, got %q", got)
	}
	if ms := ch.all(); len(ms) != 1 || ms[0].Pass || ms[0].Missing {
		t.Fatalf("expected one measured miss, got %+v", ms)
	}
}
