package lanes

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/puretasks/k8s-conformance/internal/spec"
)

// testHold stands for PVRetainHold in unit tests.
const testHold = time.Second

// seedPV is the seed's PV, bound then released, with the given policy.
func seedPV(policy corev1.PersistentVolumeReclaimPolicy, phase corev1.PersistentVolumePhase) *corev1.PersistentVolume {
	u := spec.Seed.Uploads.PV
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: u.Name},
		Spec: corev1.PersistentVolumeSpec{
			PersistentVolumeReclaimPolicy: policy,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: u.HostPath}},
			ClaimRef:                      &corev1.ObjectReference{Namespace: PVCNamespace, Name: spec.Seed.Uploads.PVC.Name},
		},
		Status: corev1.PersistentVolumeStatus{Phase: phase},
	}
}

// pvTimeline answers PV Gets with the PV as it is at each moment since the
// first Get: Released, then (after flipAt) what flip makes of it.
func pvTimeline(cs *fake.Clientset, pv *corev1.PersistentVolume, flipAt time.Duration, flip func(*corev1.PersistentVolume) (*corev1.PersistentVolume, error)) {
	var first atomic.Int64
	cs.PrependReactor("get", "persistentvolumes", func(k8stesting.Action) (bool, runtime.Object, error) {
		first.CompareAndSwap(0, time.Now().UnixNano())
		if flip != nil && time.Since(time.Unix(0, first.Load())) >= flipAt {
			p, err := flip(pv.DeepCopy())
			return true, p, err
		}
		return true, pv.DeepCopy(), nil
	})
}

// Delete-policy hostPath PVs end like this when the controller cannot delete them.
func toFailed(pv *corev1.PersistentVolume) (*corev1.PersistentVolume, error) {
	pv.Status.Phase = corev1.VolumeFailed
	pv.Status.Message = "host_path deleter only supports /tmp/.+ but received provided /mnt/data/uploads"
	return pv, nil
}

func toGone(pv *corev1.PersistentVolume) (*corev1.PersistentVolume, error) {
	return nil, apierrors.NewNotFound(corev1.Resource("persistentvolumes"), pv.Name)
}

func TestHoldReleasedHoldsARetainedPV(t *testing.T) {
	cs := fake.NewClientset()
	pvTimeline(cs, seedPV(corev1.PersistentVolumeReclaimRetain, corev1.VolumeReleased), 0, nil)
	_, samples, err := HoldReleased(context.Background(), Env{Clientset: cs}, spec.Seed.Uploads.PV.Name, testHold)
	if err != nil {
		t.Fatal(err)
	}
	if samples < 3 {
		t.Fatalf("a %s hold was sampled %d times: it must be polled, not slept", testHold, samples)
	}
}

// D15: a PV that passes through Released on its way to Failed (policy
// Delete) fails the hold, saying what it became.
func TestHoldReleasedFailsWhenThePVLeavesReleased(t *testing.T) {
	cs := fake.NewClientset()
	pvTimeline(cs, seedPV(corev1.PersistentVolumeReclaimDelete, corev1.VolumeReleased), 300*time.Millisecond, toFailed)
	_, _, err := HoldReleased(context.Background(), Env{Clientset: cs}, spec.Seed.Uploads.PV.Name, testHold)
	if err == nil || !strings.Contains(err.Error(), "left Released") || !strings.Contains(err.Error(), "phase Failed") || !strings.Contains(err.Error(), "host_path deleter") {
		t.Fatalf("expected the hold to fail on Failed, got %v", err)
	}
}

// D15: a PV deleted after Released (policy Delete with a working deleter).
func TestHoldReleasedFailsWhenThePVIsDeleted(t *testing.T) {
	cs := fake.NewClientset()
	pvTimeline(cs, seedPV(corev1.PersistentVolumeReclaimDelete, corev1.VolumeReleased), 300*time.Millisecond, toGone)
	_, _, err := HoldReleased(context.Background(), Env{Clientset: cs}, spec.Seed.Uploads.PV.Name, testHold)
	if err == nil || !strings.Contains(err.Error(), "was deleted") {
		t.Fatalf("expected the hold to fail on the PV's deletion, got %v", err)
	}
}

