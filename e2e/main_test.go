//go:build e2e

// Package e2e is the live tier: a kind cluster, the stub images, the
// manifests under test, and one e2e-framework feature per catalogue ID
// (../shared/CHECKS.md), each observing the cluster's real behaviour.
//
// One top-level test per lane; the lanes run in parallel, each in namespaces
// of its own. Any check can be selected on its own:
//
//	go test ./e2e -tags e2e -count=1 -v                      (make conformance)
//	go test ./e2e -tags e2e -count=1 -v -args --feature L-DNS
//	go test ./e2e -tags e2e -count=1 -v -args --labels id=L-DNS,id=L-PVC
//	go test ./e2e -tags e2e -count=1 -v -run TestStorageCopy
package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/types"

	"github.com/puretasks/k8s-conformance/internal/lanes"
	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/report"
)

// testenv is e2e-framework's environment; the run's state (the Suite, its
// clients and report, each lane and check) travels in the context.
var testenv env.Environment

// minParallel is the least `go test -parallel` value that runs every lane at
// once: the default is GOMAXPROCS (2 here), which would queue lanes.
const minParallel = 8

// optInChecks run only when a selection names them (report.OptInIDs says
// why each is opt-in).
var optInChecks = report.OptInIDs

func TestMain(m *testing.M) {
	if live.IsReaper() {
		os.Exit(live.RunReaper())
	}
	// Flags first: a bad flag ends the run here, before anything exists.
	cfg, err := envconf.NewFromFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(2)
	}
	raiseParallel()
	listing := false
	if f := flag.Lookup("test.list"); f != nil && f.Value.String() != "" {
		cfg.WithDryRunMode() // list the tests, create nothing
		listing = true
	}
	// The selection is held to account before anything exists: a filter
	// that leaves no assessment to run (a typo in --assess, -run or
	// --feature) ends the run here, and --fail-fast is refused.
	run := ""
	if f := flag.Lookup("test.run"); f != nil {
		run = f.Value.String()
	}
	if len(cfg.Labels()) == 0 && cfg.FeatureRegex() == nil && run == "" {
		skip := map[string][]string{}
		for k, v := range cfg.SkipLabels() {
			skip[k] = v
		}
		// A previous revision given is L-UPGRADE selected.
		var left []string
		for _, id := range optInChecks {
			if id != upgradeID || os.Getenv(lanes.UpgradeFromEnv) == "" {
				left = append(left, id)
			}
		}
		skip["id"] = append(skip["id"], left...)
		cfg.WithSkipLabels(skip)
		fmt.Fprintf(os.Stderr, "e2e: opt-in checks not selected: %v (run them with CHECKS=%s or --labels id=...)\n", left, strings.Join(left, ","))
	} else if os.Getenv(lanes.UpgradeFromEnv) == "" && !namesCheck(cfg, upgradeID) {
		// A selection that takes L-UPGRADE in only as part of its lane
		// (-run TestTodoApp) leaves it out without a revision to upgrade
		// from; one that names it gets the error planUpgrade gives.
		skip := map[string][]string{}
		for k, v := range cfg.SkipLabels() {
			skip[k] = v
		}
		skip["id"] = append(skip["id"], upgradeID)
		cfg.WithSkipLabels(skip)
	}
	sel, err := live.NewSelection(cfg, run)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(2)
	}
	if !listing {
		partial, err := sel.Check(plannedChecks())
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			if dir, werr := live.WriteNotRunReport(plannedChecks(), err.Error()); werr != nil {
				fmt.Fprintln(os.Stderr, "e2e: the report could not be written:", werr)
			} else {
				fmt.Fprintf(os.Stderr, "e2e: every check NOT RUN: report in %s\n", dir)
			}
			os.Exit(2)
		}
		for _, p := range partial {
			fmt.Fprintf(os.Stderr, "e2e: %s: part of its assessments is filtered out; it will be NOT RUN (not passed)\n", p)
		}
		if upgradePlan, err = planUpgrade(context.Background(), upgradeSelected(sel)); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			os.Exit(2)
		}
		if upgradePlan != nil {
			fmt.Fprintf(os.Stderr, "e2e: %s: %s\n", upgradeID, upgradePlan.Summary())
		}
	}
	cfg.WithParallelTestEnabled()
	reaper, err := live.StartReaper()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	suite := live.NewSuite(reaper)
	testenv = env.NewWithConfig(cfg)
	suite.TrapSignals()
	testenv.Setup(suite.Setup)
	testenv.BeforeEachTest(beginLane)
	testenv.AfterEachTest(endLane)
	testenv.Finish(suite.Finish)
	code := testenv.Run(m)
	if err := suite.FinishErr(); err != nil && code == 0 {
		code = 1
	}
	if code == 0 && suite.Failed() {
		code = 1 // the report and the exit status agree, always
	}
	if suite.Interrupted() {
		code = 130 // as the signal trap exits, whichever gets there first
	}
	os.Exit(code)
}

