package live

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

var rolloutLabels = map[string]string{"app": "backend"}

func rolloutPod(name string, ready bool) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "todo-app", Name: name, Labels: rolloutLabels},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
}

func rolloutDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "todo-app", Name: "backend", Generation: 1},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: rolloutLabels}},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2},
	}
}

// rolloutFake is a cluster with backend's two Ready pods; steps are what
// the "controller" does when the rollout starts.
type rolloutFake struct {
	t  *testing.T
	cs *fake.Clientset
}

func newRolloutFake(t *testing.T) *rolloutFake {
	return &rolloutFake{t: t, cs: fake.NewClientset(rolloutDeployment(), rolloutPod("old-1", true), rolloutPod("old-2", true))}
}

func (f *rolloutFake) create(name string, ready bool) {
	_, err := f.cs.CoreV1().Pods("todo-app").Create(context.Background(), rolloutPod(name, ready), metav1.CreateOptions{})
	require.NoError(f.t, err)
}

func (f *rolloutFake) update(name string, ready bool) {
	_, err := f.cs.CoreV1().Pods("todo-app").Update(context.Background(), rolloutPod(name, ready), metav1.UpdateOptions{})
	require.NoError(f.t, err)
}

func (f *rolloutFake) remove(name string) {
	require.NoError(f.t, f.cs.CoreV1().Pods("todo-app").Delete(context.Background(), name, metav1.DeleteOptions{}))
}

func (f *rolloutFake) watch(steps func()) (RolloutObservation, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	inv := Invariant{Desired: 2, MaxPods: 3, Selector: rolloutLabels}
	return WatchRollout(ctx, f.cs, "todo-app", "backend", inv, func(context.Context) error { steps(); return nil })
}

// A rollout that surges one pod at a time and removes an old pod only once
// its replacement is Ready keeps the invariant on every event.
func TestWatchRolloutGoodRollout(t *testing.T) {
	f := newRolloutFake(t)
	obs, err := f.watch(func() {
		for i, old := range []string{"old-1", "old-2"} {
			name := []string{"new-1", "new-2"}[i]
			f.create(name, false)
			f.update(name, true)
			f.remove(old)
		}
	})
	require.NoError(t, err)
	assert.Empty(t, obs.Violations)
	assert.Equal(t, 6, obs.Events, "two adds, two updates, two deletes")
	assert.Equal(t, []string{"old-1", "old-2"}, obs.OldPods)
	assert.Equal(t, []string{"new-1", "new-2"}, obs.NewPods)
	assert.Equal(t, 2, obs.MinReady)
	assert.Equal(t, 3, obs.MaxPods)
}

// A pod removed before its replacement is Ready breaks "ready >= desired":
// the watch names the moment.
func TestWatchRolloutBrokenRollout(t *testing.T) {
	f := newRolloutFake(t)
	obs, err := f.watch(func() {
		f.create("new-1", false)
		f.remove("old-1") // new-1 not Ready yet
		f.update("new-1", true)
		f.create("new-2", false)
		f.update("new-2", true)
		f.remove("old-2")
	})
	require.NoError(t, err)
	require.NotEmpty(t, obs.Violations)
	assert.Contains(t, obs.Violations[0], "delete: ready 1 (want >= 2)")
	assert.Contains(t, obs.Violations[0], "new-1(not-ready)")
	assert.Equal(t, 1, obs.MinReady)
}

// A watch that delivers nothing judges nothing: the rollout "completed"
// but no pod event arrived, so the answer is ErrTooFewEvents, never a pass.
func TestWatchRolloutWithNoEventsIsNoJudgement(t *testing.T) {
	f := newRolloutFake(t)
	obs, err := f.watch(func() {})
	var few ErrTooFewEvents
	require.True(t, errors.As(err, &few), "got %v", err)
	assert.Equal(t, ErrTooFewEvents{Seen: 0, Want: 4}, few)
	assert.Empty(t, obs.Violations)
	assert.Zero(t, obs.Events)
}

// A trigger that fails ends the watch with its error.
func TestWatchRolloutTriggerError(t *testing.T) {
	f := newRolloutFake(t)
	ctx := context.Background()
	_, err := WatchRollout(ctx, f.cs, "todo-app", "backend", Invariant{Desired: 2, MaxPods: 3, Selector: rolloutLabels},
		func(context.Context) error { return errors.New("patch refused") })
	assert.ErrorContains(t, err, "starting the rollout: patch refused")
}

// rsFake is a Deployment at 3 replicas, maxSurge 1, whose pods belong to
// ReplicaSets: the controller's steps scale those and create and delete
// their pods, in the order the real controllers do, each pod step taken
// once the watch has judged the one before (as real controllers, ms apart,
// would be seen).
type rsFake struct {
	*rolloutFake
	handled chan struct{}
}

