package selftest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/puretasks/k8s-conformance/internal/poll"
)

// Waits of the self-test's own, in one place.
var (
	// ClusterRestored is every object a mutant's run left behind gone.
	ClusterRestored = poll.Interval{Name: "selftest-cluster-restored", Timeout: 3 * time.Minute, Every: time.Second}
	// ImagesReported is every node's kubelet reporting the stub images just
	// loaded (node status is refreshed every few seconds).
	ImagesReported = poll.Interval{Name: "stub-images-reported", Timeout: 2 * time.Minute, Every: 2 * time.Second}
	// RunExit is a live run's grace to tear down after SIGINT or SIGTERM.
	RunExit = poll.Interval{Name: "run-exit-after-signal", Timeout: 3 * time.Minute, Every: time.Second}
)

// ClusterState is what exists in the shared cluster before the first mutant:
// namespaces and PersistentVolumes (the app's only cluster-scoped object).
type ClusterState struct {
	Namespaces []string
	PVs        []string
	// Terminating are objects already being deleted ("namespace x",
	// "PersistentVolume y"): the run cleaned them up itself.
	Terminating []string
}

// Snapshot lists the cluster's namespaces and PVs.
func Snapshot(ctx context.Context, cs kubernetes.Interface) (ClusterState, error) {
	var s ClusterState
	nss, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return s, fmt.Errorf("listing namespaces: %w", err)
	}
	for _, n := range nss.Items {
		s.Namespaces = append(s.Namespaces, n.Name)
		if n.DeletionTimestamp != nil {
			s.Terminating = append(s.Terminating, "namespace "+n.Name)
		}
	}
	pvs, err := cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return s, fmt.Errorf("listing PersistentVolumes: %w", err)
	}
	for _, p := range pvs.Items {
		s.PVs = append(s.PVs, p.Name)
		if p.DeletionTimestamp != nil {
			s.Terminating = append(s.Terminating, "PersistentVolume "+p.Name)
		}
	}
	sort.Strings(s.Namespaces)
	sort.Strings(s.PVs)
	return s, nil
}

// Added lists what now exists that base did not have.
func (now ClusterState) Added(base ClusterState) (namespaces, pvs []string) {
	for _, n := range now.Namespaces {
		if !slices.Contains(base.Namespaces, n) {
			namespaces = append(namespaces, n)
		}
	}
	for _, p := range now.PVs {
		if !slices.Contains(base.PVs, p) {
			pvs = append(pvs, p)
		}
	}
	return namespaces, pvs
}

// ClusterRestorer deletes every namespace and PV that was not in Base and
// waits until they are gone, so the next mutant meets a fresh cluster (the
// live tier refuses one that still has a todo-app namespace).
type ClusterRestorer struct {
	Client kubernetes.Interface
	Base   ClusterState
	Wait   poll.Interval
}

// Restore implements Restorer. It returns what the run left behind (objects
// it had not started deleting itself).
func (r ClusterRestorer) Restore(ctx context.Context) ([]string, error) {
	now, err := Snapshot(ctx, r.Client)
	if err != nil {
		return nil, err
	}
	nss, pvs := now.Added(r.Base)
	var removed []string
	var errs []error
	for _, n := range nss {
		if !slices.Contains(now.Terminating, "namespace "+n) {
			removed = append(removed, "namespace "+n)
		}
		if err := r.Client.CoreV1().Namespaces().Delete(ctx, n, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting namespace %s: %w", n, err))
		}
	}
	for _, p := range pvs {
		if !slices.Contains(now.Terminating, "PersistentVolume "+p) {
			removed = append(removed, "PersistentVolume "+p)
		}
		if err := r.Client.CoreV1().PersistentVolumes().Delete(ctx, p, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting PersistentVolume %s: %w", p, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return removed, err
	}
	var left []string
	err = poll.Until(ctx, r.Wait, func(ctx context.Context) (bool, error) {
		now, err := Snapshot(ctx, r.Client)
		if err != nil {
			left = []string{err.Error()}
			return false, nil
		}
		n, p := now.Added(r.Base)
		left = append(n, p...)
		return len(left) == 0, nil
	})
	if err != nil {
		return removed, fmt.Errorf("still present: %v: %w", left, err)
	}
	return removed, nil
}
