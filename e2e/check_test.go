//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/puretasks/k8s-conformance/internal/lanes"
	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/report"
	"github.com/puretasks/k8s-conformance/internal/spec"
)

// check begins the feature of one catalogue ID (live.NewCheck): named after
// the ID, labelled id=<ID>, judged once every step of it has ended, its
// teardown included; a check some of whose assessments did not run is NOT
// RUN, never PASS.
func check(id, title string) *live.CheckBuilder { return live.NewCheck(id, title) }

// checkOf returns the running check (from its feature's Setup).
func checkOf(ctx context.Context, t *testing.T) *live.Check {
	t.Helper()
	c := live.CheckFrom(ctx)
	if c == nil {
		t.Fatal("no check in the context: build the feature with check()")
	}
	return c
}

// objectsOf returns the set's objects ready to apply (live.Deployable):
// copies, the Secret's placeholders replaced by the fixtures' fake values,
// each stub listening on the port its container declares.
func objectsOf(s *live.Suite, p manifests.Profile) []client.Object {
	return live.Deployable(s.Sets[p], s.FakeSecret)
}

// copyOf returns the set's objects that keep selects, for a lane's own
// namespace: namespaced objects move to ns (cluster-scoped ones, the PV, stay
// as they are) and Services become ClusterIP (live.AsClusterIP, valid for
// any Service the API server accepts), since the NodePort belongs to the
// real frontend-service.
func copyOf(s *live.Suite, p manifests.Profile, ns string, keep func(client.Object) bool) []client.Object {
	var out []client.Object
	for _, o := range objectsOf(s, p) {
		if !keep(o) {
			continue
		}
		if o.GetNamespace() != "" {
			o.SetNamespace(ns)
		}
		if svc, ok := o.(*corev1.Service); ok {
			live.AsClusterIP(svc)
		}
		out = append(out, o)
	}
	return out
}

// The todo-app lane's shared requirements: the default set applied, then
// both Deployments Available. Whichever check of the lane runs first does
// the work; a check selected on its own brings them itself.
const (
	reqApplied   = "todo-app applied"
	reqAvailable = "todo-app Available"
)

// appApplied is the outcome of applying the default set into todo-app.
type appApplied struct {
	result live.ApplyResult
	objs   int
	at     time.Time
	took   time.Duration
}

func applyApp(ctx context.Context) (*appApplied, error) {
	if upgradePlan != nil {
		return upgradeApp(ctx, nil) // L-UPGRADE applied it, over the previous revision
	}
	l := live.LaneFrom(ctx)
	return live.Require(ctx, l, reqApplied, func(ctx context.Context) (*appApplied, error) {
		s := l.Suite
		objs := objectsOf(s, manifests.Default)
		start := time.Now()
		r := live.ApplySet(ctx, s.Client, objs)
		// Whatever got in is the lane's to remove, even after a failed apply.
		l.Own(spec.Namespace)
		a := &appApplied{result: r, objs: len(objs), at: time.Now(), took: time.Since(start)}
		s.Report.Phase("apply", a.took)
		if err := r.Err(); err != nil {
			return a, err
		}
		return a, nil
	})
}

// appAvailable is when each Deployment was first seen complete, after apply.
type appAvailable map[string]time.Duration

func availableApp(ctx context.Context) (appAvailable, error) {
	l := live.LaneFrom(ctx)
	return live.Require(ctx, l, reqAvailable, func(ctx context.Context) (appAvailable, error) {
		a, err := applyApp(ctx)
		if err != nil {
			return nil, fmt.Errorf("the manifests did not apply: %w", err)
		}
		var mu sync.Mutex
		var errs []string
		after := appAvailable{}
		var wg sync.WaitGroup
		for _, w := range lanes.Workloads() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := live.WaitDeployment(ctx, l.Suite.Clientset, spec.Namespace, w.Deployment.Name, poll.DeploymentAvailable)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err.Error())
					return
				}
				after[w.Deployment.Name] = time.Since(a.at)
			}()
		}
		wg.Wait()
		if len(errs) > 0 {
			return after, fmt.Errorf("Deployments not Available: %s", strings.Join(errs, "; "))
		}
		l.Suite.Report.Phase("apply -> Available", time.Since(a.at))
		return after, nil
	})
}

// requireAvailable stops the calling check (a failure, never a skip) when the
// app it needs is not applied and Available.
func requireAvailable(ctx context.Context, t *testing.T) (*live.Check, *live.Suite) {
	t.Helper()
	c := checkOf(ctx, t)
	if _, err := availableApp(ctx); err != nil {
		c.Abort(t, report.CodeSetup, "namespace "+spec.Namespace, "not run: %v", err)
	}
	return c, c.Suite
}
