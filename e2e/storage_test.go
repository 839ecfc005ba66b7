//go:build e2e

package e2e

import (
	"context"
	"testing"

	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/puretasks/k8s-conformance/internal/lanes"
	"github.com/puretasks/k8s-conformance/internal/report"
)

// TestStorageCopy is the storage lane: L-PVC on a copy of the backend in
// its own namespace, beside the other lanes.
func TestStorageCopy(t *testing.T) {
	t.Parallel()
	testenv.Test(t, laneChecks(t)...)
}

type appliedPVKey struct{}

func pvcFeature() features.Feature {
	const id = "L-PVC"
	return check(id, "PV and PVC bind; the backend mounts the claim; data survives pod deletion with the claim, not with emptyDir; after the claim goes the PV stays Released (Retain) and the data stays on the node").
		Assess("emptyDir, then the claim, then the claim deleted", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			c := checkOf(ctx, t)
			if err := c.Namespace(ctx, lanes.PVCNamespace, nil); err != nil {
				c.Abort(t, report.CodeSetup, "namespace "+lanes.PVCNamespace, "not run: %v", err)
			}
			r := lanes.NewRecorder(t, id, c, nil)
			applied := lanes.Storage(ctx, laneEnv(c.Suite), r, lanes.PVCNamespace)
			r.RequireOutcome("namespace " + lanes.PVCNamespace)
			return context.WithValue(ctx, appliedPVKey{}, applied)
		}).
		// After "end" (the evidence holds the PV as it was): retained
		// volumes are removed by hand; the verdict waits for this too.
		WithTeardown("remove the retained PV", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			if applied, _ := ctx.Value(appliedPVKey{}).(bool); applied {
				c := checkOf(ctx, t)
				if err := lanes.CleanupPV(ctx, laneEnv(c.Suite)); err != nil {
					c.Error(t, report.CodeTeardown, "PersistentVolume", "teardown: %v", err)
				}
			}
			return ctx
		}).
		Feature()
}
