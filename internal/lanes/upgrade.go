package lanes

// L-UPGRADE: a manifest change judged as a change. The previous revision of
// the manifests (a git ref, read from git without touching the work tree) is
// applied and serving; then the manifests under test are applied over it,
// as `kubectl apply --server-side` of a new release does, while requests
// flow through both Services. Across the change every Deployment keeps the
// seed's rolling-update invariant and no request fails; the todo-app lane's
// other checks then run on what the upgrade left.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/objdiff"
	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/report"
	"github.com/puretasks/k8s-conformance/internal/revision"
	"github.com/puretasks/k8s-conformance/internal/spec"
	"github.com/puretasks/k8s-conformance/internal/staticcheck"
	"github.com/puretasks/k8s-conformance/internal/traffic"
)

// UpgradeFromEnv names the git ref of the previous revision
// (`make conformance UPGRADE_FROM=<ref>` sets it).
const UpgradeFromEnv = "E2E_UPGRADE_FROM"

const (
	// quietTraffic is how long requests flow through a Service whose pods
	// the change does not replace: long enough to span the apply and the
	// Endpoints it moves, short beside a rollout.
	quietTraffic = 30 * time.Second
	// maxChangeLines bounds the report's list of changed fields; the rest
	// is counted.
	maxChangeLines = 60
)

// UpgradePlan is the previous revision and what changes from it to the
// manifests under test.
type UpgradePlan struct {
	Ref    string // as given
	Commit string // what it resolved to
	// From is the previous revision's default set, as the loader read it.
	From *manifests.Set
	// Changes are the differences, object by object and field by field
	// (a Secret's values never shown).
	Changes []objdiff.Change
	// Rolls names the Deployments whose pod template changes: the ones
	// the upgrade replaces pods of.
	Rolls map[string]bool
}

// PlanUpgrade reads the manifests in dir as they were at ref and compares
// them with the ones in dir now. The old revision is read exactly as the
// current one (the same loader, the same profile); a ref that names no
// commit, and manifests that did not exist or do not load at that ref, are
// errors of one line.
func PlanUpgrade(ctx context.Context, dir, ref string) (*UpgradePlan, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil, fmt.Errorf("%s is empty: name the git ref of the previous revision", UpgradeFromEnv)
	}
	tree, err := revision.Extract(ctx, dir, ref)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tree.Remove() }()
	old, err := defaultSet(tree.Dir)
	if err != nil {
		return nil, fmt.Errorf("the manifests at %s (%s): %w", ref, shortCommit(tree.Commit), err)
	}
	cur, err := defaultSet(dir)
	if err != nil {
		return nil, fmt.Errorf("the manifests under test: %w", err)
	}
	changes, err := objdiff.Diff(old.Objects, cur.Objects, staticcheck.Redact)
	if err != nil {
		return nil, err
	}
	return &UpgradePlan{Ref: ref, Commit: tree.Commit, From: old, Changes: changes, Rolls: templateChanges(old, cur)}, nil
}

func defaultSet(dir string) (*manifests.Set, error) {
	sets, err := manifests.Discover(dir)
	if err != nil {
		return nil, err
	}
	for _, p := range sets {
		if p.Profile == manifests.Default {
			return p.Set, nil
		}
	}
	return nil, fmt.Errorf("%s holds no default set", dir)
}

// templateChanges names the seed's Deployments whose pod template differs
// as the run applies them (live.Deployable): a template change is what
// makes the Deployment controller replace pods.
func templateChanges(old, cur *manifests.Set) map[string]bool {
	out := map[string]bool{}
	for _, w := range Workloads() {
		name := w.Deployment.Name
		o, n := deploymentIn(live.Deployable(old, nil), name), deploymentIn(live.Deployable(cur, nil), name)
		if o != nil && n != nil && !equality.Semantic.DeepEqual(o.Spec.Template, n.Spec.Template) {
			out[name] = true
		}
	}
	return out
}

func deploymentIn(objs []client.Object, name string) *appsv1.Deployment {
	for _, o := range objs {
		if d, ok := o.(*appsv1.Deployment); ok && d.Name == name && d.Namespace == spec.Namespace {
			return d
		}
	}
	return nil
}

func serviceIn(objs []client.Object, name string) *corev1.Service {
	for _, o := range objs {
		if s, ok := o.(*corev1.Service); ok && s.Name == name && s.Namespace == spec.Namespace {
			return s
		}
	}
	return nil
}

func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// Unchanged reports that the manifests did not change between the revisions.
func (p *UpgradePlan) Unchanged() bool { return len(p.Changes) == 0 }

