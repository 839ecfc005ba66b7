//go:build e2e

// Package e2e is the live tier: a kind cluster, the stub images, the
// manifests under test, and one e2e-framework feature per catalogue ID
// (../shared/CHECKS.md), each observing the cluster's real behaviour.
//
//	go test ./e2e -tags e2e -count=1 -v        (make conformance wraps it)
package e2e

import (
	"os"
	"testing"
	"time"

	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"

	"github.com/puretasks/k8s-conformance/internal/live"
)

var (
	testenv env.Environment
	suite   *live.Suite
)

func TestMain(m *testing.M) {
	suite = live.NewSuite()
	testenv = env.NewWithConfig(envconf.New())
	suite.TrapSignals()
	testenv.Setup(suite.Setup)
	testenv.Finish(suite.Finish)
	os.Exit(testenv.Run(m))
}

// TestConformance runs the live checks in an order where each leaves the
// cluster as the next expects. The probe scenarios run in namespaces of
// their own, all at once, while the read-only checks observe the app; the
// rollouts, scale and storage checks follow once the scenarios are gone.
func TestConformance(t *testing.T) {
	ctx := t.Context()
	probes.Start(ctx)
	testenv.Test(t,
		applyFeature(),
		envFeature(),
		qosFeature(),
		dnsFeature(),
		internalFeature(),
		nodePortFeature(),
		startupFeature(),
		livenessFeature(),
		readinessFeature(),
	)
	start := time.Now()
	if err := probes.Cleanup(ctx); err != nil {
		t.Errorf("removing the probe scenarios: %v", err)
	}
	suite.Report.Phase("probe block (parallel scenarios, incl. cleanup)", time.Since(probes.start), 0)
	suite.Report.Phase("probe scenario cleanup", time.Since(start), 0)
	testenv.Test(t,
		rolloutFeature(),
		trafficFeature(),
		scaleFeature(),
		lbFeature(),
		pvcFeature(),
	)
}
