package live

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/puretasks/k8s-conformance/internal/report"
)

func coreDNS(available int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "coredns", Namespace: "kube-system", Generation: 1},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2,
			ReadyReplicas: available, AvailableReplicas: available},
	}
}

// The deferred wait is timed as its own phase and every caller gets its
// answer.
func TestAwaitCoreDNSAnswersEveryCaller(t *testing.T) {
	cs := fake.NewClientset(coreDNS(2))
	var phases []string
	wait := awaitCoreDNS(context.Background(), cs, func(name string, fn func() error) error {
		phases = append(phases, name)
		return fn()
	})
	require.NoError(t, wait(context.Background()))
	require.NoError(t, wait(context.Background()))
	assert.Equal(t, []string{"CoreDNS Available"}, phases)
}

// CoreDNS never Available: the wait's own error, with what was last seen,
// is every caller's answer; a caller that gives up first says why.
func TestAwaitCoreDNSNeverAvailable(t *testing.T) {
	cs := fake.NewClientset(coreDNS(0))
	bringUp, stop := context.WithCancelCause(context.Background())
	wait := awaitCoreDNS(bringUp, cs, func(_ string, fn func() error) error { return fn() })

	caller, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := wait(caller)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "waiting for CoreDNS")

	stop(errors.New("run interrupted"))
	err = wait(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "deployment kube-system/coredns")
	assert.Contains(t, err.Error(), "available 0", "what was last seen")
}

// A check that resolves names on a cluster whose DNS never came up is
// ERROR (setup), not FAIL: the lookup would say nothing about the
// manifests. On an existing cluster (no deferred wait) nothing is waited.
func TestCheckNeedingClusterDNSWithoutItIsError(t *testing.T) {
	s, _ := testSuite(t)
	s.clusterDNS = func(context.Context) error {
		return errors.New("deployment kube-system/coredns: timed out; last seen: available 0")
	}
	ft := &fakeT{}
	c := NewLane(s, "TestTodoApp").Begin("L-DNS", "resolves")
	c.requireClusterDNS(context.Background(), ft)
	c.Conclude(ft)
	agree(t, s, ft, "L-DNS", report.Error, report.CodeSetup)

	s, _ = testSuite(t)
	ft = &fakeT{}
	c = NewLane(s, "TestTodoApp").Begin("L-DNS", "resolves")
	c.requireClusterDNS(context.Background(), ft)
	assert.False(t, ft.Failed(), "an existing cluster's DNS is taken as it is")
}

// A node is ready for the run once it is Ready and the lifecycle
// controller has lifted its not-ready taint: before, the scheduler places
// nothing there.
func TestNodesReadyWaitsForTheLifecycleTaints(t *testing.T) {
	node := func(name string, ready bool, taints ...string) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: st}}
		for _, k := range taints {
			n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: k, Effect: corev1.TaintEffectNoSchedule})
		}
		return n
	}
	assert.Equal(t, "Ready", nodeState(node("a", true)))
	assert.Equal(t, "Ready", nodeState(node("a", true, "node-role.kubernetes.io/control-plane")), "a role taint is the cluster's shape, not a lifecycle state")
	assert.Equal(t, "NotReady", nodeState(node("a", false)))
	assert.Equal(t, "Ready, tainted node.kubernetes.io/not-ready", nodeState(node("a", true, corev1.TaintNodeNotReady)))

	cs := fake.NewClientset(node("a", true), node("b", true, corev1.TaintNodeNotReady))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := NodesReady(ctx, cs, 2)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "b=Ready, tainted node.kubernetes.io/not-ready")

	cs = fake.NewClientset(node("a", true), node("b", true))
	require.NoError(t, NodesReady(context.Background(), cs, 2))
}

// A check marked NeedsClusterDNS waits for the cluster's DNS when it
// begins; an unmarked one does not. A probe Job waits whatever the mark.
func TestClusterDNSIsWaitedWhereNamesAreResolved(t *testing.T) {
	s, cs := testSuite(t)
	s.readyOnce.Do(func() {}) // the cluster is up
	waited := 0
	s.clusterDNS = func(context.Context) error { waited++; return nil }

	ft := &fakeT{}
	c := NewLane(s, "TestTodoApp").Begin("L-QOS", "pods")
	NewCheck("L-QOS", "pods").ready(context.Background(), c, ft)
	assert.Equal(t, 0, waited, "a check that resolves nothing does not wait")

	c = NewLane(s, "TestTodoApp").Begin("L-DNS", "resolves")
	NewCheck("L-DNS", "resolves").NeedsClusterDNS().ready(context.Background(), c, ft)
	assert.Equal(t, 1, waited, "a marked check waits when it begins")
	assert.False(t, ft.Failed())

	s.clusterDNS = func(context.Context) error { return errors.New("deployment kube-system/coredns: timed out") }
	err := ProbeJob{Namespace: "todo-app", Name: "dns-0", Image: "todo-backend:latest", Args: []string{"resolve", "backend-service"}}.
		Start(WithSuite(context.Background(), s), cs)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "job dns-0 not started: the cluster does not resolve names")
	jobs, lerr := cs.BatchV1().Jobs("todo-app").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, lerr)
	assert.Empty(t, jobs.Items, "no Job is created before the cluster resolves names")
}
