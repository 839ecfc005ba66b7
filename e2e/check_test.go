//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/puretasks/k8s-conformance/internal/evidence"
	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/spec"
)

// check begins the feature of one catalogue ID: its row in the report opens
// with the feature and closes with its verdict; a failure leaves evidence in
// $ARTIFACTS/<ID>/.
func check(id, title string) *features.FeatureBuilder {
	return features.New(id+" "+title).
		WithLabel("id", id).
		WithSetup("start", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			suite.Report.Start(id)
			return ctx
		}).
		WithTeardown("verdict", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			switch {
			case t.Failed():
				suite.Report.End(id, "FAIL")
				collectEvidence(ctx, t, id)
			case t.Skipped():
				suite.Report.End(id, "SKIP")
			default:
				suite.Report.End(id, "PASS")
			}
			return ctx
		})
}

func collectEvidence(ctx context.Context, t *testing.T, id string) {
	if suite.Clientset == nil {
		return
	}
	dir := filepath.Join(suite.Artifacts, id)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := evidence.Collect(cctx, suite.Clientset, dir, spec.Namespace, "kube-system"); err != nil {
		t.Logf("%s: evidence collection incomplete: %v", id, err)
	}
	t.Logf("%s: evidence in %s", id, dir)
}

// measure logs a measurement and records it in the report row.
func measure(t *testing.T, id, format string, a ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, a...)
	t.Logf("%s: %s", id, msg)
	suite.Report.Measure(id, "%s", msg)
}

// failf fails with the catalogue ID, the resource and what was expected and seen.
func failf(t *testing.T, id, resource, format string, a ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, a...)
	t.Errorf("%s %s: %s", id, resource, msg)
	suite.Report.Measure(id, "MISS %s: %s", resource, msg)
}

// recorder takes a check's measurements and misses: a running test, or the
// outcome of a lane that runs in the background.
type recorder interface {
	measure(format string, a ...any)
	fail(resource, format string, a ...any)
}

// testRecorder reports straight into the running check.
type testRecorder struct {
	t  *testing.T
	id string
}

func (r testRecorder) measure(format string, a ...any) {
	r.t.Helper()
	measure(r.t, r.id, format, a...)
}
func (r testRecorder) fail(resource, format string, a ...any) {
	r.t.Helper()
	failf(r.t, r.id, resource, format, a...)
}

// applied is set once L-APPLY has put the default set into the cluster.
var appliedAt time.Time

// requireApplied stops a check that cannot run without the manifests.
func requireApplied(t *testing.T, id string) {
	t.Helper()
	if appliedAt.IsZero() {
		t.Fatalf("%s not run: the manifests were not applied (see L-APPLY)", id)
	}
}

// availableAfter records, the first time each Deployment is seen complete,
// how long after the apply that was (reported by L-ROLLOUT).
var availableAfter sync.Map

// requireAvailable waits for both Deployments to be complete, failing the
// calling check (not L-ROLLOUT) if they are not.
func requireAvailable(ctx context.Context, t *testing.T, id string) {
	t.Helper()
	requireApplied(t, id)
	var errs []string
	for _, w := range []spec.Workload{spec.Seed.Backend, spec.Seed.Frontend} {
		if _, err := live.WaitDeployment(ctx, suite.Clientset, spec.Namespace, w.Deployment.Name, poll.DeploymentAvailable); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if _, seen := availableAfter.LoadOrStore(w.Deployment.Name, time.Since(appliedAt)); !seen && w.Deployment.Name == spec.Seed.Frontend.Deployment.Name {
			suite.Report.Phase("apply -> Available", time.Since(appliedAt), 0)
		}
	}
	if len(errs) > 0 {
		t.Fatalf("%s not run: Deployments not available: %s", id, strings.Join(errs, "; "))
	}
}