// Summary is the plan in one line.
func (p *UpgradePlan) Summary() string {
	from := fmt.Sprintf("%s (%s)", p.Ref, shortCommit(p.Commit))
	if p.Unchanged() {
		return "the manifests did not change between " + from + " and the manifests under test: the upgrade is an apply that must change nothing (no pod replaced, no request failed)"
	}
	objs := map[string]bool{}
	for _, c := range p.Changes {
		objs[c.Object.String()] = true
	}
	var rolls []string
	for _, w := range Workloads() {
		if p.Rolls[w.Deployment.Name] {
			rolls = append(rolls, w.Deployment.Name)
		}
	}
	roll := "no pod template changes (no rollout expected)"
	if len(rolls) > 0 {
		roll = "the pod template of " + strings.Join(rolls, " and ") + " changes (a rollout expected)"
	}
	return fmt.Sprintf("upgrade from %s: %d change(s) in %d object(s); %s", from, len(p.Changes), len(objs), roll)
}

// UpgradeInvariant is what the seed's rolling update promises across a
// change of replicas from old to cur: ready pods never below the smaller
// count (less maxUnavailable, 0 in the seed), pods never above the larger
// plus maxSurge.
func UpgradeInvariant(w spec.Workload, old, cur int32) live.Invariant {
	d := w.Deployment
	return live.Invariant{Desired: min(old, cur) - d.MaxUnavailable, MaxPods: max(old, cur) + d.MaxSurge, Selector: d.Selector}
}

func replicasOf(d *appsv1.Deployment) int32 {
	if d == nil || d.Spec.Replicas == nil {
		return 1 // the API server's default
	}
	return *d.Spec.Replicas
}

// Upgraded is the apply of the manifests under test over the previous
// revision: what the todo-app lane's L-APPLY judges.
type Upgraded struct {
	Apply live.ApplyResult
	At    time.Time
	Took  time.Duration
}

// UpgradeOps are the run's server operations the upgrade needs (live's in a
// run; fakes in unit tests).
type UpgradeOps struct {
	// Apply is the run's server-side apply (live.ApplySet).
	Apply func(context.Context, []client.Object) live.ApplyResult
	// TemplateChanges says whether applying d changes the live
	// Deployment's pod template as the API server stores it
	// (live.TemplateChanges): what decides that pods are replaced.
	TemplateChanges func(context.Context, *appsv1.Deployment) (bool, error)
	// Prune deletes what the new revision no longer has (live.Prune).
	Prune func(context.Context, []client.Object) error
}

// settleAfterApply is how long after the apply the quiet traffic must go
// on: Endpoints and kube-proxy rules follow a Service change within it.
const settleAfterApply = 5 * time.Second

