package lanes

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	helmchart "helm.sh/helm/v4/pkg/chart/v2"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"
	chartloader "helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/kube"
	kubefake "helm.sh/helm/v4/pkg/kube/fake"
	"helm.sh/helm/v4/pkg/storage"
	"helm.sh/helm/v4/pkg/storage/driver"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/puretasks/k8s-conformance/internal/kubeversion"
	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/manifests"
)

// fakeHelm is the app's chart on the SDK's own test doubles: releases in
// memory, a Kubernetes client that accepts everything (or fails where told),
// and the target Kubernetes version as the cluster's.
func fakeHelm(t *testing.T, kc *kubefake.FailingKubeClient) *Helm {
	t.Helper()
	root, err := manifests.ModuleRoot()
	require.NoError(t, err)
	ch, err := chartloader.Load(filepath.Join(root, "manifests", "helm", "todo-app"))
	require.NoError(t, err)
	kv, err := common.ParseKubeVersion(kubeversion.Default.Version)
	require.NoError(t, err)
	caps := common.DefaultCapabilities.Copy()
	caps.KubeVersion = *kv
	kc.PrintingKubeClient.Out = io.Discard
	cfg := action.NewConfiguration()
	cfg.Releases = storage.Init(driver.NewMemory())
	cfg.KubeClient = kc
	cfg.Capabilities = caps
	return &Helm{Config: cfg, Chart: ch, Namespace: HelmNamespace, Release: HelmRelease, Values: HelmValues(), CreateNamespace: true}
}

func TestHelmInstallTestUninstall(t *testing.T) {
	kc := &kubefake.FailingKubeClient{}
	h := fakeHelm(t, kc)
	r, ft, _ := newRecorder("L-HELM")

	require.True(t, HelmInstall(context.Background(), h, r), ft.failures())
	assert.Contains(t, ft.measurements(), "revision 1 deployed")
	assert.Contains(t, ft.measurements(), "2 test hook(s)")
	assert.Contains(t, kc.RecordedWaitStrategies, kube.StatusWatcherStrategy, "installs as helm install --wait")

	require.True(t, HelmTest(h, r, io.Discard), ft.failures())
	assert.Contains(t, ft.measurements(), "helm test todo-app-test-backend-service: Succeeded")
	assert.Contains(t, ft.measurements(), "helm test todo-app-test-frontend-service: Succeeded")

	HelmUninstall(context.Background(), Env{Clientset: fake.NewClientset()}, h, r)
	assert.Empty(t, ft.failures())
	assert.Contains(t, ft.measurements(), "no Deployment, Service, ConfigMap, Secret or Pod of the release is left")
	_, err := h.Config.Releases.History(HelmRelease)
	assert.ErrorIs(t, err, driver.ErrReleaseNotFound)
}

// helmReleaseCluster is what the second release leaves in a cluster: its
// backend Deployment with one Ready pod on worker1, a reader pod that runs
// when created, and the release's PV as pv says; files are what the node's
// hostPath holds.
func helmReleaseCluster(t *testing.T, pv *corev1.PersistentVolume, flipAt time.Duration, flip func(*corev1.PersistentVolume) (*corev1.PersistentVolume, error), files map[string]string) Env {
	t.Helper()
	ns := HelmExistingNamespace
	cs := backendCopy(t, ns)
	readerRuns(cs, ns)
	pvTimeline(cs, pv, flipAt, flip)
	// Before the install there is no PV (the lane checks): the first Get
	// says so, later ones see the release's.
	var asked atomic.Bool
	cs.PrependReactor("get", "persistentvolumes", func(k8stesting.Action) (bool, runtime.Object, error) {
		if asked.Swap(true) {
			return false, nil, nil
		}
		return true, nil, apierrors.NewNotFound(corev1.Resource("persistentvolumes"), HelmPVName)
	})
	return Env{Clientset: cs, Proxy: func(_ context.Context, method, _, pod string, _ int32, path string, body []byte) (int, []byte, error) {
		name := strings.TrimPrefix(path, "/api/uploads/")
		switch {
		case method == "PUT":
			return http.StatusCreated, nil, nil
		case pod != hostPathReader:
			return http.StatusNotFound, nil, nil
		}
		if c, ok := files[name]; ok {
			return http.StatusOK, []byte(c), nil
		}
		return http.StatusNotFound, []byte(`{"error":"no such upload"}`), nil
	}}
}

