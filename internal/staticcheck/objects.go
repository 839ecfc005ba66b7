package staticcheck

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/puretasks/k8s-conformance/internal/spec"
)

// workload selects the backend or the frontend half of the spec.
type workload int

const (
	backend workload = iota
	frontend
)

func (w workload) spec() spec.Workload {
	if w == backend {
		return seed.Backend
	}
	return seed.Frontend
}

// find returns the object of that kind and name, wherever its namespace.
func find[T any](c *checker, kind, name string) (T, string, bool) {
	var zero T
	o, ok := c.set.Find(kind, "*", name)
	if !ok {
		return zero, kind + " " + name, false
	}
	t, ok := o.Object.(T)
	return t, fmt.Sprintf("%s %s (%s)", kind, name, o.Source), ok
}

// mustFind finds the object or records that it is missing.
func mustFind[T any](c *checker, kind, name string) (T, string, bool) {
	t, res, ok := find[T](c, kind, name)
	if !ok {
		c.fail(res, "(object)", "present in the set", c.missingActual(kind, name))
	}
	return t, res, ok
}

func (c *checker) deployment(w workload) (*appsv1.Deployment, string, bool) {
	return mustFind[*appsv1.Deployment](c, "Deployment", w.spec().Deployment.Name)
}

// container returns the Deployment's container named as the spec says.
func (c *checker) container(w workload) (*appsv1.Deployment, *corev1.Container, string, bool) {
	d, res, ok := c.deployment(w)
	if !ok {
		return nil, nil, res, false
	}
	want := w.spec().Deployment.Container.Name
	for i := range d.Spec.Template.Spec.Containers {
		if d.Spec.Template.Spec.Containers[i].Name == want {
			return d, &d.Spec.Template.Spec.Containers[i], res, true
		}
	}
	c.fail(res, "spec.template.spec.containers[name="+want+"]", "present", containerNames(d))
	return d, nil, res, false
}

func containerNames(d *appsv1.Deployment) string {
	var n []string
	for _, ctr := range d.Spec.Template.Spec.Containers {
		n = append(n, ctr.Name)
	}
	return "[" + strings.Join(n, ", ") + "]"
}

func (c *checker) namespaced(res, ns string) {
	expect(c, res, "metadata.namespace", spec.Namespace, ns)
}

// labelFloor holds the seed's labels as a floor: each must be present with
// the seed's value; other labels (app.kubernetes.io/*, helm.sh/chart, a
// kustomization's labels:) are allowed, since nothing selects on them here.
func (c *checker) labelFloor(res, field string, want, got map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(want)) {
		v, ok := got[k]
		switch {
		case !ok:
			c.fail(res, field+"."+k, want[k], nil)
		case v != want[k]:
			c.fail(res, field+"."+k, want[k], v)
		}
	}
}

// selectorExactly holds a selector to the seed's, key for key: an extra key
// changes which pods a Service or Deployment owns.
func (c *checker) selectorExactly(res, field string, want, got map[string]string) {
	if !maps.Equal(want, got) {
		c.fail(res, field, want, got)
	}
}

// each finds missing, extra and different entries of two string maps.
func (c *checker) mapExactly(res, field string, want, got map[string]string, redact bool) {
	keys := slices.Sorted(maps.Keys(want))
	for _, k := range keys {
		v, ok := got[k]
		switch {
		case !ok:
			c.fail(res, field+"."+k, want[k], nil)
		case v != want[k]:
			if redact {
				c.fail(res, field+"."+k, want[k], "<redacted>")
			} else {
				c.fail(res, field+"."+k, want[k], v)
			}
		}
	}
	var extra []string
	for k := range got {
		if _, ok := want[k]; !ok {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		c.fail(res, field+"."+k, nil, "present (not in the seed)")
	}
}

// secretKeys returns the Secret's keys from data and stringData.
func secretKeys(s *corev1.Secret) map[string][]byte {
	out := map[string][]byte{}
	for k, v := range s.Data {
		out[k] = v
	}
	for k, v := range s.StringData {
		out[k] = []byte(v)
	}
	return out
}
