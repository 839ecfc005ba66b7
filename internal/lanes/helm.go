package lanes

// L-HELM: the app's own chart driven through the Helm v4 SDK the way the helm
// CLI drives it: `helm install --create-namespace --wait`, `helm test`,
// `helm upgrade --wait` while requests flow, `helm uninstall --wait`. Each
// step is a pkg/action call on an action.Configuration built from the run's
// kubeconfig (secrets storage driver, as the CLI's default), so what passes
// here is what a Helm user gets.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"helm.sh/helm/v4/pkg/action"
	helmchart "helm.sh/helm/v4/pkg/chart/v2"
	chartloader "helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/kube"
	ri "helm.sh/helm/v4/pkg/release"
	relcommon "helm.sh/helm/v4/pkg/release/common"
	release "helm.sh/helm/v4/pkg/release/v1"
	"helm.sh/helm/v4/pkg/storage/driver"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"

	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/report"
	"github.com/puretasks/k8s-conformance/internal/spec"
	"github.com/puretasks/k8s-conformance/internal/traffic"
)

const (
	// HelmNamespace is the L-HELM lane's namespace: Helm creates it
	// (--create-namespace), the lane deletes it when it ends.
	HelmNamespace = "todo-helm"
	// HelmExistingNamespace is where the lane's second release goes: a
	// namespace that exists before `helm install` (no --create-namespace).
	HelmExistingNamespace = "todo-helm-existing"
	// HelmRelease is the release's name, the one the chart's NOTES and
	// README use.
	HelmRelease = "todo-app"
	// helmTimeout bounds each Helm action, as --timeout does (the CLI's
	// default is the same 5m).
	helmTimeout = 5 * time.Minute
	// helmWait is what `helm install --wait` and `helm upgrade --wait` use
	// in Helm v4 (--wait=watcher): kstatus watches until every resource is
	// current.
	helmWait = kube.StatusWatcherStrategy
)

// HelmValues are the values the lane installs with, as --set would give
// them: frontend-service is ClusterIP, since NodePort 30000 belongs to the
// todo-app lane's frontend-service on the same cluster.
func HelmValues() map[string]any {
	return map[string]any{"frontend": map[string]any{"service": map[string]any{"type": "ClusterIP", "nodePort": 0}}}
}

// Helm is one release of the chart in one namespace, and the SDK
// configuration that drives it.
type Helm struct {
	Config    *action.Configuration
	Chart     *helmchart.Chart
	Namespace string
	Release   string
	Values    map[string]any
	// CreateNamespace is --create-namespace: true for a namespace Helm
	// creates, false to install into one that exists.
	CreateNamespace bool
}