// D15: a PV seen Failed first ends the wait at once, not at the deadline.
func TestHoldReleasedStopsAtOnceOnFailed(t *testing.T) {
	cs := fake.NewClientset()
	pvTimeline(cs, seedPV(corev1.PersistentVolumeReclaimDelete, corev1.VolumeReleased), 0, toFailed)
	start := time.Now()
	_, _, err := HoldReleased(context.Background(), Env{Clientset: cs}, spec.Seed.Uploads.PV.Name, testHold)
	if err == nil || !strings.Contains(err.Error(), "went to Failed") {
		t.Fatalf("expected a failure on Failed, got %v", err)
	}
	if d := time.Since(start); d > testHold {
		t.Fatalf("the wait took %s after a terminal phase", d)
	}
}

// A PV whose Get keeps failing is never taken for Released.
func TestHoldReleasedGetErrorIsLastSeen(t *testing.T) {
	cs := fake.NewClientset()
	failWith(cs, "get", "persistentvolumes", errAPI)
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	_, _, err := HoldReleased(ctx, Env{Clientset: cs}, spec.Seed.Uploads.PV.Name, testHold)
	if err == nil || !strings.Contains(err.Error(), "last seen: getting the PV") {
		t.Fatalf("expected the failed Get as last seen, got %v", err)
	}
}

// nodeReader is a cluster where the claim's PVC exists and the reader pod
// runs on the node and serves the node's files.
// readerRuns makes the hostPath reader pod in ns run as soon as it exists.
func readerRuns(cs *fake.Clientset, ns string) {
	cs.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.(k8stesting.GetAction).GetName() != hostPathReader {
			return false, nil, nil
		}
		obj, err := cs.Tracker().Get(corev1.SchemeGroupVersion.WithResource("pods"), ns, hostPathReader)
		if err != nil {
			return true, nil, err
		}
		p := obj.(*corev1.Pod).DeepCopy()
		p.Status.Phase = corev1.PodRunning
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "reader", Started: ptr.To(true), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}
		return true, p, nil
	})
}

func nodeReader(t *testing.T, pv *corev1.PersistentVolume, files map[string]string) (*fake.Clientset, Env) {
	t.Helper()
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: spec.Seed.Uploads.PVC.Name, Namespace: PVCNamespace}}
	cs := fake.NewClientset(pvc)
	readerRuns(cs, PVCNamespace)
	env := Env{Clientset: cs, Proxy: func(_ context.Context, method, ns, pod string, _ int32, path string, _ []byte) (int, []byte, error) {
		if method != "GET" || pod != hostPathReader {
			return http.StatusNotFound, nil, nil
		}
		if c, ok := files[strings.TrimPrefix(path, "/api/uploads/")]; ok {
			return http.StatusOK, []byte(c), nil
		}
		return http.StatusNotFound, []byte(`{"error":"no such upload","pod":"` + pod + `"}`), nil
	}}
	return cs, env
}

// D15: the Retain path passes when the PV holds Released and the node still
// has the file; the live policy is in the report.
func TestRetainedPassesWhenThePVAndTheDataStay(t *testing.T) {
	pv := seedPV(corev1.PersistentVolumeReclaimRetain, corev1.VolumeReleased)
	cs, env := nodeReader(t, pv, map[string]string{"proof.txt": "written by backend-1"})
	pvTimeline(cs, pv, 0, nil)
	r, ft, _ := newRecorder("L-PVC")
	Retained(context.Background(), env, r, PVCNamespace, "worker2", "proof.txt", "written by backend-1", testHold)
	if ft.Failed() {
		t.Fatalf("unexpected failures: %s", ft.failures())
	}
	m := ft.measurements()
	for _, want := range []string{"spec.persistentVolumeReclaimPolicy Retain (live object)", "still Released after a 1s hold", "still on node worker2's hostPath /mnt/data/uploads"} {
		if !strings.Contains(m, want) {
			t.Fatalf("expected %q in the measurements, got:\n%s", want, m)
		}
	}
	pod, err := cs.CoreV1().Pods(PVCNamespace).Get(context.Background(), hostPathReader, metav1.GetOptions{})
	if err != nil || pod.Spec.NodeName != "worker2" || pod.Spec.Volumes[0].HostPath == nil || pod.Spec.Volumes[0].HostPath.Path != spec.Seed.Uploads.PV.HostPath {
		t.Fatalf("expected a reader pinned to worker2 mounting the hostPath, got %+v, %v", pod, err)
	}
	if _, err := cs.CoreV1().PersistentVolumeClaims(PVCNamespace).Get(context.Background(), spec.Seed.Uploads.PVC.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the claim was not deleted: %v", err)
	}
}