func newRSFake(t *testing.T) rsFake {
	f := rsFake{&rolloutFake{t: t, cs: fake.NewClientset(rolloutDeployment())}, make(chan struct{}, 16)}
	f.scale("backend-old", 3)
	f.scale("backend-new", 0)
	for _, n := range []string{"old-1", "old-2", "old-3"} {
		f.pod("create", "backend-old", n, true)
	}
	return f
}

func (f rsFake) scale(rs string, n int32) {
	obj := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "todo-app", Name: rs, Labels: rolloutLabels}, Spec: appsv1.ReplicaSetSpec{Replicas: ptr.To(n)}}
	if _, err := f.cs.AppsV1().ReplicaSets("todo-app").Update(context.Background(), obj, metav1.UpdateOptions{}); err != nil {
		_, err = f.cs.AppsV1().ReplicaSets("todo-app").Create(context.Background(), obj, metav1.CreateOptions{})
		require.NoError(f.t, err)
	}
}

// pod creates, updates or deletes a pod of rs and, once the watch runs,
// waits until it has judged that event.
func (f rsFake) pod(op, rs, name string, ready bool) {
	p := rolloutPod(name, ready)
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs, UID: types.UID("uid-" + rs), Controller: ptr.To(true)}}
	pods := f.cs.CoreV1().Pods("todo-app")
	var err error
	switch op {
	case "create":
		_, err = pods.Create(context.Background(), p, metav1.CreateOptions{})
	case "update":
		_, err = pods.Update(context.Background(), p, metav1.UpdateOptions{})
	case "delete":
		err = pods.Delete(context.Background(), name, metav1.DeleteOptions{})
	}
	require.NoError(f.t, err)
	if handledHook == nil {
		return
	}
	select {
	case <-f.handled:
	case <-time.After(10 * time.Second):
		f.t.Fatalf("the watch never judged %s %s", op, name)
	}
}

func (f rsFake) watch3(steps func()) (RolloutObservation, error) {
	handledHook = func() { f.handled <- struct{}{} }
	defer func() { handledHook = nil }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	inv := Invariant{Desired: 3, MaxPods: 4, Selector: rolloutLabels}
	return WatchRollout(ctx, f.cs, "todo-app", "backend", inv, func(context.Context) error { steps(); return nil })
}

// The old ReplicaSet is scaled down and the new one up before the old
// one's controller has deleted the pod it condemned: 5 pods are seen for a
// limit of 4, but one is on its way out by the controller's decision. Not
// a violation (measured live: it failed L-SCALE on unbroken manifests).
func TestWatchRolloutCondemnedPodIsNotSurge(t *testing.T) {
	f := newRSFake(t)
	obs, err := f.watch3(func() {
		f.scale("backend-new", 1)
		f.pod("create", "backend-new", "new-1", false)
		f.pod("update", "backend-new", "new-1", true)
		for i := 1; i <= 3; i++ {
			f.scale("backend-old", int32(3-i))
			if i < 3 {
				// The next surge pod comes before the condemned one goes.
				next := fmt.Sprintf("new-%d", i+1)
				f.scale("backend-new", int32(i+1))
				f.pod("create", "backend-new", next, false)
				f.pod("delete", "backend-old", fmt.Sprintf("old-%d", i), true)
				f.pod("update", "backend-new", next, true)
				continue
			}
			f.pod("delete", "backend-old", "old-3", true)
		}
	})
	require.NoError(t, err)
	assert.Empty(t, obs.Violations)
	assert.Equal(t, 1, obs.Condemned)
	assert.Equal(t, 4, obs.MaxPods)
	assert.Contains(t, obs.String(), "up to 1 pod(s) seen after their ReplicaSet was scaled below them")
}

// A strategy that surges two pods (maxSurge 2 where the seed says 1):
// both ReplicaSets hold their size while 5 pods run. A violation.
func TestWatchRolloutSurgeBeyondTheLimitIsAViolation(t *testing.T) {
	f := newRSFake(t)
	obs, err := f.watch3(func() {
		f.scale("backend-new", 2)
		f.pod("create", "backend-new", "new-1", false)
		f.pod("create", "backend-new", "new-2", false)
		f.pod("update", "backend-new", "new-1", true)
		f.pod("update", "backend-new", "new-2", true)
		f.scale("backend-old", 1)
		f.pod("delete", "backend-old", "old-1", true)
		f.pod("delete", "backend-old", "old-2", true)
		f.scale("backend-new", 3)
		f.pod("create", "backend-new", "new-3", true)
		f.scale("backend-old", 0)
		f.pod("delete", "backend-old", "old-3", true)
	})
	require.NoError(t, err)
	require.NotEmpty(t, obs.Violations)
	assert.Contains(t, obs.Violations[0], "pods 5 (want <= 4)")
	assert.Zero(t, obs.Condemned)
}
