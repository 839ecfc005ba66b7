//go:build e2e

package e2e

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/puretasks/k8s-conformance/internal/lanes"
	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/spec"
)

// TestHelmChart is the Helm lane: the app's chart installed, tested,
// upgraded and uninstalled through the Helm v4 SDK in a namespace Helm
// creates, beside the other lanes.
func TestHelmChart(t *testing.T) {
	t.Parallel()
	testenv.Test(t, helmFeature())
}

// helmChartDir is the chart of the manifests under test: MANIFESTS_DIR when
// it is a chart, else its helm/todo-app; "" when they hold no chart (a
// kustomize or plain set), which leaves L-HELM nothing to judge.
func helmChartDir() (string, error) {
	dir, err := manifests.ResolveDir()
	if err != nil {
		return "", err
	}
	for _, c := range []string{dir, filepath.Join(dir, manifests.ChartDir)} {
		st, err := os.Stat(filepath.Join(c, "Chart.yaml"))
		switch {
		case err == nil && st.Mode().IsRegular():
			return c, nil
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return "", err
		}
	}
	return "", nil
}

func helmFeature() features.Feature {
	const id = "L-HELM"
	return check(id, "the chart installs through the Helm SDK (helm install --wait, with --create-namespace and into an existing namespace), its helm test passes, a helm upgrade rolls with zero unavailable and zero failed requests, helm uninstall removes the release and leaves its Retain PV Released with its data").
		NeedsClusterDNS().
		Assess("install, test, upgrade under traffic, uninstall", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			c := checkOf(ctx, t)
			s := c.Suite
			env := laneEnv(s)
			ns := lanes.HelmNamespace
			dir, err := helmChartDir()
			if err != nil {
				c.Fatal(t, "chart", "not run: looking for the chart among the manifests under test: %v", err)
			}
			if dir == "" {
				// As PV-1 without a PV: nothing to judge is a SKIP with
				// its reason, never a pass.
				t.Skipf("SKIP %s: the manifests under test hold no Helm chart (neither MANIFESTS_DIR nor its %s has a Chart.yaml)", id, manifests.ChartDir)
			}
			if err := lanes.HelmNamespaceAbsent(ctx, env, ns); err != nil {
				c.Fatal(t, "namespace "+ns, "not run: %v", err)
			}
			h, err := lanes.NewHelm(s.Kubeconfig, ns, dir, s.Log)
			if err != nil {
				c.Fatal(t, "chart "+dir, "not run: %v", err)
			}
			// The other way a Helm user installs: into a namespace that
			// exists, without --create-namespace.
			existing := lanes.HelmExistingNamespace
			if err := c.Lane.Namespace(ctx, existing, nil); err != nil {
				c.Fatal(t, "namespace "+existing, "not run: %v", err)
			}
			h2, err := lanes.NewHelm(s.Kubeconfig, existing, dir, s.Log)
			if err != nil {
				c.Fatal(t, "chart "+dir, "not run: %v", err)
			}
			// Helm creates the namespace; the lane deletes it when it
			// ends and collects a failed check's evidence from it.
			c.Lane.Own(ns)
			r := lanes.NewRecorder(t, id, c, nil)
			if lanes.HelmRoom(ctx, env, r, 1) {
				if lanes.HelmInstall(ctx, h, r) {
					if err := lanes.MarkNamespace(ctx, env, ns); err != nil {
						r.Fail("namespace "+ns, "%v", err)
					}
					lanes.HelmTest(h, r, s.Log)
					lanes.HelmUpgradeUnderTraffic(ctx, env, h, r, spec.Seed.Backend.Deployment.Container.Image)
					lanes.HelmUninstall(ctx, env, h, r)
				}
				// After, not beside: a second release starting its pods
				// during the upgrade took CPU from it on a 2-core machine
				// (5 of 199 requests failed in a full run, 2026-12-04).
				lanes.HelmInstallIntoExisting(ctx, env, h2, r)
			}
			r.RequireOutcome("namespace " + ns)
			return ctx
		}).
		Feature()
}