// UpgradeUnderTraffic applies the previous revision (old), waits until it
// serves, then applies the manifests under test (cur) over it while a probe
// Job sends requests through each Service the previous revision declares,
// prunes what cur no longer has, and judges the change: the invariant on
// every pod event, zero failed requests, pods replaced exactly where the
// API server's pod template changes. It returns the new revision's apply,
// nil when it never ran (the previous revision could not be brought up: an
// ERROR).
func UpgradeUnderTraffic(ctx context.Context, env Env, r *Recorder, p *UpgradePlan, old, cur []client.Object, ops UpgradeOps, probeImage string) *Upgraded {
	ns := spec.Namespace
	from := fmt.Sprintf("revision %s (%s)", p.Ref, shortCommit(p.Commit))
	r.Measure("%s", p.Summary())
	for i, c := range p.Changes {
		if i == maxChangeLines {
			r.Measure("changed: ... and %d more", len(p.Changes)-i)
			break
		}
		r.Measure("changed: %s", c)
	}

	start := time.Now()
	if res := ops.Apply(ctx, old); res.Err() != nil {
		r.Error(report.CodeSetup, from, "the previous revision did not apply, so the change cannot be judged: %v", res.Err())
		return nil
	}
	for _, w := range Workloads() {
		if _, err := live.WaitDeployment(ctx, env.Clientset, ns, w.Deployment.Name, poll.DeploymentAvailable); err != nil {
			r.Error(report.CodeSetup, from, "the previous revision did not serve (Deployment %s not Available), so the change cannot be judged: %v", w.Deployment.Name, err)
			return nil
		}
	}
	r.Measure("%s applied (%d objects) and Available in %s", from, len(old), time.Since(start).Round(100*time.Millisecond))

	// Which Deployments roll is the API server's answer, not the text's.
	rolls := map[string]bool{}
	for _, w := range Workloads() {
		name := w.Deployment.Name
		d := deploymentIn(cur, name)
		if d == nil {
			continue // removed by the new revision: pruned, not rolled
		}
		changes, err := ops.TemplateChanges(ctx, d)
		if err != nil {
			r.Error(report.CodeAPI, "Deployment "+ns+"/"+name, "could not tell whether the new revision replaces its pods: %v", err)
			return nil
		}
		rolls[name] = changes
		if changes != p.Rolls[name] {
			r.Measure("%s: the manifests' pod template %s, the API server's %s (it decides)", name, changedText(p.Rolls[name]), changedText(changes))
		}
	}

	trafficFrom := time.Now()
	jobs, ok := startUpgradeTraffic(ctx, env, r, rolls, old, probeImage)
	if !ok {
		return nil
	}

	var up Upgraded
	replicas := func(name string) (int32, int32) {
		return replicasOf(deploymentIn(old, name)), replicasOf(deploymentIn(cur, name))
	}
	watches := WatchTogether(ctx, env.Clientset, ns, Workloads(), func(w spec.Workload) live.Invariant {
		oldN, curN := replicas(w.Deployment.Name)
		return UpgradeInvariant(w, oldN, curN)
	}, func() error {
		up.At = time.Now()
		up.Apply = ops.Apply(ctx, cur)
		up.Took = time.Since(up.At)
		return up.Apply.Err()
	})
	for _, wt := range watches {
		oldN, curN := replicas(wt.Workload.Deployment.Name)
		judgeUpgradeRollout(r, wt.Workload, wt.Invariant, rolls[wt.Workload.Deployment.Name], max(0, curN-oldN), wt.Obs, wt.Err)
	}
	if err := up.Apply.Err(); err != nil {
		r.Fail("manifests under test", "expected them to apply over %s (as `kubectl apply --server-side` of the new release), got: %v", from, err)
	} else if !up.At.IsZero() {
		r.Measure("applied over %s: %d objects in %s", from, len(up.Apply.Applied), up.Took.Round(time.Millisecond))
		if removed := removedIn(old, cur); len(removed) > 0 {
			if err := ops.Prune(ctx, removed); err != nil {
				r.Error(report.CodeAPI, "manifests under test", "pruning what the new revision no longer has: %v", err)
			} else {
				var names []string
				for _, o := range removed {
					names = append(names, manifests.KeyOf(o).String())
				}
				r.Measure("pruned (not in the new revision, as apply --prune or a GitOps prune removes them): %s", strings.Join(names, ", "))
			}
		}
	}

	for _, j := range jobs {
		s, ok := loadSummary(ctx, env.Clientset, r, j.job)
		if !ok {
			continue
		}
		JudgeUpgradeTraffic(r, j.via, j.rolls, s)
		// Quiet traffic runs a fixed time from its start, which was after
		// trafficFrom: it ended no earlier than trafficFrom+quietTraffic.
		if !j.rolls && !up.At.IsZero() {
			if settled := up.At.Add(up.Took + settleAfterApply); trafficFrom.Add(quietTraffic).Before(settled) {
				r.Error(report.CodeNoMeasurement, j.via, "the requests may have ended before the change settled (they were sure to run until %s, the apply ended at %s plus %s to settle): the change was not measured",
					trafficFrom.Add(quietTraffic).Format(time.TimeOnly), up.At.Add(up.Took).Format(time.TimeOnly), settleAfterApply)
			}
		}
	}
	if up.At.IsZero() {
		return nil
	}
	return &up
}

func changedText(changed bool) string {
	if changed {
		return "changes"
	}
	return "does not change"
}

// removedIn are the objects of old that cur no longer has.
func removedIn(old, cur []client.Object) []client.Object {
	have := map[manifests.Key]bool{}
	for _, o := range cur {
		have[manifests.KeyOf(o)] = true
	}
	var out []client.Object
	for _, o := range old {
		if !have[manifests.KeyOf(o)] {
			out = append(out, o)
		}
	}
	return out
}

type upgradeTraffic struct {
	job   live.ProbeJob
	via   string
	rolls bool
}

// servicePort is the port of the Service its clients use: the one named
// http, else the first.
func servicePort(svc *corev1.Service) int32 {
	for _, p := range svc.Spec.Ports {
		if p.Name == "http" {
			return p.Port
		}
	}
	return svc.Spec.Ports[0].Port
}

