//go:build e2e

package e2e

import (
	"context"
	"testing"

	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/puretasks/k8s-conformance/internal/lanes"
	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/report"
)

// TestScaleCopy is the scale lane: a copy of the app in its own namespace,
// scaled to the seed's maxima (L-SCALE), then load-balanced across (L-LB).
// Either check selected alone deploys the copy itself.
func TestScaleCopy(t *testing.T) {
	t.Parallel()
	testenv.Test(t, laneChecks(t)...)
}

// scaleCopy deploys the copy once per lane, for whichever check needs it first.
func scaleCopy(ctx context.Context, t *testing.T) (*live.Check, lanes.Env) {
	t.Helper()
	c := checkOf(ctx, t)
	env := laneEnv(c.Suite)
	_, err := live.Require(ctx, c.Lane, "scale copy deployed", func(ctx context.Context) (bool, error) {
		if err := c.Lane.Namespace(ctx, lanes.ScaleNamespace, nil); err != nil {
			return false, err
		}
		return true, lanes.DeployCopy(ctx, env, lanes.ScaleNamespace)
	})
	if err != nil {
		c.Abort(t, report.CodeSetup, "namespace "+lanes.ScaleNamespace, "not run: %v", err)
	}
	return c, env
}

func scaleFeature() features.Feature {
	const id = "L-SCALE"
	return check(id, "backend scales to 3 and frontend to 2 with every pod Ready; a rolling update at those sizes keeps the L-ROLLOUT invariant").
		Assess("both copies at the seed's maxima, then rolled", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			c, env := scaleCopy(ctx, t)
			r := lanes.NewRecorder(t, id, c, nil)
			lanes.Scale(ctx, env, r, lanes.ScaleNamespace)
			r.RequireOutcome("namespace " + lanes.ScaleNamespace)
			return ctx
		}).
		Feature()
}

func lbFeature() features.Feature {
	const id = "L-LB"
	return check(id, "with 3 backend replicas, requests through backend-service reach every replica").
		NeedsClusterDNS().
		Assess("300 requests from inside the cluster reach every replica", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			c, env := scaleCopy(ctx, t)
			r := lanes.NewRecorder(t, id, c, nil)
			lanes.LoadSpread(ctx, env, r, lanes.ScaleNamespace)
			r.RequireOutcome("namespace " + lanes.ScaleNamespace)
			return ctx
		}).
		Feature()
}