func helmPV(phase corev1.PersistentVolumePhase) *corev1.PersistentVolume {
	pv := seedPV(corev1.PersistentVolumeReclaimRetain, phase)
	pv.Name = HelmPVName
	return pv
}

// The second release goes into a namespace that exists, without
// --create-namespace, with persistence on; helm uninstall must leave its
// Retain PV Released with the file written through it.
func TestHelmInstallIntoExisting(t *testing.T) {
	helmRetainHold = testHold
	t.Cleanup(func() { helmRetainHold = PVRetainHold })
	content := "written through release todo-helm-existing/todo-app before helm uninstall"
	var created []string
	env := helmReleaseCluster(t, helmPV(corev1.VolumeReleased), 0, nil, map[string]string{"helm-retained.txt": content})
	env.CreatedPV = func(name string) { created = append(created, name) }
	h := fakeHelm(t, &kubefake.FailingKubeClient{})
	h.Namespace = HelmExistingNamespace
	r, ft, _ := newRecorder("L-HELM")
	HelmInstallIntoExisting(context.Background(), env, h, r)
	assert.Empty(t, ft.failures())
	m := ft.measurements()
	assert.Contains(t, m, "helm install -n todo-helm-existing --wait (into the existing namespace)")
	assert.Contains(t, m, "PV todo-helm-uploads-pv Released")
	assert.Contains(t, m, "after helm uninstall")
	assert.Contains(t, m, "helm-retained.txt still on node worker1's hostPath")
	assert.False(t, h.CreateNamespace)
	assert.Equal(t, []string{HelmPVName}, created, "the run removes the release's PV whatever happens")
	rel, err := h.Config.Releases.History(HelmRelease)
	assert.ErrorIs(t, err, driver.ErrReleaseNotFound, "uninstalled: %v", rel)
}

// A chart whose uninstall takes the PV with it fails.
func TestHelmUninstallThatDeletesThePVFails(t *testing.T) {
	helmRetainHold = testHold
	t.Cleanup(func() { helmRetainHold = PVRetainHold })
	// There when the release is up, gone from soon after the uninstall.
	env := helmReleaseCluster(t, helmPV(corev1.VolumeBound), 300*time.Millisecond, toGone, nil)
	h := fakeHelm(t, &kubefake.FailingKubeClient{})
	h.Namespace = HelmExistingNamespace
	r, ft, _ := newRecorder("L-HELM")
	HelmInstallIntoExisting(context.Background(), env, h, r)
	assert.Contains(t, ft.failures(), "PersistentVolume todo-helm-uploads-pv: expected Released and still Released")
	assert.Contains(t, ft.failures(), "the PV was deleted")
}

func TestHelmInstallIntoExistingThatFails(t *testing.T) {
	h := fakeHelm(t, &kubefake.FailingKubeClient{WaitError: errors.New("context deadline exceeded")})
	h.Namespace = HelmExistingNamespace
	r, ft, _ := newRecorder("L-HELM")
	HelmInstallIntoExisting(context.Background(), Env{Clientset: fake.NewClientset()}, h, r)
	assert.Contains(t, ft.failures(), "expected helm install -n todo-helm-existing --wait (into the existing namespace) to succeed")
	assert.NotContains(t, ft.measurements(), "helm uninstall", "nothing installed, nothing to uninstall")
}

// The values the lane installs with keep the todo-app lane's NodePort free,
// and the chart's schema accepts them.
func TestHelmValuesLeaveTheNodePortAlone(t *testing.T) {
	h := fakeHelm(t, &kubefake.FailingKubeClient{})
	r, ft, _ := newRecorder("L-HELM")
	require.True(t, HelmInstall(context.Background(), h, r), ft.failures())
	last, err := h.Config.Releases.Last(HelmRelease)
	require.NoError(t, err)
	rel, err := v1Release(last)
	require.NoError(t, err)
	assert.Contains(t, rel.Manifest, "name: frontend-service")
	assert.NotContains(t, rel.Manifest, "NodePort", "the lane's frontend-service must not claim the todo-app lane's NodePort")
	assert.NotContains(t, rel.Manifest, "nodePort")
}