// startUpgradeTraffic starts one probe Job per Service of the seed, all at
// once, aimed at the Service as the previous revision declares it (its
// clients were configured for that revision): a Service port that moves
// breaks them, as it would in production.
func startUpgradeTraffic(ctx context.Context, env Env, r *Recorder, rolls map[string]bool, old []client.Object, probeImage string) ([]upgradeTraffic, bool) {
	ns := spec.Namespace
	var out []upgradeTraffic
	for _, w := range Workloads() {
		svc := serviceIn(old, w.Service.Name)
		if svc == nil || len(svc.Spec.Ports) == 0 {
			r.Error(report.CodeSetup, "Service "+ns+"/"+w.Service.Name, "the previous revision declares no such Service with a port: there is nothing to send the upgrade's traffic through")
			return nil, false
		}
		url := fmt.Sprintf("http://%s:%d%s", svc.Name, servicePort(svc), spec.HealthPath)
		rolling := rolls[w.Deployment.Name]
		args := []string{"load", "-interval", "50ms", "-timeout", "2s"}
		if rolling {
			args = append(args, "-duration", poll.Rollout.Timeout.String(), "-until-replaced", "3s", url)
		} else {
			args = append(args, "-duration", quietTraffic.String(), url)
		}
		j := live.ProbeJob{Namespace: ns, Name: "upgrade-traffic-" + w.Deployment.Name, Image: probeImage, Args: args, Interval: poll.Rollout}
		out = append(out, upgradeTraffic{job: j, via: url + " (in-cluster Job across the upgrade)", rolls: rolling})
	}
	errs := make([]error, len(out))
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() { errs[i] = out[i].job.Start(ctx, env.Clientset) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		r.Error(report.CodeSetup, "namespace "+ns, "the traffic across the upgrade could not start: %v", err)
		for i, t := range out {
			if errs[i] == nil {
				_, _, _ = t.job.Finish(ctx, env.Clientset)
			}
		}
		return nil, false
	}
	return out, true
}

// judgeUpgradeRollout holds one Deployment's pod events across the change
// to the invariant, and a template change to a rollout that replaced pods.
// Without a template change only a replica increase adds pods (grown).
func judgeUpgradeRollout(r *Recorder, w spec.Workload, inv live.Invariant, rolls bool, grown int32, obs live.RolloutObservation, err error) {
	name := w.Deployment.Name
	res := "Deployment " + spec.Namespace + "/" + name
	r.Measure("%s across the upgrade: %s", name, obs)
	var few live.ErrTooFewEvents
	switch {
	case errors.As(err, &few) && !rolls:
		// No template change: no rollout, no events, as expected.
	case errors.As(err, &few):
		r.Error(report.CodeAPI, res, "the upgrade's rolling update was not observed: %v", err)
	case err != nil:
		r.Fail(res, "expected the Deployment to complete its update across the upgrade, got: %v", err)
	}
	for _, v := range obs.Violations {
		r.Fail(res, "invariant broken across the upgrade (ready >= %d, pods <= %d; spec: maxUnavailable %d, maxSurge %d): %s",
			inv.Desired, inv.MaxPods, w.Deployment.MaxUnavailable, w.Deployment.MaxSurge, v)
	}
	if rolls && err == nil && len(obs.NewPods) == 0 {
		r.Fail(res, "expected the upgrade to replace the pods (its pod template changes), saw no new pod")
	}
	if !rolls && int32(len(obs.NewPods)) > grown {
		r.Fail(res, "expected no pod replaced (the pod template does not change; %d new for the added replicas at most), saw new pods %v", grown, obs.NewPods)
	}
}

// JudgeUpgradeTraffic holds the requests sent through one Service across
// the change to zero failures; when the change replaces the Service's pods,
// the traffic must have spanned it (old and new pods answered).
func JudgeUpgradeTraffic(r *Recorder, via string, rolls bool, s traffic.Summary) {
	r.Measure("%s: %d sent, %d failed, %d pods answered %v, p50 %.1fms p99 %.1fms, %s", via, s.Sent, s.Failed, len(s.Pods), s.Pods, s.P50Ms, s.P99Ms, s.Duration)
	if s.Sent == 0 {
		r.Error(report.CodeNoMeasurement, via, "expected requests across the upgrade, none was sent")
		return
	}
	if s.Failed > 0 {
		r.Fail(via, "expected zero failed requests across the upgrade, got %d of %d: %v", s.Failed, s.Sent, s.Errors)
	}
	if rolls && (!s.Replaced || len(s.Pods) < 2) {
		r.Fail(via, "expected the traffic to span the rollout (old and new pods answering), saw pods %v, replaced=%v", s.Pods, s.Replaced)
	}
}
