package staticcheck

import (
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/spec"
)

// checkExposure is X-3: the app's pods are reached only the way the seed
// says, backend-service inside the cluster and frontend-service's NodePort
// from outside. Over every object applying the set creates (hooks
// included), of any workload kind:
//   - no Service but the seed's two selects the backend's or the frontend's
//     pods (it would add them to its endpoints, under another name or type);
//   - no Ingress and no Gateway API route sends traffic to a Service that
//     reaches them;
//   - no pod but the seed's Deployments' carries labels their Services or
//     Deployments select (it would join their endpoints, or be adopted);
//   - nothing but frontend-service opens a port on the nodes: no other
//     NodePort or LoadBalancer Service, no LoadBalancer at all, no
//     externalIPs, no hostPort, no hostNetwork.
//
// Selecting is judged within the app's namespace; an object without one is
// put by kubectl in the current context's namespace, which may be the app's,
// so it is judged as if it were.
func checkExposure(c *checker) {
	objs := c.exposureObjects()
	apps := appPods(c.set)
	for _, o := range objs {
		switch x := o.obj.(type) {
		case *corev1.Service:
			c.serviceExposure(o, x, apps)
		case *networkingv1.Ingress:
			c.ingressExposure(o, x, apps, objs)
		case *unstructured.Unstructured:
			if x.GroupVersionKind().Group == gatewayGroup {
				c.routeExposure(o, x, apps, objs)
			}
		}
		for _, p := range podTemplates(o.obj) {
			c.podExposure(o, p, apps)
		}
	}
}

// exposureObject is one installed object, typed, and whether it is one of
// the seed's own (a non-hook object of the seed's kind, namespace and name).
type exposureObject struct {
	res  string
	ns   string
	obj  runtime.Object
	seed bool
}

func (c *checker) exposureObjects() []exposureObject {
	var out []exposureObject
	installed := c.set.Installed()
	for i, o := range installed {
		typed, err := typedObject(o)
		if err != nil {
			c.fail(resourceName(o), "(object)", "an object the API server decodes", err.Error())
			continue
		}
		k := manifests.KeyOf(o)
		seedObject := i < len(c.set.Objects) && inAppNamespace(k.Namespace) &&
			((k.Kind == "Deployment" && (k.Name == seed.Backend.Deployment.Name || k.Name == seed.Frontend.Deployment.Name)) ||
				(k.Kind == "Service" && (k.Name == seed.Backend.Service.Name || k.Name == seed.Frontend.Service.Name)))
		out = append(out, exposureObject{res: resourceName(o), ns: o.GetNamespace(), obj: typed, seed: seedObject})
	}
	return out
}

// app is one of the seed's two pod sets: the labels its pods carry and the
// selectors that pick them, as the seed gives them and as the set has them.
type app struct {
	name      string // backend, frontend
	service   string
	podLabels []labels.Set      // seed's template labels, the set's
	selectors []labels.Selector // seed's selectors, the set's Service's and Deployment's
}

func appPods(s *manifests.Set) []app {
	var out []app
	for _, w := range []spec.Workload{seed.Backend, seed.Frontend} {
		a := app{
			name:      w.Deployment.Name,
			service:   w.Service.Name,
			podLabels: []labels.Set{w.Deployment.Labels},
			selectors: []labels.Selector{labels.SelectorFromSet(w.Service.Selector), labels.SelectorFromSet(w.Deployment.Selector)},
		}
		if o, ok := s.Find("Deployment", spec.Namespace, w.Deployment.Name); ok {
			if d, ok := o.Object.(*appsv1.Deployment); ok {
				a.podLabels = append(a.podLabels, d.Spec.Template.Labels)
				if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil && !sel.Empty() {
					a.selectors = append(a.selectors, sel)
				}
			}
		}
		if o, ok := s.Find("Service", spec.Namespace, w.Service.Name); ok {
			if svc, ok := o.Object.(*corev1.Service); ok && len(svc.Spec.Selector) > 0 {
				a.selectors = append(a.selectors, labels.SelectorFromSet(svc.Spec.Selector))
			}
		}
		out = append(out, a)
	}
	return out
}

// inAppNamespace: the app's namespace, or none (kubectl's context decides).
func inAppNamespace(ns string) bool { return ns == "" || ns == spec.Namespace }

// selectedApp returns the app whose pods a Service selector picks, if any.
func selectedApp(ns string, selector map[string]string, apps []app) (app, bool) {
	if len(selector) == 0 || !inAppNamespace(ns) {
		return app{}, false // no selector: its endpoints are not chosen by labels
	}
	sel := labels.SelectorFromSet(selector)
	for _, a := range apps {
		if slices.ContainsFunc(a.podLabels, func(l labels.Set) bool { return sel.Matches(l) }) {
			return a, true
		}
	}
	return app{}, false
}

func (c *checker) serviceExposure(o exposureObject, s *corev1.Service, apps []app) {
	isFrontendService := o.seed && s.Name == seed.Frontend.Service.Name
	if a, ok := selectedApp(o.ns, s.Spec.Selector, apps); ok && !o.seed {
		c.fail(o.res, "spec.selector", fmt.Sprintf("no Service but %s selects the %s pods", a.service, a.name), s.Spec.Selector)
	}
	switch s.Spec.Type {
	case corev1.ServiceTypeLoadBalancer:
		c.fail(o.res, "spec.type", "no LoadBalancer Service (only frontend-service's NodePort is exposed)", string(s.Spec.Type))
	case corev1.ServiceTypeNodePort:
		if !isFrontendService {
			c.fail(o.res, "spec.type", "no NodePort Service but frontend-service", string(s.Spec.Type))
		}
	}
	if len(s.Spec.ExternalIPs) > 0 {
		c.fail(o.res, "spec.externalIPs", "none (only frontend-service's NodePort is exposed)", fmt.Sprint(s.Spec.ExternalIPs))
	}
}