// raiseParallel lets every lane run at once unless -test.parallel was given.
func raiseParallel() {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if f := flag.Lookup("test.parallel"); f != nil && !set {
		if n, err := strconv.Atoi(f.Value.String()); err == nil && n < minParallel {
			if err := f.Value.Set(strconv.Itoa(minParallel)); err != nil {
				fmt.Fprintf(os.Stderr, "e2e: could not raise -test.parallel to %d (%v): the lanes may queue\n", minParallel, err)
			}
		}
	}
}

// beginLane gives each lane test (a top-level test) a lane in its context:
// the lane creates nothing until one of its checks begins.
func beginLane(ctx context.Context, _ *envconf.Config, t *testing.T) (context.Context, error) {
	s := live.SuiteFrom(ctx)
	if s == nil {
		return ctx, fmt.Errorf("no suite in the context: setup did not run")
	}
	return live.WithLane(ctx, live.NewLane(s, t.Name())), nil
}

// endLane deletes the lane's namespaces (each failed check has collected its
// evidence from them already) and records the lane's span.
func endLane(ctx context.Context, _ *envconf.Config, t *testing.T) (context.Context, error) {
	if l := live.LaneFrom(ctx); l != nil {
		if err := l.End(ctx); err != nil {
			err = fmt.Errorf("lane %s teardown: %w", l.Name, err)
			l.Suite.Report.RunError(l.Name+" teardown", report.CodeTeardown, err)
			t.Error(err)
		}
	}
	return ctx, nil
}

// TestTodoApp is the todo-app lane: the app in its own namespace, checked in
// order, each check leaving the cluster as the next expects. A selected
// check brings what it needs (the app applied and Available) itself.
func TestTodoApp(t *testing.T) {
	t.Parallel()
	testenv.Test(t, laneChecks(t)...)
}

// laneTests are the lane tests and their checks, in the order each lane runs
// them: every lane test runs its own, and TestMain holds the run's
// selection to all of them before anything is created.
func laneTests() map[string][]types.Feature {
	return map[string][]types.Feature{
		"TestTodoApp": {
			upgradeFeature(), // first: with a previous revision, the lane's app is the upgrade's
			applyFeature(),
			envFeature(),
			qosFeature(),
			dnsFeature(),
			internalFeature(),
			nodePortFeature(),
			rolloutFeature(),
			trafficFeature(),
		},
		"TestProbeScenarios": probeChecks(),
		"TestScaleCopy":      {scaleFeature(), lbFeature()},
		"TestStorageCopy":    {pvcFeature()},
		"TestHelmChart":      {helmFeature()},
	}
}

// laneChecks are the checks of the lane test t.
func laneChecks(t *testing.T) []types.Feature {
	fs, ok := laneTests()[t.Name()]
	if !ok {
		t.Fatalf("%s is not a lane of laneTests()", t.Name())
	}
	return fs
}

// namesCheck reports whether the flags name the check id itself: in
// --labels id=..., or in --feature.
func namesCheck(cfg *envconf.Config, id string) bool {
	if slices.Contains(cfg.Labels()["id"], id) {
		return true
	}
	re := cfg.FeatureRegex()
	return re != nil && strings.Contains(re.String(), strings.TrimPrefix(id, "L-"))
}

// upgradeSelected reports whether the selection runs L-UPGRADE.
func upgradeSelected(sel *live.Selection) bool {
	for _, c := range plannedChecks() {
		if slices.Contains(c.Labels["id"], upgradeID) && len(sel.Steps(c)) > 0 {
			return true
		}
	}
	return false
}

func plannedChecks() []live.PlannedCheck {
	var out []live.PlannedCheck
	for test, fs := range laneTests() {
		for _, f := range fs {
			out = append(out, live.PlanOf(test, f))
		}
	}
	return out
}