// D15: a PV with reclaim policy Delete fails L-PVC: on the live field, and on
// behaviour (it leaves Released).
func TestRetainedFailsADeletePolicyPV(t *testing.T) {
	pv := seedPV(corev1.PersistentVolumeReclaimDelete, corev1.VolumeReleased)
	cs, env := nodeReader(t, pv, map[string]string{"proof.txt": "x"})
	pvTimeline(cs, pv, 300*time.Millisecond, toFailed)
	r, ft, _ := newRecorder("L-PVC")
	Retained(context.Background(), env, r, PVCNamespace, "worker2", "proof.txt", "x", testHold)
	got := ft.failures()
	if !strings.Contains(got, "spec.persistentVolumeReclaimPolicy: expected Retain, got Delete") {
		t.Fatalf("expected the live policy to fail, got %q", got)
	}
	if !strings.Contains(got, "left Released") {
		t.Fatalf("expected the behaviour to fail too, got %q", got)
	}
	if !strings.Contains(ft.measurements(), "spec.persistentVolumeReclaimPolicy Delete (live object)") {
		t.Fatalf("expected the live policy in the report, got %q", ft.measurements())
	}
}

// D15: the behaviour fails on its own, even when the field says Retain.
func TestRetainedFailsWhenAPVSayingRetainLeavesReleased(t *testing.T) {
	pv := seedPV(corev1.PersistentVolumeReclaimRetain, corev1.VolumeReleased)
	cs, env := nodeReader(t, pv, map[string]string{"proof.txt": "x"})
	pvTimeline(cs, pv, 300*time.Millisecond, toGone)
	r, ft, _ := newRecorder("L-PVC")
	Retained(context.Background(), env, r, PVCNamespace, "worker2", "proof.txt", "x", testHold)
	if got := ft.failures(); !strings.Contains(got, "was deleted") || strings.Contains(got, "persistentVolumeReclaimPolicy: expected") {
		t.Fatalf("expected exactly the behaviour to fail, got %q", got)
	}
}

// D15/D11: a file missing from the node's hostPath fails, read through the
// node, whatever the cluster.
func TestRetainedFailsWhenTheNodeLostTheFile(t *testing.T) {
	pv := seedPV(corev1.PersistentVolumeReclaimRetain, corev1.VolumeReleased)
	cs, env := nodeReader(t, pv, map[string]string{})
	pvTimeline(cs, pv, 0, nil)
	r, ft, _ := newRecorder("L-PVC")
	Retained(context.Background(), env, r, PVCNamespace, "worker2", "proof.txt", "x", testHold)
	if got := ft.failures(); !strings.Contains(got, "node worker2") || !strings.Contains(got, "expected proof.txt on hostPath /mnt/data/uploads") || !strings.Contains(got, "404") {
		t.Fatalf("expected a failure naming the node and the missing file, got %q", got)
	}
}

// The API server's 404 (the reader pod went) is not the node's "no such
// file": ERROR, not a lost file.
func TestRetainedAPIServer404IsAnError(t *testing.T) {
	pv := seedPV(corev1.PersistentVolumeReclaimRetain, corev1.VolumeReleased)
	cs, env := nodeReader(t, pv, map[string]string{})
	env.Proxy = func(context.Context, string, string, string, int32, string, []byte) (int, []byte, error) {
		return http.StatusNotFound, []byte(`{"kind":"Status","status":"Failure","message":"pods \"hostpath-reader\" not found","reason":"NotFound","code":404}`), nil
	}
	pvTimeline(cs, pv, 0, nil)
	r, ft, _ := newRecorder("L-PVC")
	ctx, cancel := context.WithTimeout(context.Background(), 3*testHold)
	defer cancel()
	Retained(ctx, env, r, PVCNamespace, "worker2", "proof.txt", "x", testHold)
	if got := ft.failures(); !strings.Contains(got, "ERROR(api) node worker2") || !strings.Contains(got, "not the stub's") {
		t.Fatalf("expected an ERROR naming the 404 as not the stub's, got %q", got)
	}
}

func TestPodsGone(t *testing.T) {
	b := spec.Seed.Backend.Deployment
	cs := fake.NewClientset()
	require.NoError(t, podsGone(context.Background(), Env{Clientset: cs}, PVCNamespace, b.Selector), "none to begin with")

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: PVCNamespace, Name: "backend-1", Labels: b.Selector}}
	cs = fake.NewClientset(pod)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := podsGone(ctx, Env{Clientset: cs}, PVCNamespace, b.Selector)
	require.Error(t, err, "a pod that stays holds the claim")
	assert.Contains(t, err.Error(), "1 pod(s) left, e.g. pod backend-1")
}
