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
// cluster as the next expects: apply, rollouts, read-only observations, then
// the storage check that swaps the backend's volume and restores it.
func TestConformance(t *testing.T) {
	testenv.Test(t,
		applyFeature(),
		rolloutFeature(),
		trafficFeature(),
		envFeature(),
		qosFeature(),
		dnsFeature(),
		internalFeature(),
		nodePortFeature(),
		pvcFeature(),
	)
}
