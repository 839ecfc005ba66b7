package live

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/puretasks/k8s-conformance/internal/report"
	"github.com/puretasks/k8s-conformance/internal/stubimage"
)

func node(name string, taint bool, images ...string) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if taint {
		n.Spec.Taints = []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}
	}
	for _, i := range images {
		n.Status.Images = append(n.Status.Images, corev1.ContainerImage{Names: []string{i}})
	}
	return n
}

// D11: missing stub images are named with their node and the commands that
// load them, from the nodes' status alone (seconds, no pod started).
func TestMissingImagesNamesImageNodeAndLoadCommands(t *testing.T) {
	nodes := []corev1.Node{
		node("cp", true),
		node("w1", false, "docker.io/library/todo-backend:latest", "docker.io/library/todo-frontend:latest"),
		node("w2", false, "docker.io/library/todo-frontend:latest"),
	}
	err := MissingImages(nodes, stubimage.Stubs(), "_build/images")
	require.Error(t, err)
	msg := err.Error()
	assert.Contains(t, msg, "todo-backend:latest on node w2")
	assert.NotContains(t, msg, "node cp", "a tainted control plane runs no app pod")
	assert.NotContains(t, msg, "on node w1")
	assert.Contains(t, msg, "kind load image-archive _build/images/todo-backend.tar --name <cluster>")
	assert.Contains(t, msg, "minikube image load _build/images/todo-backend.tar")

	nodes[2] = node("w2", false, "todo-backend:latest", "todo-frontend:latest")
	assert.NoError(t, MissingImages(nodes, stubimage.Stubs(), "_build/images"))
}

// A node that lists the kubelet's maximum of images may list only some: its
// absence proves nothing, and the pod-side check covers it.
func TestMissingImagesDoesNotJudgeATruncatedList(t *testing.T) {
	var imgs []string
	for i := range kubeletImageListCap {
		imgs = append(imgs, "other:"+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	assert.NoError(t, MissingImages([]corev1.Node{node("w", false, imgs...)}, stubimage.Stubs(), "x"))
}

// A pod stuck on its image names the node and how to load the images.
func TestTerminalReasonOfAMissingImage(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "backend-7d9"}, Spec: corev1.PodSpec{NodeName: "worker3"},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "backend", Image: "todo-backend:latest",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImageNeverPull", Message: "image not present"}}}}}}
	r := TerminalReason(p)
	assert.Contains(t, r, "pod backend-7d9 on node worker3, container backend, image todo-backend:latest: ErrImageNeverPull")
	assert.Contains(t, ImageHint(r), "kind load image-archive")
	p.Status.ContainerStatuses[0].State.Waiting.Reason = "CreateContainerConfigError"
	assert.Empty(t, ImageHint(TerminalReason(p)))
}

// A kubelet whose ConfigMap cache has not synced retries: the wait goes on
// (a node's fault, reported as ERROR by the check if it lasts), while a
// missing ConfigMap is the manifests' and ends the wait at once.
func TestTerminalReasonOfAKubeletCacheIsNone(t *testing.T) {
	w := &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: "failed to sync configmap cache: timed out waiting for the condition"}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "backend-7d9"}, Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "backend",
		State: corev1.ContainerState{Waiting: w}}}}}
	assert.True(t, KubeletCacheNotSynced(w))
	assert.Empty(t, TerminalReason(p), "the kubelet retries a cache that did not sync")
	w.Message = `configmap "todo-app-config" not found`
	assert.False(t, KubeletCacheNotSynced(w))
	assert.Contains(t, TerminalReason(p), `CreateContainerConfigError: configmap "todo-app-config" not found`)
}

