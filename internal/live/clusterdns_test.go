package live

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
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
