//go:build e2e

package e2e

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/spec"
)

// objectsOf returns the set's objects ready to apply: copies, with the
// Secret's placeholders replaced by the fixtures' fake values.
func objectsOf(p manifests.Profile) []client.Object {
	set := suite.Sets[p]
	if set == nil {
		return nil
	}
	var out []client.Object
	for _, o := range set.DeepCopy().Objects {
		if s, ok := o.Object.(*corev1.Secret); ok {
			live.InjectFakeSecrets(s, suite.FakeSecret)
		}
		out = append(out, o.Object)
	}
	return out
}

// copyInto returns the set's objects that keep selects, for a lane's own
// namespace: namespaced objects move to ns (cluster-scoped ones, the PV, stay
// as they are) and Services become ClusterIP, since the NodePort belongs to
// the real frontend-service.
func copyInto(p manifests.Profile, ns string, keep func(client.Object) bool) []client.Object {
	var out []client.Object
	for _, o := range objectsOf(p) {
		if !keep(o) {
			continue
		}
		if o.GetNamespace() != "" {
			o.SetNamespace(ns)
		}
		if svc, ok := o.(*corev1.Service); ok {
			svc.Spec.Type = corev1.ServiceTypeClusterIP
			for i := range svc.Spec.Ports {
				svc.Spec.Ports[i].NodePort = 0
			}
		}
		out = append(out, o)
	}
	return out
}

// createNamespace creates a lane's namespace.
func createNamespace(ctx context.Context, ns string, labels map[string]string) error {
	_, err := suite.Clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}}, metav1.CreateOptions{})
	return err
}

func applyFeature() features.Feature {
	const id = "L-APPLY"
	return check(id, "the manifests apply cleanly (server-side dry-run, then apply) into a fresh cluster").
		Assess("dry-run and apply the default set", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			objs := objectsOf(manifests.Default)
			start := time.Now()
			r := live.ApplySet(ctx, suite.Client, objs)
			suite.Report.Phase("apply", time.Since(start), 0)
			for _, e := range r.DryRunErrors {
				failf(t, id, "server-side dry-run", "%s", e)
			}
			for _, e := range r.ApplyErrors {
				failf(t, id, "server-side apply", "%s", e)
			}
			measure(t, id, "dry-run accepted %d/%d objects, applied %d in %s", len(objs)-len(r.DryRunErrors), len(objs), len(r.Applied), time.Since(start).Round(time.Millisecond))
			if len(r.Applied) == len(objs) {
				appliedAt = time.Now()
			}
			return ctx
		}).
		Assess("all 7 core objects exist", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
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
				if err := suite.Client.Get(ctx, client.ObjectKey{Namespace: r.ns, Name: r.name}, u); err != nil {
					failf(t, id, r.kind+" "+r.ns+"/"+r.name, "expected to exist after apply, got %v", err)
					continue
				}
				found++
			}
			measure(t, id, "%d/%d core objects exist", found, len(core))
			return ctx
		}).
		Feature()
}
