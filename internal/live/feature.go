package live

import (
	"context"
	"flag"
	"strings"
	"testing"

	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"
	"sigs.k8s.io/e2e-framework/pkg/types"

	"github.com/puretasks/k8s-conformance/internal/report"
)

// CheckBuilder builds the e2e-framework feature of one catalogue ID. Its
// name starts with the ID and it carries the label id=<ID>, so
// `--feature L-DNS` and `--labels id=L-DNS` select it. It knows its
// assessments, so a check some of whose assessments a filter skipped is NOT
// RUN, never PASS.
type CheckBuilder struct {
	id    string
	b     *features.FeatureBuilder
	steps []string
	dns   bool
}

// NewCheck begins the feature of check id. Its Setup opens the check: the
// verdict is registered to be decided once every step has ended (t.Cleanup
// of the feature's test, after its teardown), the cluster comes up for the
// first selected check, and the check's clock starts. Its Teardown
// collects evidence of a failure and deletes the check's own namespaces.
func NewCheck(id, title string) *CheckBuilder {
	cb := &CheckBuilder{id: id, b: features.New(id+" "+title).WithLabel("id", id)}
	cb.b = cb.b.WithSetup("begin", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
		l := LaneFrom(ctx)
		if l == nil {
			t.Fatalf("%s: no lane in the context (run it from a lane test through testenv)", id)
		}
		c := l.Begin(id, cb.steps...)
		t.Cleanup(func() { c.Conclude(t) })
		if sel, err := NewSelection(cfg, runFlag()); err == nil && len(sel.Steps(PlanOf(laneTestOf(t), cb.b.Feature()))) == 0 {
			// Nothing of it will run: no cluster for it, no setup of its
			// own (WithSetup); Conclude says NOT RUN.
			c.idle = true
			c.Start()
			return WithCheck(ctx, c)
		}
		cb.ready(ctx, c, t)
		c.Start()
		return WithCheck(ctx, c)
	})
	cb.b = cb.b.WithTeardown("end", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
		if c := CheckFrom(ctx); c != nil {
			c.End(ctx, t)
		}
		return ctx
	})
	return cb
}

// ready brings the cluster up for c (once per run) and, for a check that
// needs it, waits until the cluster resolves names; either failing stops
// the check as ERROR before anything of it exists (no teardown).
func (cb *CheckBuilder) ready(ctx context.Context, c *Check, t TB) {
	t.Helper()
	if err := c.Suite.Ready(ctx); err != nil {
		c.Start()
		c.Abort(t, report.CodeSetup, "cluster", "not run: %v", err)
		return
	}
	if cb.dns {
		c.requireClusterDNS(ctx, t)
	}
}

// NeedsClusterDNS marks a check that resolves names in the cluster (a probe
// Job aimed at backend-service, the frontend calling the backend): it
// begins once CoreDNS is Available, which the suite's own bring-up does not
// wait for (UpOptions.DeferCoreDNS), and is ERROR if that never comes.
// ProbeJob.Start waits too, so a check that forgot the mark still never
// resolves a name too early; the mark makes its failure an ERROR.
func (cb *CheckBuilder) NeedsClusterDNS() *CheckBuilder {
	cb.dns = true
	return cb
}

// WithSetup adds a setup step of the check's own, run after the check has
// begun (the cluster is up) unless no assessment of the check is selected.
func (cb *CheckBuilder) WithSetup(name string, fn features.Func) *CheckBuilder {
	cb.b = cb.b.WithSetup(name, func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
		if c := CheckFrom(ctx); c == nil || c.idle {
			return ctx
		}
		return fn(ctx, t, cfg)
	})
	return cb
}

// WithTeardown adds a teardown step of the check's own, run after the
// check's evidence is collected; like every step, it ends before the
// verdict is decided.
func (cb *CheckBuilder) WithTeardown(name string, fn features.Func) *CheckBuilder {
	cb.b = cb.b.WithTeardown(name, fn)
	return cb
}

// Assess adds an assessment; the check records that it ran.
func (cb *CheckBuilder) Assess(name string, fn features.Func) *CheckBuilder {
	cb.steps = append(cb.steps, name)
	cb.b = cb.b.Assess(name, func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
		if c := CheckFrom(ctx); c != nil {
			defer c.Ran(name)
		}
		return fn(ctx, t, cfg)
	})
	return cb
}

// Feature returns the built feature.
func (cb *CheckBuilder) Feature() features.Feature { return cb.b.Feature() }

// laneTestOf is the lane test a feature's test belongs to: the feature
// test's name is "<lane test>/<feature>".
func laneTestOf(t *testing.T) string {
	name := t.Name()
	if i := strings.IndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return name
}

// runFlag is go test's -run pattern.
func runFlag() string {
	if f := flag.Lookup("test.run"); f != nil {
		return f.Value.String()
	}
	return ""
}

// PlanOf is a built check as a selection sees it, in lane test test.
func PlanOf(test string, f types.Feature) PlannedCheck {
	var steps []string
	for _, s := range features.GetStepsByLevel(f.Steps(), types.LevelAssess) {
		steps = append(steps, s.Name())
	}
	return PlannedCheck{Test: test, Feature: f.Name(), Labels: f.Labels(), Steps: steps}
}
