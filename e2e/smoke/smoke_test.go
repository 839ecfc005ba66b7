//go:build smoke

// Package smoke proves the hermetic kind cluster works before the live tier
// relies on it: node Ready, kube-system Running, cluster DNS from a pod, a
// NodePort reached from the host, a hostPath PV bound by a `manual` claim,
// and nothing left behind afterwards.
//
//	go test -tags smoke ./e2e/smoke -v -count=1      (make smoke)
package smoke

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/puretasks/k8s-conformance/internal/kindcluster"
	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/nodeimage/choice"
	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/stubimage"
)

const ns = "smoke"

// TestMain lets this test binary serve as its own reaper: a smoke run that
// dies without its cleanup (the -timeout panic, SIGKILL) leaves no cluster.
func TestMain(m *testing.M) {
	if live.IsReaper() {
		os.Exit(live.RunReaper())
	}
	os.Exit(m.Run())
}

func TestSmoke(t *testing.T) {
	ctx := context.Background()
	root, err := manifests.ModuleRoot()
	require.NoError(t, err)
	build := t.TempDir()
	reaper, err := live.StartReaper()
	require.NoError(t, err)

	name := kindcluster.NameFor(os.Getpid(), "smoke")
	kubeconfig := filepath.Join(build, "kubeconfig")
	data := filepath.Join(build, "data")
	cluster := kindcluster.Adopt(name, kubeconfig).WithDataDir(data)
	teardown := func() {
		start := time.Now()
		require.NoError(t, cluster.Delete())
		assert.NoError(t, reaper.Done())
		t.Logf("cluster delete: %s", time.Since(start).Round(100*time.Millisecond))
		out, err := exec.Command("docker", "ps", "-aq", "--filter", "label=io.x-k8s.kind.cluster="+name).Output()
		require.NoError(t, err)
		assert.Empty(t, strings.TrimSpace(string(out)), "no node container of %s is left", name)
		assert.NoFileExists(t, kubeconfig, "the run's kubeconfig is gone")
		assert.NoDirExists(t, data, "the run's data dir is gone")
		if others, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=io.x-k8s.kind.cluster").Output(); len(strings.TrimSpace(string(others))) == 0 {
			nets, _ := exec.Command("docker", "network", "ls", "--format", "{{.Name}}").Output()
			assert.NotContains(t, strings.Fields(string(nets)), "kind", "kind's network is gone")
		}
	}
	t.Cleanup(teardown)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		if cluster.Delete() == nil {
			_ = reaper.Done()
		}
		os.Exit(130)
	}()

	// The live tier's own bring-up path, on the single-node config.
	start := time.Now()
	up, err := live.BringUp(ctx, live.UpOptions{
		Name: name, ConfigFile: filepath.Join(root, "fixtures/kind/single-node.yaml"),
		Kubeconfig: kubeconfig, DataDir: data, ModuleRoot: root, ImagesDir: filepath.Join(build, "images"),
		RebuildStubs: true, Node: choice.FromEnv(), Log: os.Stderr,
		Announce: func(c *kindcluster.Cluster) { reaper.Cluster(c.Name, c.Kubeconfig, c.DataDir) },
	})
	if up != nil && up.Cluster != nil {
		cluster = up.Cluster
	}
	require.NoError(t, err)
	t.Logf("node image %s (%s)", up.Image.Image, up.Image.Reason)
	_, err = os.Stat(filepath.Join(os.Getenv("HOME"), ".kube", "config"))
	t.Logf("cluster up (node Ready, CoreDNS, stub images loaded): %s (user kubeconfig untouched: %v)", time.Since(start).Round(100*time.Millisecond), os.IsNotExist(err))
	cs := up.Clientset
	stubs := stubimage.Stubs()

	t.Run("every kube-system pod Running", func(t *testing.T) {
		var last string
		err := poll.Until(ctx, poll.SystemPods, func(ctx context.Context) (bool, error) {
			pods, err := cs.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{})
			if err != nil || len(pods.Items) == 0 {
				return false, nil
			}
			var notReady []string
			for _, p := range pods.Items {
				if p.Status.Phase != corev1.PodRunning || !live.PodReady(&p) {
					notReady = append(notReady, p.Name+"="+string(p.Status.Phase))
				}
			}
			last = fmt.Sprintf("%d pods, not ready: %v", len(pods.Items), notReady)
			return len(notReady) == 0, nil
		})
		require.NoError(t, err, last)
		t.Log(last)
	})

	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	image := stubs[0].Tag

	t.Run("a pod resolves kubernetes.default.svc.cluster.local", func(t *testing.T) {
		lines, ok, err := live.ProbeJob{Namespace: ns, Name: "dns", Image: image,
			Args: []string{"resolve", "kubernetes.default.svc.cluster.local"}, Interval: poll.JobComplete}.Run(ctx, cs)
		require.NoError(t, err)
		require.True(t, ok, "%s", lines)
		t.Logf("%s", lines)
	})

	t.Run("a NodePort Service answers at localhost:30000", func(t *testing.T) {
		labels := map[string]string{"app": "smoke"}
		_, err := cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "smoke"},
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{
						Name: "stub", Image: image, ImagePullPolicy: corev1.PullIfNotPresent,
						Env: []corev1.EnvVar{{Name: "STUB_UPLOADS_DIR", Value: "/tmp"}},
					}}},
				},
			},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		_, err = cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "smoke"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: labels, Ports: []corev1.ServicePort{{
				Port: 8000, TargetPort: intstr.FromInt32(stubs[0].Port), NodePort: 30000,
			}}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		_, err = live.WaitDeployment(ctx, cs, ns, "smoke", poll.DeploymentAvailable)
		require.NoError(t, err)
		client := &http.Client{Timeout: 2 * time.Second}
		var status int
		err = poll.Until(ctx, poll.HostPort, func(ctx context.Context) (bool, error) {
			resp, err := client.Get("http://127.0.0.1:30000/api/health")
			if err != nil {
				return false, nil
			}
			resp.Body.Close()
			status = resp.StatusCode
			return status == http.StatusOK, nil
		})
		require.NoError(t, err, "last status %d", status)
	})

	t.Run("a hostPath PV and a manual PVC bind", func(t *testing.T) {
		_, err := cs.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: "smoke-pv"},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				StorageClassName:              "manual",
				PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{
					Path: "/mnt/data/smoke", Type: ptr.To(corev1.HostPathDirectoryOrCreate)}},
			},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		_, err = cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "smoke-pvc"},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName: ptr.To("manual"),
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		var phase corev1.PersistentVolumeClaimPhase
		err = poll.Until(ctx, poll.PVCBound, func(ctx context.Context) (bool, error) {
			pvc, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "smoke-pvc", metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			phase = pvc.Status.Phase
			return phase == corev1.ClaimBound && pvc.Spec.VolumeName == "smoke-pv", nil
		})
		require.NoError(t, err, "claim phase %s", phase)
	})
}
