package lanes

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/puretasks/k8s-conformance/internal/spec"
)

// proxy503 is the API server's proxy failing to reach the pod.
var proxy503 = []byte(`{"kind":"Status","status":"Failure","message":"error trying to reach service: dial tcp 10.244.2.7:8080: connect: connection refused","reason":"ServiceUnavailable","code":503}`)

// backendCopy is a Deployment complete with one Ready pod in ns; deleting
// the pod brings a Ready replacement, as the ReplicaSet would.
func backendCopy(t *testing.T, ns string) *fake.Clientset {
	t.Helper()
	return backendCopyWith(t, ns, nil)
}

// backendCopyWith is backendCopy whose replacement pod is first changed by
// replacement (not Ready yet, not started).
func backendCopyWith(t *testing.T, ns string, replacement func(*corev1.Pod)) *fake.Clientset {
	t.Helper()
	b := spec.Seed.Backend.Deployment
	pod := func(name string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: b.Selector}, Spec: corev1.PodSpec{NodeName: "worker1"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "backend", Started: ptr.To(true), Ready: true,
					State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}}
	}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: b.Name, Generation: 1},
		Spec:   appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: b.Selector}},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}}
	cs := fake.NewClientset(d, pod("backend-1"))
	cs.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if err := cs.Tracker().Delete(corev1.SchemeGroupVersion.WithResource("pods"), ns, a.(k8stesting.DeleteAction).GetName()); err != nil {
			return true, nil, err
		}
		next := pod("backend-2")
		if replacement != nil {
			replacement(next)
		}
		return true, nil, cs.Tracker().Add(next)
	})
	return cs
}

// L-PVC's emptyDir control: a 503 from the proxy when reading the file back
// is no proof the file was lost. Before, any failed read counted as "lost"
// and the control passed on a broken proxy.
func TestEmptyDirControlWithA503IsAnErrorNotALoss(t *testing.T) {
	cs := backendCopy(t, PVCNamespace)
	env := Env{Clientset: cs, Proxy: func(_ context.Context, method, _, _ string, _ int32, _ string, _ []byte) (int, []byte, error) {
		if method == "PUT" {
			return http.StatusCreated, nil, nil
		}
		return http.StatusServiceUnavailable, proxy503, nil
	}}
	r, ft, _ := newRecorder("L-PVC")
	// A 503 is asked again (the replacement may still be binding its port)
	// until the deadline; then it is the error.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	kept, _, err := survivesDeletion(ctx, env, r, PVCNamespace, "emptydir")
	if err == nil {
		t.Fatalf("a 503 read back as an answer (kept=%v)", kept)
	}
	reportStepError(r, "Deployment "+PVCNamespace+"/backend", err, "emptyDir step")
	f := ft.failures()
	if !strings.Contains(f, "ERROR(api)") || !strings.Contains(f, "got 503") || !strings.Contains(f, "connection refused") {
		t.Fatalf("expected an ERROR naming the status and the body's first line, got %s", f)
	}

	// A 404 is the answer "not there": the file was lost, as emptyDir must.
	env.Proxy = func(_ context.Context, method, _, _ string, _ int32, _ string, _ []byte) (int, []byte, error) {
		if method == "PUT" {
			return http.StatusCreated, nil, nil
		}
		return http.StatusNotFound, []byte(`{"error":"no such upload","pod":"backend-2"}`), nil
	}
	cs = backendCopy(t, PVCNamespace)
	env.Clientset = cs
	r, ft, _ = newRecorder("L-PVC")
	kept, _, err = survivesDeletion(context.Background(), env, r, PVCNamespace, "emptydir")
	if err != nil || kept || ft.Failed() {
		t.Fatalf("a 404 is the file lost: kept=%v err=%v %s", kept, err, ft.failures())
	}
}

// L-PVC's node check: a 503 from the reader pod's proxy says nothing about
// the file on the node: ERROR, not "the node lost the file".
func TestRetainedNodeReadWithA503IsAnError(t *testing.T) {
	pv := seedPV("Retain", corev1.VolumeReleased)
	cs, env := nodeReader(t, pv, nil)
	env.Proxy = func(context.Context, string, string, string, int32, string, []byte) (int, []byte, error) {
		return http.StatusServiceUnavailable, proxy503, nil
	}
	pvTimeline(cs, pv, 0, nil)
	r, ft, _ := newRecorder("L-PVC")
	// The 503 is asked again until the deadline (the reader may still be
	// binding its port), then it is the error.
	ctx, cancel := context.WithTimeout(context.Background(), 3*testHold)
	defer cancel()
	Retained(ctx, env, r, PVCNamespace, "worker2", "proof.txt", "written by backend-1", testHold)
	f := ft.failures()
	if !strings.Contains(f, "ERROR(api) node worker2") || !strings.Contains(f, "got 503") {
		t.Fatalf("expected an ERROR for the node read, got %s", f)
	}
}

