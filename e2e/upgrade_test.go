//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/puretasks/k8s-conformance/internal/lanes"
	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/report"
	"github.com/puretasks/k8s-conformance/internal/spec"
)

const upgradeID = "L-UPGRADE"

// upgradePlan is the previous revision when E2E_UPGRADE_FROM names one
// (planned in TestMain, before anything exists); nil otherwise. With a
// plan, the todo-app lane reaches its app through the upgrade: L-UPGRADE
// runs first and every later check of the lane judges what it left.
var upgradePlan *lanes.UpgradePlan

// planUpgrade reads E2E_UPGRADE_FROM and holds the selection to it: the
// ref must name a commit whose manifests load, and L-UPGRADE is selected
// exactly when a ref is given.
func planUpgrade(ctx context.Context, selected bool) (*lanes.UpgradePlan, error) {
	ref, set := os.LookupEnv(lanes.UpgradeFromEnv)
	switch {
	case !set || ref == "":
		if selected {
			return nil, fmt.Errorf("%s is selected but %s is not set: name the previous revision (make conformance UPGRADE_FROM=<git ref>)", upgradeID, lanes.UpgradeFromEnv)
		}
		return nil, nil
	case !selected:
		return nil, fmt.Errorf("%s=%s is set but the selection leaves out %s: add it (CHECKS=...,%s) or unset %s", lanes.UpgradeFromEnv, ref, upgradeID, upgradeID, lanes.UpgradeFromEnv)
	}
	dir, err := manifests.ResolveDir()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	p, err := lanes.PlanUpgrade(ctx, dir, ref)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", upgradeID, err)
	}
	return p, nil
}

func upgradeFeature() features.Feature {
	return check(upgradeID, "the previous revision (E2E_UPGRADE_FROM) applied and serving, then the manifests under test applied over it while requests flow through both Services: ready pods never below desired, pods never above desired + maxSurge, zero failed requests; the changes listed field by field").
		NeedsClusterDNS().
		Assess("previous revision serving, then the manifests under test applied over it under traffic", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			c := checkOf(ctx, t)
			if upgradePlan == nil {
				c.Abort(t, report.CodeSetup, lanes.UpgradeFromEnv, "not run: no previous revision was planned (%s is not set)", lanes.UpgradeFromEnv)
			}
			r := lanes.NewRecorder(t, upgradeID, c, nil)
			// A new revision that did not apply is judged (a FAIL) by the
			// upgrade itself; only an upgrade that never ran is more.
			if a, err := upgradeApp(ctx, r); a == nil && err != nil {
				r.Error(report.CodeSetup, "namespace "+spec.Namespace, "the upgrade did not run: %v", err)
			}
			r.RequireOutcome("namespace " + spec.Namespace)
			return ctx
		}).
		Feature()
}

// upgradeApp is the todo-app lane's apply when a previous revision is
// planned: the previous revision, then the manifests under test over it,
// judged through r. Whichever asks first does it; with L-UPGRADE first in
// the lane, that is always L-UPGRADE.
func upgradeApp(ctx context.Context, r *lanes.Recorder) (*appApplied, error) {
	l := live.LaneFrom(ctx)
	return live.Require(ctx, l, reqApplied, func(ctx context.Context) (*appApplied, error) {
		if r == nil {
			return nil, fmt.Errorf("the app is applied by %s (a previous revision is planned), which did not run", upgradeID)
		}
		s := l.Suite
		cur := objectsOf(s, manifests.Default)
		old := live.Deployable(upgradePlan.From, s.FakeSecret)
		// Whatever gets in is the lane's to remove, even after a failure.
		l.Own(spec.Namespace)
		ops := lanes.UpgradeOps{
			Apply: func(ctx context.Context, objs []client.Object) live.ApplyResult {
				return live.ApplySet(ctx, s.Client, objs)
			},
			TemplateChanges: func(ctx context.Context, d *appsv1.Deployment) (bool, error) {
				return live.TemplateChanges(ctx, s.Clientset, d)
			},
			Prune: func(ctx context.Context, objs []client.Object) error { return live.Prune(ctx, s.Client, objs) },
		}
		start := time.Now()
		up := lanes.UpgradeUnderTraffic(ctx, laneEnv(s), r, upgradePlan, old, cur, ops, spec.Seed.Backend.Deployment.Container.Image)
		s.Report.Phase("upgrade (previous revision, then this one under traffic)", time.Since(start))
		if up == nil {
			return nil, fmt.Errorf("the manifests under test were not applied: the previous revision could not be brought up")
		}
		a := &appApplied{result: up.Apply, objs: len(cur), at: up.At, took: up.Took}
		return a, up.Apply.Err()
	})
}
