package selftest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/puretasks/k8s-conformance/internal/poll"
)

func ns(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

var quick = poll.Interval{Name: "test", Timeout: 2 * time.Second, Every: 10 * time.Millisecond}

func TestRestoreRemovesWhatARunLeft(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(ns("default"), ns("kube-system"))
	base, err := Snapshot(ctx, cs)
	require.NoError(t, err)
	_, err = cs.CoreV1().Namespaces().Create(ctx, ns("todo-app"), metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "backend-uploads-pv"}}, metav1.CreateOptions{})
	require.NoError(t, err)

	removed, err := ClusterRestorer{Client: cs, Base: base, Wait: quick}.Restore(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"namespace todo-app", "PersistentVolume backend-uploads-pv"}, removed)
	now, err := Snapshot(ctx, cs)
	require.NoError(t, err)
	assert.Equal(t, base, now)

	removed, err = ClusterRestorer{Client: cs, Base: base, Wait: quick}.Restore(ctx)
	require.NoError(t, err)
	assert.Empty(t, removed, "a clean cluster needs nothing removed")
}

func TestRestoreDoesNotBlameARunForWhatItIsDeleting(t *testing.T) {
	ctx := context.Background()
	gone := metav1.Now()
	terminating := ns("probe-readiness-backend")
	terminating.DeletionTimestamp = &gone
	cs := fake.NewClientset(ns("default"))
	base, err := Snapshot(ctx, cs)
	require.NoError(t, err)
	require.NoError(t, cs.Tracker().Add(terminating))
	removed, err := ClusterRestorer{Client: cs, Base: base, Wait: quick}.Restore(ctx)
	require.NoError(t, err)
	assert.Empty(t, removed)
}

func TestRestoreFailsWhenSomethingStays(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset(ns("default"))
	base, err := Snapshot(ctx, cs)
	require.NoError(t, err)
	require.NoError(t, cs.Tracker().Add(ns("todo-app")))
	// A namespace stuck on a finalizer: the delete is accepted, nothing goes.
	cs.PrependReactor("delete", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, nil
	})
	_, err = ClusterRestorer{Client: cs, Base: base, Wait: quick}.Restore(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "todo-app")

	cs2 := fake.NewClientset(ns("default"))
	require.NoError(t, cs2.Tracker().Add(ns("todo-app")))
	cs2.PrependReactor("delete", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("forbidden")
	})
	_, err = ClusterRestorer{Client: cs2, Base: base, Wait: quick}.Restore(ctx)
	require.ErrorContains(t, err, "forbidden")
}

func TestSnapshotFailsOnAPIError(t *testing.T) {
	cs := fake.NewClientset()
	cs.PrependReactor("list", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	_, err := Snapshot(context.Background(), cs)
	require.ErrorContains(t, err, "connection refused")
}