func TestHelmInstallFailureIsAFailure(t *testing.T) {
	h := fakeHelm(t, &kubefake.FailingKubeClient{CreateError: errors.New("admission webhook denied the request")})
	r, ft, _ := newRecorder("L-HELM")
	assert.False(t, HelmInstall(context.Background(), h, r))
	assert.Contains(t, ft.failures(), "release todo-helm/todo-app: expected helm install -n todo-helm --create-namespace --wait to succeed")
	assert.Contains(t, ft.failures(), "admission webhook denied the request")

	h = fakeHelm(t, &kubefake.FailingKubeClient{WaitError: errors.New("context deadline exceeded")})
	r, ft, _ = newRecorder("L-HELM")
	assert.False(t, HelmInstall(context.Background(), h, r), "a release that never became ready is not installed")
	assert.Contains(t, ft.failures(), "context deadline exceeded")
}

func TestHelmTestFailureIsAFailure(t *testing.T) {
	kc := &kubefake.FailingKubeClient{}
	h := fakeHelm(t, kc)
	r, ft, _ := newRecorder("L-HELM")
	require.True(t, HelmInstall(context.Background(), h, r), ft.failures())
	kc.WatchUntilReadyError = errors.New("pod todo-app-test-backend-service failed")
	assert.False(t, HelmTest(h, r, io.Discard))
	assert.Contains(t, ft.failures(), "expected helm test hook to succeed")
	assert.Contains(t, ft.failures(), "expected helm test to succeed")
}

// A chart without tests has tested nothing: that is a failure, not a pass.
func TestHelmTestWithoutTestHooksFails(t *testing.T) {
	h := fakeHelm(t, &kubefake.FailingKubeClient{})
	var kept []*common.File
	for _, tpl := range h.Chart.Templates {
		if !strings.Contains(tpl.Name, "templates/tests/") {
			kept = append(kept, tpl)
		}
	}
	h.Chart.Templates = kept
	r, ft, _ := newRecorder("L-HELM")
	require.True(t, HelmInstall(context.Background(), h, r), ft.failures())
	assert.False(t, HelmTest(h, r, io.Discard))
	assert.Contains(t, ft.failures(), "expected the chart to have helm test hooks")
}