// D11: a cluster that has a todo-app namespace (or one a run left) is refused
// with the way out, unless the override is set.
func TestExistingClusterWithTheAppNamespaceIsRefused(t *testing.T) {
	s, cs := testSuite(t,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "todo-app"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "probe-readiness-backend", Labels: map[string]string{ManagedLabel: FieldOwner}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}},
	)
	t.Setenv(EnvReplaceNamespaces, "")
	err := s.namespacesFree(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "already has namespace(s) todo-app, probe-readiness-backend")
	assert.Contains(t, err.Error(), EnvReplaceNamespaces+"=1")

	t.Setenv(EnvReplaceNamespaces, "1")
	require.NoError(t, s.namespacesFree(context.Background()))
	left, err := cs.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, left.Items, 1)
	assert.Equal(t, "default", left.Items[0].Name)
}

// D11: on an existing cluster, what the run created is removed at the end
// (namespaces and the PV), and nothing else.
func TestRemoveCreatedOnAnExistingCluster(t *testing.T) {
	s, cs := testSuite(t,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system"}},
		&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "backend-uploads-pv"}})
	ctx := context.Background()
	s.ExistingKubeconfig = "/dev/null"
	require.NoError(t, NewLane(s, "l").Namespace(ctx, "pvc-check", nil))
	s.CreatedPersistentVolume("backend-uploads-pv")
	require.NoError(t, s.removeCreated(ctx))
	_, err := cs.CoreV1().Namespaces().Get(ctx, "pvc-check", metav1.GetOptions{})
	assert.True(t, isNotFound(err))
	_, err = cs.CoreV1().PersistentVolumes().Get(ctx, "backend-uploads-pv", metav1.GetOptions{})
	assert.True(t, isNotFound(err))
	_, err = cs.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
	assert.NoError(t, err)
}

// A signal's teardown (Cleanup) on an existing cluster removes what the run
// created, as Finish does; it used to return at once, and the trap then told
// the reaper "done", leaving the run's namespaces behind.
func TestCleanupOnAnExistingClusterRemovesWhatTheRunCreated(t *testing.T) {
	s, cs := testSuite(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system"}})
	ctx := context.Background()
	s.ExistingKubeconfig = "/dev/null"
	require.NoError(t, NewLane(s, "l").Namespace(ctx, "probe-liveness-fail-backend", nil))
	require.NoError(t, s.Cleanup())
	_, err := cs.CoreV1().Namespaces().Get(ctx, "probe-liveness-fail-backend", metav1.GetOptions{})
	assert.True(t, isNotFound(err), "the run's namespace is gone: %v", err)
	_, err = cs.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
	assert.NoError(t, err)
	require.NoError(t, s.Cleanup(), "a second call (Finish after the trap) gets the first one's result")
}

// An interrupted run's context ends with ErrInterrupted: the run knows it
// was stopped, and does not read it as the cluster gone.
func TestInterruptedIsNotClusterGone(t *testing.T) {
	s, _ := testSuite(t)
	ctx, cancel := context.WithCancelCause(context.Background())
	s.runCtx, s.stopWatch = ctx, cancel
	assert.False(t, s.Interrupted())
	cancel(ErrInterrupted{Signal: syscall.SIGTERM})
	assert.True(t, s.Interrupted())
	assert.NoError(t, s.Gone())
	assert.Contains(t, context.Cause(ctx).Error(), "interrupted by a signal (terminated)")

	s2, _ := testSuite(t)
	ctx2, cancel2 := context.WithCancelCause(context.Background())
	s2.runCtx, s2.stopWatch = ctx2, cancel2
	cancel2(ErrClusterGone{Last: "0 of 5 node containers running"})
	assert.False(t, s2.Interrupted())
	assert.Error(t, s2.Gone())
}

// D14: a report that cannot be written is an error naming the file, not
// silence.
func TestReportWriteErrorsAreReported(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(blocker, nil, 0o644))
	s := &Suite{Settings: Settings{Artifacts: filepath.Join(blocker, "artifacts")}, Report: report.New(), Log: os.Stderr}
	err := s.writeReport()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "report")

	s.Artifacts = t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(s.Artifacts, "report.html"), 0o755)) // a directory where the file goes
	err = s.writeReport()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "report.html")
	assert.FileExists(t, filepath.Join(s.Artifacts, "report.json"))
}