// NewHelm loads the chart in chartDir and configures the SDK for the
// release namespace ns from a kubeconfig, as the helm CLI does for
// `--kubeconfig K -n ns` with the default (secrets) storage driver. Helm's
// own log lines go to log.
func NewHelm(kubeconfig, ns, chartDir string, log io.Writer) (*Helm, error) {
	ch, err := chartloader.Load(chartDir)
	if err != nil {
		return nil, fmt.Errorf("loading the chart %s: %w", chartDir, err)
	}
	flags := genericclioptions.NewConfigFlags(false)
	flags.KubeConfig = &kubeconfig
	flags.Namespace = &ns
	cfg := action.NewConfiguration(action.ConfigurationSetLogger(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err := cfg.Init(flags, ns, "secret"); err != nil {
		return nil, fmt.Errorf("helm configuration for namespace %s: %w", ns, err)
	}
	return &Helm{Config: cfg, Chart: ch, Namespace: ns, Release: HelmRelease, Values: HelmValues(), CreateNamespace: true}, nil
}

func (h *Helm) resource() string { return "release " + h.Namespace + "/" + h.Release }

// v1Release reads the SDK's release interface as the chart v2 release it is.
func v1Release(r ri.Releaser) (*release.Release, error) {
	rel, ok := r.(*release.Release)
	if !ok || rel == nil {
		return nil, fmt.Errorf("the SDK returned %T, not a release", r)
	}
	return rel, nil
}

// Install is `helm install RELEASE CHART -n NS [--create-namespace] --wait`.
func (h *Helm) Install(ctx context.Context) (*release.Release, error) {
	in := action.NewInstall(h.Config)
	in.ReleaseName = h.Release
	in.Namespace = h.Namespace
	in.CreateNamespace = h.CreateNamespace
	in.WaitStrategy = helmWait
	in.Timeout = helmTimeout
	r, err := in.RunWithContext(ctx, h.Chart, h.Values)
	if err != nil {
		return nil, err
	}
	return v1Release(r)
}

// Test is `helm test RELEASE -n NS`: it runs the chart's test hooks and
// returns the release with their last runs.
func (h *Helm) Test(logs io.Writer) (*release.Release, error) {
	rt := action.NewReleaseTesting(h.Config)
	rt.Namespace = h.Namespace
	rt.Timeout = helmTimeout
	r, shutdown, err := rt.Run(h.Release)
	var rel *release.Release
	if r != nil {
		rel, _ = v1Release(r)
	}
	if err != nil && rel != nil && logs != nil && h.Config.RESTClientGetter != nil {
		// As `helm test --logs`: a failed test Pod is kept (its delete
		// policy is hook-succeeded), so its output can still be read.
		if lerr := rt.GetPodLogs(logs, rel); lerr != nil {
			fmt.Fprintf(logs, "helm test: the test Pods' logs could not be read: %v\n", lerr)
		}
	}
	if shutdown != nil {
		err = errors.Join(err, shutdown())
	}
	if err != nil {
		return rel, err
	}
	return rel, nil
}

// Upgrade is `helm upgrade RELEASE CHART -n NS --wait` to ch.
func (h *Helm) Upgrade(ctx context.Context, ch *helmchart.Chart) (*release.Release, error) {
	up := action.NewUpgrade(h.Config)
	up.Namespace = h.Namespace
	up.WaitStrategy = helmWait
	up.Timeout = helmTimeout
	r, err := up.RunWithContext(ctx, h.Release, ch, h.Values)
	if err != nil {
		return nil, err
	}
	return v1Release(r)
}

// Uninstall is `helm uninstall RELEASE -n NS --wait`.
func (h *Helm) Uninstall() error {
	un := action.NewUninstall(h.Config)
	un.WaitStrategy = helmWait
	un.Timeout = helmTimeout
	_, err := un.Run(h.Release)
	return err
}

// NextChartVersion is the chart as its next release: the same templates
// under a new version. The version is in the helm.sh/chart label of every
// pod template, so upgrading to it rolls both Deployments, as a real chart
// release does. Its dependencies get new versions too: a chart that wraps
// the app's chart (a selftest mutant) renders the app's pod templates with
// the dependency's version, and would otherwise upgrade without a rollout.
func NextChartVersion(ch *helmchart.Chart) *helmchart.Chart {
	next := *ch
	md := *ch.Metadata
	md.Version += "-upgrade.1"
	next.Metadata = &md
	var deps []*helmchart.Chart
	for _, d := range ch.Dependencies() {
		deps = append(deps, NextChartVersion(d))
	}
	next.SetDependencies(deps...)
	return &next
}

// HelmInstall installs the release and reports it; false when there is no
// release to go on with.
func HelmInstall(ctx context.Context, h *Helm, r *Recorder) bool {
	start := time.Now()
	rel, err := h.Install(ctx)
	took := time.Since(start)
	cmd := h.installCommand()
	if err != nil {
		r.Fail(h.resource(), "expected %s to succeed, got: %v", cmd, err)
		return false
	}
	if rel.Info == nil || rel.Info.Status != relcommon.StatusDeployed {
		r.Fail(h.resource(), "expected status %s after %s, got %s", relcommon.StatusDeployed, cmd, status(rel))
		return false
	}
	r.Measure("%s (%s): revision %d %s in %s, chart %s, %d test hook(s)",
		cmd, helmWait, rel.Version, status(rel), took.Round(100*time.Millisecond), chartName(rel), len(testHooks(rel)))
	return true
}

func (h *Helm) installCommand() string {
	if h.CreateNamespace {
		return "helm install -n " + h.Namespace + " --create-namespace --wait"
	}
	return "helm install -n " + h.Namespace + " --wait (into the existing namespace)"
}

// HelmPVName and helmStorageClass keep the second release's volume apart
// from the storage lane's (the chart's default PV name is the seed's, and
// PVs are cluster-scoped): its own PV, and a class only its claim asks for.
const (
	HelmPVName       = "todo-helm-uploads-pv"
	helmStorageClass = "todo-helm-manual"
)

// HelmPersistentValues are HelmValues with the chart's persistent uploads
// on, under the lane's own PV name and storage class.
func HelmPersistentValues() map[string]any {
	v := HelmValues()
	v["persistence"] = map[string]any{"enabled": true, "volumeName": HelmPVName, "storageClassName": helmStorageClass}
	return v
}

// HelmInstallIntoExisting is `helm install -n NS --wait` without
// --create-namespace into a namespace that exists (the lane created it), the
// other way a Helm user installs, with the chart's persistent uploads on.
// A file is written through the backend, then `helm uninstall` must leave
// the Retain PV Released with the file still on the node (RetainedAfter).
// The chart must not render the release's own Namespace for the install to
// work.
func HelmInstallIntoExisting(ctx context.Context, env Env, h *Helm, r *Recorder) {
	h.CreateNamespace = false
	h.Values = HelmPersistentValues()
	// The PV is cluster-wide and kept by design: one left by an earlier run
	// would be adopted, still claimed by a claim that is gone, and never
	// bind. The run never takes over what it did not create.
	switch _, err := env.Clientset.CoreV1().PersistentVolumes().Get(ctx, HelmPVName, metav1.GetOptions{}); {
	case err == nil:
		r.Error(report.CodeSetup, "PersistentVolume "+HelmPVName, "already exists before the release (kept by an earlier run's helm uninstall?): delete it and run again")
		return
	case !apierrors.IsNotFound(err):
		r.Error(report.CodeAPI, "PersistentVolume "+HelmPVName, "reading it before the release: %v", err)
		return
	}
	if env.CreatedPV != nil {
		env.CreatedPV(HelmPVName) // even a failed install may have created it
	}
	if !HelmInstall(ctx, h, r) {
		return
	}
	uninstall := func(context.Context) error {
		if !HelmUninstall(ctx, env, h, r) {
			return errors.New("helm uninstall failed") // reported; the PV's fate says nothing then
		}
		return nil
	}
	pod, err := backendPod(ctx, env, h.Namespace)
	if err != nil {
		r.Fail("Deployment "+h.Namespace+"/"+spec.Seed.Backend.Deployment.Name, "with the release's claim: %v", err)
		_ = uninstall(ctx)
		return
	}
	file := "helm-retained.txt"
	content := "written through release " + h.Namespace + "/" + h.Release + " before helm uninstall"
	if err := upload(ctx, env, pod, file, content); err != nil {
		reportStepError(r, "pod "+h.Namespace+"/"+pod.Name, err, "writing %s through the release's claim", file)
		_ = uninstall(ctx)
		return
	}
	r.Measure("%s written through backend pod %s on node %s (claim of PV %s)", file, pod.Name, pod.Spec.NodeName, HelmPVName)
	RetainedAfter(ctx, env, r, h.Namespace, pod.Spec.NodeName, HelmPVName, file, content, helmRetainHold, "helm uninstall", uninstall)
}

// helmRetainHold is how long the PV must stay Released after the uninstall
// (the storage lane's hold; unit tests shorten it).
var helmRetainHold = PVRetainHold

// HelmTest runs `helm test` and requires every test hook of the chart to
// have run and succeeded; a chart without tests has tested nothing.
func HelmTest(h *Helm, r *Recorder, logs io.Writer) bool {
	start := time.Now()
	rel, err := h.Test(logs)
	took := time.Since(start)
	if rel == nil {
		r.Fail(h.resource(), "helm test: no release to read the results from: %v", err)
		return false
	}
	hooks := testHooks(rel)
	if len(hooks) == 0 {
		r.Fail(h.resource(), "expected the chart to have helm test hooks (templates/tests/), it has none")
		return false
	}
	ok := err == nil
	for _, hk := range hooks {
		phase := hk.LastRun.Phase
		r.Measure("helm test %s: %s", hk.Name, phaseText(phase))
		if phase != release.HookPhaseSucceeded {
			ok = false
			r.Fail("Pod "+h.Namespace+"/"+hk.Name, "expected helm test hook to succeed, got %s", phaseText(phase))
		}
	}
	if err != nil {
		r.Fail(h.resource(), "expected helm test to succeed, got: %v", err)
	}
	if ok {
		r.Measure("helm test: %d test Pod(s) succeeded in %s", len(hooks), took.Round(100*time.Millisecond))
	}
	return ok
}

// HelmUninstall runs `helm uninstall --wait` and checks that it removed what
// the release installed: no object of the release is left in its namespace,
// and no release record.
func HelmUninstall(ctx context.Context, env Env, h *Helm, r *Recorder) bool {
	start := time.Now()
	if err := h.Uninstall(); err != nil {
		r.Fail(h.resource(), "expected helm uninstall --wait to succeed, got: %v", err)
		return false
	}
	r.Measure("helm uninstall --wait: %s", time.Since(start).Round(100*time.Millisecond))
	ok := true
	if _, err := h.Config.Releases.History(h.Release); !errors.Is(err, driver.ErrReleaseNotFound) {
		r.Fail(h.resource(), "expected no release record after uninstall, got: %v", err)
		ok = false
	}
	left, err := leftovers(ctx, env, h)
	if err != nil {
		r.Fail("namespace "+h.Namespace, "listing what the release left: %v", err)
		return false
	}
	if len(left) > 0 {
		r.Fail("namespace "+h.Namespace, "expected nothing of release %s left after uninstall, found %v", h.Release, left)
		return false
	}
	r.Measure("after uninstall: no Deployment, Service, ConfigMap, Secret or Pod of the release is left in %s", h.Namespace)
	return ok
}

// leftovers lists the objects that carry the release's instance label, once
// the pods of the deleted Deployments have gone (they drain first).
func leftovers(ctx context.Context, env Env, h *Helm) ([]string, error) {
	sel := metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + h.Release}
	cs, ns := env.Clientset, h.Namespace
	listers := []struct {
		kind string
		list func(context.Context) ([]string, error)
	}{
		{"Deployment", func(ctx context.Context) ([]string, error) {
			l, err := cs.AppsV1().Deployments(ns).List(ctx, sel)
			if err != nil {
				return nil, err
			}
			return objectNames(l.Items), nil
		}},
		{"Service", func(ctx context.Context) ([]string, error) {
			l, err := cs.CoreV1().Services(ns).List(ctx, sel)
			if err != nil {
				return nil, err
			}
			return objectNames(l.Items), nil
		}},
		{"ConfigMap", func(ctx context.Context) ([]string, error) {
			l, err := cs.CoreV1().ConfigMaps(ns).List(ctx, sel)
			if err != nil {
				return nil, err
			}
			return objectNames(l.Items), nil
		}},
		{"Secret", func(ctx context.Context) ([]string, error) {
			l, err := cs.CoreV1().Secrets(ns).List(ctx, sel)
			if err != nil {
				return nil, err
			}
			return objectNames(l.Items), nil
		}},
		{"Pod", func(ctx context.Context) ([]string, error) {
			l, err := cs.CoreV1().Pods(ns).List(ctx, sel)
			if err != nil {
				return nil, err
			}
			return objectNames(l.Items), nil
		}},
	}
	var left []string
	var lastErr error
	err := poll.Until(ctx, poll.PodGone, func(ctx context.Context) (bool, error) {
		left, lastErr = nil, nil
		for _, l := range listers {
			got, err := l.list(ctx)
			if err != nil {
				lastErr = errors.Join(lastErr, fmt.Errorf("listing %ss: %w", l.kind, err))
			}
			for _, n := range got {
				left = append(left, l.kind+" "+n)
			}
		}
		return lastErr == nil && len(left) == 0, nil
	})
	slices.Sort(left)
	switch {
	case err == nil:
		return nil, nil
	case lastErr != nil:
		return left, lastErr
	case len(left) > 0:
		return left, nil
	}
	return nil, err
}

func objectNames[T any, PT interface {
	*T
	GetName() string
}](items []T) []string {
	var out []string
	for i := range items {
		out = append(out, PT(&items[i]).GetName())
	}
	return out
}

// HelmUpgradeUnderTraffic upgrades the release to the chart's next version
// while a probe Job sends requests through each Service, and holds every
// Deployment to the seed's rolling-update invariant (zero unavailable) on
// every pod event of the upgrade.
func HelmUpgradeUnderTraffic(ctx context.Context, env Env, h *Helm, r *Recorder, probeImage string) {
	cs := env.Clientset
	var jobs []live.ProbeJob
	for _, w := range Workloads() {
		svc := w.Service
		url := fmt.Sprintf("http://%s:%d%s", svc.Name, svc.Port, spec.HealthPath)
		j := live.ProbeJob{
			Namespace: h.Namespace, Name: "helm-traffic-" + w.Deployment.Name, Image: probeImage,
			Args: []string{"load", "-duration", poll.Rollout.Timeout.String(), "-interval", "50ms",
				"-timeout", "2s", "-until-replaced", "3s", url},
			Interval: poll.Rollout,
		}
		if err := j.Start(ctx, cs); err != nil {
			r.Fail("Job "+h.Namespace+"/"+j.Name, "the traffic during the upgrade could not start: %v", err)
			return
		}
		jobs = append(jobs, j)
	}

	// One upgrade rolls both Deployments: each watch calls the trigger once
	// its pod watch has synced, and the upgrade runs when both have.
	next := NextChartVersion(h.Chart)
	var (
		upRel  *release.Release
		upErr  error
		upTook time.Duration
	)
	watches := WatchTogether(ctx, cs, h.Namespace, Workloads(), func(w spec.Workload) live.Invariant { return InvariantOf(w, w.Deployment.Replicas) }, func() error {
		start := time.Now()
		upRel, upErr = h.Upgrade(ctx, next)
		upTook = time.Since(start)
		return upErr
	})
	for _, wt := range watches {
		w, obs, err := wt.Workload, wt.Obs, wt.Err
		name := w.Deployment.Name
		r.Measure("%s during helm upgrade: %s", name, obs)
		res := "Deployment " + h.Namespace + "/" + name
		if err != nil {
			r.Fail(res, "the upgrade's rolling update did not complete: %v", err)
		}
		for _, v := range obs.Violations {
			r.Fail(res, "invariant broken during helm upgrade (spec: maxUnavailable %d, maxSurge %d): %s", w.Deployment.MaxUnavailable, w.Deployment.MaxSurge, v)
		}
		if len(obs.NewPods) == 0 && err == nil {
			r.Fail(res, "expected the upgrade to replace the pods (the pod template's helm.sh/chart label changed), saw no new pod")
		}
	}
	if upErr != nil {
		r.Fail(h.resource(), "expected helm upgrade --wait to the chart's next version to succeed, got: %v", upErr)
	}
	if upErr == nil && upRel != nil {
		r.Measure("helm upgrade --wait to chart %s: revision %d %s in %s", chartName(upRel), upRel.Version, status(upRel), upTook.Round(100*time.Millisecond))
		if upRel.Info == nil || upRel.Info.Status != relcommon.StatusDeployed {
			r.Fail(h.resource(), "expected status %s after upgrade, got %s", relcommon.StatusDeployed, status(upRel))
		}
	}

	for i, j := range jobs {
		via := Workloads()[i].Service.Name + " (in-cluster Job during helm upgrade)"
		if s, ok := loadSummary(ctx, cs, r, j); ok {
			judgeTraffic(r, via, s)
		}
	}
}

// loadSummary waits for a probe Job's load to end and reads its summary (its
// last JSON line). A Job that gave none measured nothing: an ERROR, never a
// pass and never a broken promise.
func loadSummary(ctx context.Context, cs kubernetes.Interface, r *Recorder, j live.ProbeJob) (traffic.Summary, bool) {
	var s traffic.Summary
	res := "Job " + j.Namespace + "/" + j.Name
	lines, _, err := j.Finish(ctx, cs)
	switch {
	case err != nil:
		r.Error(report.CodeNoMeasurement, res, "no load summary: %v", err)
		return s, false
	case len(lines) == 0:
		r.Error(report.CodeNoMeasurement, res, "no load summary: the job printed no JSON line")
		return s, false
	}
	if err := json.Unmarshal(lines[len(lines)-1], &s); err != nil {
		r.Error(report.CodeNoMeasurement, res, "unreadable load summary: %v", err)
		return s, false
	}
	return s, true
}

// judgeTraffic holds a load summary to zero failures across the rollout.
func judgeTraffic(r *Recorder, via string, s traffic.Summary) {
	r.Measure("%s: %d sent, %d failed, %d pods answered %v, p50 %.1fms p99 %.1fms, %s", via, s.Sent, s.Failed, len(s.Pods), s.Pods, s.P50Ms, s.P99Ms, s.Duration)
	if s.Sent == 0 {
		r.Fail(via, "expected requests during the upgrade, none was sent")
	}
	if s.Failed > 0 {
		r.Fail(via, "expected zero failed requests during the upgrade, got %d of %d: %v", s.Failed, s.Sent, s.Errors)
	}
	if !s.Replaced || len(s.Pods) < 2 {
		r.Fail(via, "expected the traffic to span the upgrade (old and new pods answering), saw pods %v, replaced=%v", s.Pods, s.Replaced)
	}
}

// HelmNamespaceAbsent refuses to install into a namespace that exists: the
// run never adopts what it did not create (Helm's --create-namespace would
// silently use it).
func HelmNamespaceAbsent(ctx context.Context, env Env, ns string) error {
	_, err := env.Clientset.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	switch {
	case err == nil:
		return fmt.Errorf("namespace %s already exists: the run creates its namespaces fresh (a leftover of an earlier run? delete it)", ns)
	case apierrors.IsNotFound(err):
		return nil
	}
	return fmt.Errorf("reading namespace %s: %w", ns, err)
}

func testHooks(rel *release.Release) []*release.Hook {
	var out []*release.Hook
	for _, h := range rel.Hooks {
		if slices.Contains(h.Events, release.HookTest) {
			out = append(out, h)
		}
	}
	return out
}

func status(rel *release.Release) string {
	if rel == nil || rel.Info == nil {
		return "no status"
	}
	return rel.Info.Status.String()
}

func chartName(rel *release.Release) string {
	if rel.Chart == nil || rel.Chart.Metadata == nil {
		return "(unknown chart)"
	}
	return rel.Chart.Metadata.Name + "-" + rel.Chart.Metadata.Version
}

func phaseText(p release.HookPhase) string {
	if p == "" {
		return "never run"
	}
	return string(p)
}

// MarkNamespace labels the namespace Helm created as the run's own, as the
// namespaces the run creates itself are, so that a later run on an existing
// cluster recognises a leftover of this one.
func MarkNamespace(ctx context.Context, env Env, ns string) error {
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, live.ManagedLabel, live.FieldOwner)
	if _, err := env.Clientset.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("labelling namespace %s as the run's: %w", ns, err)
	}
	return nil
}

// HelmDemand is what the release requests at most: both Deployments at the
// seed's replicas, each with its surge pod during the upgrade.
func HelmDemand() []live.Demand {
	var out []live.Demand
	for _, w := range Workloads() {
		out = append(out, Demand(w, int(w.Deployment.Replicas+w.Deployment.MaxSurge), w.Deployment.Name+" (helm release + surge)"))
	}
	return out
}

// HelmRoom waits until the cluster can hold the lane's releases (each
// with its surge pods) beside the other lanes; false (a failure) when room
// never came.
func HelmRoom(ctx context.Context, env Env, r *Recorder, releases int) bool {
	var demand []live.Demand
	for range releases {
		demand = append(demand, HelmDemand()...)
	}
	msg, err := WaitForRoom(ctx, env.Clientset, demand, poll.Rollout)
	if err != nil {
		r.Fail("cluster", "no room for the helm release: %v", err)
		return false
	}
	r.Measure("%s", msg)
	return true
}