func TestHelmUninstallReportsWhatIsLeft(t *testing.T) {
	h := fakeHelm(t, &kubefake.FailingKubeClient{})
	r, ft, _ := newRecorder("L-HELM")
	require.True(t, HelmInstall(context.Background(), h, r), ft.failures())
	cs := fake.NewClientset(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{
		Name: "backend", Namespace: HelmNamespace, Labels: map[string]string{"app.kubernetes.io/instance": HelmRelease},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	HelmUninstall(ctx, Env{Clientset: cs}, h, r)
	assert.Contains(t, ft.failures(), "expected nothing of release todo-app left after uninstall, found [Deployment backend]")

	// An API that does not answer is an error, never "nothing left".
	h = fakeHelm(t, &kubefake.FailingKubeClient{})
	r, ft, _ = newRecorder("L-HELM")
	require.True(t, HelmInstall(context.Background(), h, r), ft.failures())
	cs = fake.NewClientset()
	failWith(cs, "list", "secrets", errAPI)
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	HelmUninstall(ctx2, Env{Clientset: cs}, h, r)
	assert.Contains(t, ft.failures(), "listing what the release left")
	assert.Contains(t, ft.failures(), errAPI.Error())
}

func TestHelmUninstallFailureIsAFailure(t *testing.T) {
	h := fakeHelm(t, &kubefake.FailingKubeClient{})
	r, ft, _ := newRecorder("L-HELM")
	require.True(t, HelmInstall(context.Background(), h, r), ft.failures())
	h.Config.KubeClient = &kubefake.FailingKubeClient{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard}, WaitForDeleteError: errors.New("timed out waiting for the condition")}
	HelmUninstall(context.Background(), Env{Clientset: fake.NewClientset()}, h, r)
	assert.Contains(t, ft.failures(), "expected helm uninstall --wait to succeed")
}

// The upgrade is to a new chart version: every pod template's helm.sh/chart
// label changes, so both Deployments roll; the loaded chart stays as it was.
func TestNextChartVersion(t *testing.T) {
	h := fakeHelm(t, &kubefake.FailingKubeClient{})
	before := h.Chart.Metadata.Version
	next := NextChartVersion(h.Chart)
	assert.Equal(t, before, h.Chart.Metadata.Version)
	assert.Equal(t, before+"-upgrade.1", next.Metadata.Version)
	assert.NoError(t, next.Validate(), "the next version is a valid chart version")

	// A chart wrapping the app's chart (the L-HELM mutant): the wrapped
	// chart's version moves too, or its pod templates would not change.
	wrapper := &helmchart.Chart{Metadata: &helmchart.Metadata{APIVersion: "v2", Name: "wrapper", Version: "0.1.0"}}
	wrapper.SetDependencies(h.Chart)
	nextWrapper := NextChartVersion(wrapper)
	require.Len(t, nextWrapper.Dependencies(), 1)
	assert.Equal(t, before+"-upgrade.1", nextWrapper.Dependencies()[0].Metadata.Version)
	assert.Same(t, nextWrapper, nextWrapper.Dependencies()[0].Parent())
	assert.Equal(t, before, wrapper.Dependencies()[0].Metadata.Version, "the loaded charts stay as they were")
}

func TestHelmNamespaceAbsent(t *testing.T) {
	cs := fake.NewClientset()
	assert.NoError(t, HelmNamespaceAbsent(context.Background(), Env{Clientset: cs}, HelmNamespace))
	_, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: HelmNamespace}}, metav1.CreateOptions{})
	require.NoError(t, err)
	assert.ErrorContains(t, HelmNamespaceAbsent(context.Background(), Env{Clientset: cs}, HelmNamespace), "already exists")
	cs = fake.NewClientset()
	failWith(cs, "get", "namespaces", errAPI)
	assert.ErrorContains(t, HelmNamespaceAbsent(context.Background(), Env{Clientset: cs}, HelmNamespace), errAPI.Error())
}

func TestMarkNamespace(t *testing.T) {
	cs := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: HelmNamespace}})
	require.NoError(t, MarkNamespace(context.Background(), Env{Clientset: cs}, HelmNamespace))
	ns, err := cs.CoreV1().Namespaces().Get(context.Background(), HelmNamespace, metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, live.FieldOwner, ns.Labels[live.ManagedLabel])
	assert.ErrorContains(t, MarkNamespace(context.Background(), Env{Clientset: fake.NewClientset()}, "absent"), "labelling namespace absent")
}

// NewHelm builds the SDK configuration as the CLI does, without touching the
// cluster; a chart that does not load is an error naming it.
func TestNewHelm(t *testing.T) {
	root, err := manifests.ModuleRoot()
	require.NoError(t, err)
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600))
	h, err := NewHelm(kubeconfig, HelmNamespace, filepath.Join(root, "manifests", "helm", "todo-app"), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "todo-app", h.Chart.Metadata.Name)
	assert.NotNil(t, h.Config.RESTClientGetter)
	assert.Equal(t, HelmNamespace, h.Namespace)

	_, err = NewHelm(kubeconfig, HelmNamespace, filepath.Join(root, "manifests", "base"), io.Discard)
	assert.ErrorContains(t, err, "loading the chart")
}

// A PV left by an earlier run is not adopted: ERROR before any install.
func TestHelmInstallIntoExistingRefusesALeftoverPV(t *testing.T) {
	cs := fake.NewClientset(helmPV(corev1.VolumeReleased))
	kc := &kubefake.FailingKubeClient{}
	h := fakeHelm(t, kc)
	h.Namespace = HelmExistingNamespace
	r, ft, _ := newRecorder("L-HELM")
	HelmInstallIntoExisting(context.Background(), Env{Clientset: cs}, h, r)
	assert.Contains(t, ft.failures(), "ERROR(setup) PersistentVolume todo-helm-uploads-pv: already exists before the release")
	_, err := h.Config.Releases.History(HelmRelease)
	assert.ErrorIs(t, err, driver.ErrReleaseNotFound, "nothing installed")
}
