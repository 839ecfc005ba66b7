//go:build e2e

// Package e2e is the live tier: a kind cluster, the stub images, the
// manifests under test, and one e2e-framework feature per catalogue ID
// (../shared/CHECKS.md), each observing the cluster's real behaviour.
//
//	go test ./e2e -tags e2e -count=1 -v        (make conformance wraps it)
package e2e

import (
	"context"
	"os"
	"testing"

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

// TestConformance runs four lanes at once, each in namespaces of its own:
// the todo-app checks in order (each leaves the cluster as the next expects),
// the probe scenarios, the scale checks on a copy of the app, and the storage
// check on a copy of the backend. The background lanes' results are reported
// by their features once they are done.
func TestConformance(t *testing.T) {
	ctx := t.Context()
	probes.Start(ctx)
	probes.startScaleLane(ctx)
	probes.startStorageLane(ctx)
	testenv.Test(t,
		applyFeature(),
		envFeature(),
		qosFeature(),
		dnsFeature(),
		internalFeature(),
		nodePortFeature(),
		rolloutFeature(),
		trafficFeature(),
		pvcFeature(),
		startupFeature(),
		livenessFeature(),
		readinessFeature(),
		scaleFeature(),
		lbFeature(),
	)
	suite.Report.Phase("background lanes (probe scenarios, scale copy, storage copy)", probes.Wait(), 0)
	// The cluster goes with the run; only delete, do not wait.
	probes.Delete(context.WithoutCancel(ctx))
}
