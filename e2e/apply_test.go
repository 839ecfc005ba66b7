//go:build e2e

package e2e

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/puretasks/k8s-conformance/internal/spec"
)

func applyFeature() features.Feature {
	const id = "L-APPLY"
	return check(id, "the manifests apply cleanly (server-side dry-run, then apply) into a fresh cluster").
		Assess("dry-run and apply the default set", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			c := checkOf(ctx, t)
			a, err := applyApp(ctx) // apply errors are in the result, reported one by one below
			if a == nil {
				c.Fatal(t, "namespace "+spec.Namespace, "the app was not applied: %v", err)
			}
			for _, e := range a.result.DryRunErrors {
				c.Fail(t, "server-side dry-run", "%s", e)
			}
			for _, e := range a.result.ApplyErrors {
				c.Fail(t, "server-side apply", "%s", e)
			}
			c.Measure(t, "dry-run accepted %d/%d objects, applied %d in %s", a.objs-len(a.result.DryRunErrors), a.objs, len(a.result.Applied), a.took.Round(time.Millisecond))
			if len(a.result.Applied) != a.objs {
				c.Fail(t, "namespace "+spec.Namespace, "expected all %d objects applied, got %d", a.objs, len(a.result.Applied))
			}
			return ctx
		}).
		Assess("all 7 core objects exist", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			c := checkOf(ctx, t)
			type ref struct{ apiVersion, kind, ns, name string }
			s := spec.Seed
			core := []ref{
				{"v1", "Namespace", "", s.Namespace.Name},
				{"v1", "ConfigMap", spec.Namespace, s.ConfigMap.Name},
				{"v1", "Secret", spec.Namespace, s.Secret.Name},
				{"apps/v1", "Deployment", spec.Namespace, s.Backend.Deployment.Name},
				{"v1", "Service", spec.Namespace, s.Backend.Service.Name},
				{"apps/v1", "Deployment", spec.Namespace, s.Frontend.Deployment.Name},
				{"v1", "Service", spec.Namespace, s.Frontend.Service.Name},
			}
			found := 0
			for _, r := range core {
				u := &unstructured.Unstructured{}
				u.SetAPIVersion(r.apiVersion)
				u.SetKind(r.kind)
				if err := c.Suite.Client.Get(ctx, client.ObjectKey{Namespace: r.ns, Name: r.name}, u); err != nil {
					c.Fail(t, r.kind+" "+r.ns+"/"+r.name, "expected to exist after apply, got %v", err)
					continue
				}
				found++
			}
			c.Measure(t, "%d/%d core objects exist", found, len(core))
			return ctx
		}).
		Feature()
}