// The probe knobs are our own machinery: a 503 setting one is ERROR.
func TestProbeKnobWithA503IsAnError(t *testing.T) {
	s := NewScenario("L-READINESS", Readiness, quickWorkload())
	pod := scenarioPod(s, "backend-1")
	cs, _ := readinessCluster(s, pod)
	env := Env{Clientset: cs, Proxy: func(context.Context, string, string, string, int32, string, []byte) (int, []byte, error) {
		return http.StatusServiceUnavailable, proxy503, nil
	}}
	r, ft, _ := newRecorder("L-READINESS")
	s.Measure(context.Background(), env, r)
	f := ft.failures()
	if !strings.Contains(f, "ERROR(api)") || !strings.Contains(f, "setting the fail knob") || !strings.Contains(f, "got 503") {
		t.Fatalf("expected an ERROR for the knob, got %s", f)
	}
}

// uploads is a backend stub behind the pod proxy: PUT stores, GET answers
// 200 with the file or the stub's own 404 naming the pod asked.
func uploads(files map[string]string, asked *[]string) func(context.Context, string, string, string, int32, string, []byte) (int, []byte, error) {
	return func(_ context.Context, method, _, pod string, _ int32, path string, body []byte) (int, []byte, error) {
		name := strings.TrimPrefix(path, "/api/uploads/")
		if method == "PUT" {
			files[name] = string(body)
			return http.StatusCreated, nil, nil
		}
		*asked = append(*asked, pod)
		if c, ok := files[name]; ok {
			return http.StatusOK, []byte(c), nil
		}
		return http.StatusNotFound, []byte(`{"error":"no such upload","pod":"` + pod + `"}`), nil
	}
}

// The replacement is asked once its container has started, Ready or not:
// the file's fate does not wait for readiness.
func TestReplacementIsReadOnceStartedNotReady(t *testing.T) {
	cs := backendCopyWith(t, PVCNamespace, func(p *corev1.Pod) { p.Status.Conditions = nil; p.Status.ContainerStatuses[0].Ready = false })
	files := map[string]string{}
	var asked []string
	env := Env{Clientset: cs, Proxy: uploads(files, &asked)}
	r, ft, _ := newRecorder("L-PVC")
	// Waiting for Ready would run into this deadline: it never comes.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kept, pr, err := survivesDeletion(ctx, env, r, PVCNamespace, "claim")
	if err != nil || !kept || ft.Failed() {
		t.Fatalf("a file the volume kept, read from a started replacement: kept=%v err=%v %s", kept, err, ft.failures())
	}
	if len(asked) != 1 || asked[0] != "backend-2" || pr.node != "worker1" {
		t.Fatalf("expected one read, from backend-2 on worker1; asked %v, node %q", asked, pr.node)
	}
}

// A replacement whose container has not started is not asked: the read
// waits, and at the deadline says what it last saw.
func TestReplacementNotStartedIsNotAsked(t *testing.T) {
	cs := backendCopyWith(t, PVCNamespace, func(p *corev1.Pod) {
		p.Status.Conditions = nil
		p.Status.ContainerStatuses[0].Started = ptr.To(false)
	})
	var asked []string
	env := Env{Clientset: cs, Proxy: uploads(map[string]string{}, &asked)}
	r, _, _ := newRecorder("L-PVC")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _, err := survivesDeletion(ctx, env, r, PVCNamespace, "emptydir")
	if err == nil || !strings.Contains(err.Error(), "no serving replacement for backend-1") || !strings.Contains(err.Error(), "started=false") {
		t.Fatalf("expected no serving replacement, with the pod last seen; got %v", err)
	}
	if len(asked) != 0 {
		t.Fatalf("a replacement that has not started was asked: %v", asked)
	}
}

// The API server's own 404 (the pod went between list and proxy) is not the
// stub's "no such upload": it proves nothing about the file, so the
// emptyDir control does not pass on it; it is an ERROR.
func TestAPIServer404IsNotAFileLost(t *testing.T) {
	cs := backendCopy(t, PVCNamespace)
	env := Env{Clientset: cs, Proxy: func(_ context.Context, method, _, _ string, _ int32, _ string, _ []byte) (int, []byte, error) {
		if method == "PUT" {
			return http.StatusCreated, nil, nil
		}
		return http.StatusNotFound, []byte(`{"kind":"Status","status":"Failure","message":"pods \"backend-2\" not found","reason":"NotFound","code":404}`), nil
	}}
	r, ft, _ := newRecorder("L-PVC")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	kept, _, err := survivesDeletion(ctx, env, r, PVCNamespace, "emptydir")
	if err == nil {
		t.Fatalf("the API server's 404 was read as the file lost (kept=%v)", kept)
	}
	reportStepError(r, "Deployment "+PVCNamespace+"/backend", err, "emptyDir step")
	if f := ft.failures(); !strings.Contains(f, "ERROR(api)") || !strings.Contains(f, "not the stub's") {
		t.Fatalf("expected an ERROR naming the 404 as not the stub's, got %s", f)
	}
}

