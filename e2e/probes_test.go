//go:build e2e

package e2e

import (
	"context"
	"errors"
	"sync"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"
	"sigs.k8s.io/e2e-framework/pkg/types"

	"github.com/puretasks/k8s-conformance/internal/lanes"
	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/report"
	"github.com/puretasks/k8s-conformance/internal/spec"
)

// laneEnv is what the lanes package needs of the run.
func laneEnv(s *live.Suite) lanes.Env {
	return lanes.LiveEnv(s.Clientset, s.Client, func(p manifests.Profile, ns string, keep func(client.Object) bool) []client.Object {
		return copyOf(s, p, ns, keep)
	}, s.CreatedPersistentVolume)
}

// TestProbeScenarios is the probe lane. Its three checks run at once, and
// each check's scenarios run at once, each in a namespace of its own, so
// the lane costs about the longest single window (the backend's startup
// kill) rather than the sum.
func TestProbeScenarios(t *testing.T) {
	t.Parallel()
	testenv.TestInParallel(t, laneChecks(t)...)
}

func probeChecks() []types.Feature {
	return []types.Feature{
		probeFeature("L-STARTUP", "a start-up a little under the seed's budget becomes Ready with 0 restarts; one over it is killed inside the window"),
		probeFeature("L-LIVENESS", "health that fails or hangs is restarted once, inside the seed's window"),
		probeFeature("L-READINESS", "an unhealthy pod leaves the Service inside the readiness window, is not restarted, and rejoins"),
	}
}

type scenariosKey struct{}

// noRoom is the cluster having no room for a check's scenarios: the check
// could not judge (ERROR, capacity).
type noRoom struct{ error }

// deployed is a scenario and what deploying it said.
type deployed struct {
	s   *lanes.Scenario
	err error
}

// probeFeature is one probe ID: its Setup gives every scenario its
// namespace and copy; its Assess measures them all at once, each in a
// subtest of its own, so a failure points at the scenario and the line that
// found it.
func probeFeature(id, title string) features.Feature {
	return check(id, title).
		WithSetup("a namespace and a copy per scenario", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			c := checkOf(ctx, t)
			s := c.Suite
			// Once per lane; the function cannot fail, so there is no error to read.
			_, _ = live.Require(ctx, c.Lane, "probe floor", func(context.Context) (bool, error) {
				s.Report.FloorAlso("longest probe window", spec.Seed.LongestWindow())
				return true, nil
			})
			var out []deployed
			// Setup never stops the feature: a failure here is reported by
			// the scenario's subtest, and Teardown still collects and cleans.
			msg, err := lanes.WaitForRoom(ctx, s.Clientset, lanes.ScenarioDemand(id), poll.PodRunning)
			if err != nil {
				for _, sc := range lanes.Scenarios(id) {
					out = append(out, deployed{sc, noRoom{err}})
				}
				return context.WithValue(ctx, scenariosKey{}, out)
			}
			c.Measure(t, "scenarios fit: %s", msg)
			env := laneEnv(s)
			scs := lanes.Scenarios(id)
			out = make([]deployed, len(scs))
			var wg sync.WaitGroup
			for i, sc := range scs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := c.Namespace(ctx, sc.Namespace, map[string]string{"k8s-conformance/scenario": sc.Name()})
					if err == nil {
						err = sc.Deploy(ctx, env)
					}
					out[i] = deployed{sc, err}
				}()
			}
			wg.Wait()
			return context.WithValue(ctx, scenariosKey{}, out)
		}).
		Assess("every scenario measured against the seed's windows", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			c := checkOf(ctx, t)
			rec := lanes.NewRecorder(t, id, c, c.Suite.Report)
			env := laneEnv(c.Suite)
			scs, _ := ctx.Value(scenariosKey{}).([]deployed)
			if len(scs) == 0 {
				c.Fail(t, "probe lane", "no scenarios were set up for %s", id)
			}
			// Concurrent t.Run, not t.Parallel: the scenarios must all run at
			// once whatever -parallel allows.
			var wg sync.WaitGroup
			for _, d := range scs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					t.Run(d.s.Name(), func(t *testing.T) {
						r := rec.For(t)
						if d.err != nil {
							code := report.CodeSetup
							if errors.As(d.err, new(noRoom)) {
								code = report.CodeCapacity
							}
							r.Error(code, "scenario "+d.s.Name(), "not run: %v", d.err)
							return
						}
						d.s.Measure(ctx, env, r)
					})
				}()
			}
			wg.Wait()
			return ctx
		}).
		Feature()
}