// servesApp reports whether traffic sent to the Service ns/name reaches the
// app's pods: the seed's Services, or another Service of the set selecting
// them (which the Service rule reports on its own).
func servesApp(ns, name string, apps []app, objs []exposureObject) (app, bool) {
	if !inAppNamespace(ns) {
		return app{}, false
	}
	for _, a := range apps {
		if name == a.service {
			return a, true
		}
	}
	for _, o := range objs {
		if s, ok := o.obj.(*corev1.Service); ok && s.Name == name && (o.ns == ns || o.ns == "" || ns == "") {
			if a, ok := selectedApp(o.ns, s.Spec.Selector, apps); ok {
				return a, true
			}
		}
	}
	return app{}, false
}

func (c *checker) ingressExposure(o exposureObject, ing *networkingv1.Ingress, apps []app, objs []exposureObject) {
	check := func(field string, b *networkingv1.IngressBackend) {
		if b == nil || b.Service == nil {
			return
		}
		if a, ok := servesApp(o.ns, b.Service.Name, apps, objs); ok {
			c.fail(o.res, field, fmt.Sprintf("no Ingress to the %s pods (only frontend-service's NodePort is exposed)", a.name), b.Service.Name)
		}
	}
	check("spec.defaultBackend.service.name", ing.Spec.DefaultBackend)
	for i, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for j := range r.HTTP.Paths {
			check(fmt.Sprintf("spec.rules[%d].http.paths[%d].backend.service.name", i, j), &r.HTTP.Paths[j].Backend)
		}
	}
}

// gatewayGroup is the Gateway API's group. Its routes are not in the
// Kubernetes scheme (they are CRDs); the loader does not type them, so they
// are read unstructured, by the fields every route kind (HTTPRoute,
// GRPCRoute, TLSRoute, TCPRoute, UDPRoute) shares:
// spec.rules[].backendRefs[] and a request mirror filter's backendRef.
const gatewayGroup = "gateway.networking.k8s.io"

func (c *checker) routeExposure(o exposureObject, u *unstructured.Unstructured, apps []app, objs []exposureObject) {
	rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
	for i, r := range rules {
		rule, _ := r.(map[string]any)
		refs, _, _ := unstructured.NestedSlice(rule, "backendRefs")
		for j, ref := range refs {
			c.routeBackend(o, fmt.Sprintf("spec.rules[%d].backendRefs[%d]", i, j), ref, apps, objs)
		}
		filters, _, _ := unstructured.NestedSlice(rule, "filters")
		for j, f := range filters {
			fm, _ := f.(map[string]any)
			if ref, ok, _ := unstructured.NestedMap(fm, "requestMirror", "backendRef"); ok {
				c.routeBackend(o, fmt.Sprintf("spec.rules[%d].filters[%d].requestMirror.backendRef", i, j), ref, apps, objs)
			}
		}
	}
}

// routeBackend judges one Gateway API BackendObjectReference: group "" and
// kind Service by default, namespace the route's by default.
func (c *checker) routeBackend(o exposureObject, field string, ref any, apps []app, objs []exposureObject) {
	m, _ := ref.(map[string]any)
	group, _, _ := unstructured.NestedString(m, "group")
	kind, found, _ := unstructured.NestedString(m, "kind")
	if !found {
		kind = "Service"
	}
	if group != "" || kind != "Service" {
		return
	}
	name, _, _ := unstructured.NestedString(m, "name")
	ns, found, _ := unstructured.NestedString(m, "namespace")
	if !found {
		ns = o.ns
	}
	if a, ok := servesApp(ns, name, apps, objs); ok {
		c.fail(o.res, field+".name", fmt.Sprintf("no %s to the %s pods (only frontend-service's NodePort is exposed)", o.obj.GetObjectKind().GroupVersionKind().Kind, a.name), name)
	}
}

func (c *checker) podExposure(o exposureObject, p podTemplate, apps []app) {
	if !o.seed && inAppNamespace(o.ns) {
		for _, a := range apps {
			if slices.ContainsFunc(a.selectors, func(s labels.Selector) bool { return s.Matches(labels.Set(p.meta.Labels)) }) {
				c.fail(o.res, p.field("metadata.labels"), fmt.Sprintf("no pod but Deployment %s's with labels the %s Service or Deployment selects", a.name, a.name), p.meta.Labels)
			}
		}
	}
	if p.spec.HostNetwork {
		c.fail(o.res, p.field("spec.hostNetwork"), "false (the pod's ports stay off the node; only frontend-service's NodePort is exposed)", "true")
	}
	for _, ctr := range allContainers(p.spec) {
		for i, port := range ctr.ports {
			if port.HostPort != 0 {
				c.fail(o.res, p.field(fmt.Sprintf("spec.%s[%s].ports[%d].hostPort", ctr.list, ctr.name, i)), "unset (only frontend-service's NodePort is exposed)", port.HostPort)
			}
		}
	}
}