// A replacement still binding its port (the proxy's 503), a transport
// error, then the stub's answer: the answer counts, the misses before it
// were retried, not judged.
func TestReplacementAskedAgainUntilTheStubAnswers(t *testing.T) {
	cs := backendCopy(t, PVCNamespace)
	files := map[string]string{}
	var asked []string
	stub := uploads(files, &asked)
	misses := []func() (int, []byte, error){
		func() (int, []byte, error) { return http.StatusServiceUnavailable, proxy503, nil },
		func() (int, []byte, error) {
			return 0, nil, errors.New("read tcp 127.0.0.1:6443: connection reset by peer")
		},
	}
	env := Env{Clientset: cs, Proxy: func(ctx context.Context, method, ns, pod string, port int32, path string, body []byte) (int, []byte, error) {
		if method == "GET" && len(misses) > 0 {
			m := misses[0]
			misses = misses[1:]
			return m()
		}
		return stub(ctx, method, ns, pod, port, path, body)
	}}
	r, ft, _ := newRecorder("L-PVC")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kept, _, err := survivesDeletion(ctx, env, r, PVCNamespace, "claim")
	if err != nil || !kept || ft.Failed() || len(misses) != 0 {
		t.Fatalf("expected the file read once the stub answered: kept=%v err=%v misses left %d %s", kept, err, len(misses), ft.failures())
	}
}

// A transport error to the end is no answer: ERROR, not "the file was
// lost" and not FAIL.
func TestReplacementTransportErrorIsAnError(t *testing.T) {
	cs := backendCopy(t, PVCNamespace)
	env := Env{Clientset: cs, Proxy: func(_ context.Context, method, _, _ string, _ int32, _ string, _ []byte) (int, []byte, error) {
		if method == "PUT" {
			return http.StatusCreated, nil, nil
		}
		return 0, nil, errors.New("dial tcp 172.18.0.2:6443: connect: connection refused")
	}}
	r, ft, _ := newRecorder("L-PVC")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _, err := survivesDeletion(ctx, env, r, PVCNamespace, "emptydir")
	if err == nil {
		t.Fatal("a transport error read as an answer")
	}
	reportStepError(r, "Deployment "+PVCNamespace+"/backend", err, "emptyDir step")
	if f := ft.failures(); !strings.Contains(f, "ERROR(api)") || !strings.Contains(f, "no answer: dial tcp") {
		t.Fatalf("expected an ERROR naming the transport error, got %s", f)
	}
}

// A replacement that cannot run is the manifests' doing: FAIL, even after
// an earlier question got no answer.
func TestReplacementThatCannotRunFailsWhateverCameBefore(t *testing.T) {
	var cs *fake.Clientset
	calls := 0
	cs = backendCopyWith(t, PVCNamespace, nil)
	env := Env{Clientset: cs, Proxy: func(_ context.Context, method, ns, pod string, _ int32, _ string, _ []byte) (int, []byte, error) {
		if method == "PUT" {
			return http.StatusCreated, nil, nil
		}
		calls++
		// After one 503 the replacement crashes for good.
		p, err := cs.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), ns, pod)
		if err == nil {
			crashed := p.(*corev1.Pod).DeepCopy()
			crashed.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: `secret "todo-secrets" not found`}}
			if err := cs.Tracker().Update(corev1.SchemeGroupVersion.WithResource("pods"), crashed, ns); err != nil {
				t.Errorf("crashing the replacement: %v", err)
			}
		}
		return http.StatusServiceUnavailable, proxy503, nil
	}}
	r, ft, _ := newRecorder("L-PVC")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := survivesDeletion(ctx, env, r, PVCNamespace, "claim")
	if err == nil || calls != 1 {
		t.Fatalf("expected the crash to end the wait after one question, got err=%v after %d", err, calls)
	}
	reportStepError(r, "PersistentVolumeClaim "+PVCNamespace+"/backend-uploads-pvc", err, "claim step")
	if f := ft.failures(); f == "" || strings.Contains(f, "ERROR") || !strings.Contains(f, "cannot run") {
		t.Fatalf("expected a FAIL naming the crash, got %s", f)
	}
}
