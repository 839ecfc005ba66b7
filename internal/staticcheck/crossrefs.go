package staticcheck

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/puretasks/k8s-conformance/internal/manifests"
)

// checkCrossReferences holds the set to its own references, whatever the
// names: selectors select their pods, Service ports reach container ports,
// and every ConfigMap, Secret, claim, volume, PV and namespace named exists.
func checkCrossReferences(c *checker) {
	deps := manifests.Typed[*appsv1.Deployment](c.set)
	namespaces := map[string]bool{}
	for _, ns := range manifests.Typed[*corev1.Namespace](c.set) {
		namespaces[ns.Name] = true
	}
	for _, o := range c.set.Objects {
		if ns := o.GetNamespace(); ns != "" && !namespaces[ns] {
			c.fail(fmt.Sprintf("%s %s (%s)", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), o.Source), "metadata.namespace", "a Namespace in the set", ns)
		}
	}
	for _, d := range deps {
		res := "Deployment " + d.Name
		if d.Spec.Selector != nil {
			sel := labels.SelectorFromSet(d.Spec.Selector.MatchLabels)
			if !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				c.fail(res, "spec.selector.matchLabels", "matches spec.template.metadata.labels "+redactedMap(d.Spec.Template.Labels), d.Spec.Selector.MatchLabels)
			}
		}
		c.podReferences(res, d.Namespace, &d.Spec.Template.Spec)
	}
	for _, s := range manifests.Typed[*corev1.Service](c.set) {
		res := "Service " + s.Name
		var selected []*appsv1.Deployment
		if len(s.Spec.Selector) > 0 {
			sel := labels.SelectorFromSet(s.Spec.Selector)
			for _, d := range deps {
				if d.Namespace == s.Namespace && sel.Matches(labels.Set(d.Spec.Template.Labels)) {
					selected = append(selected, d)
				}
			}
		}
		if len(selected) == 0 {
			c.fail(res, "spec.selector", "selects the pods of a Deployment in "+s.Namespace, redactedMap(s.Spec.Selector)+" selects none")
			continue
		}
		for i, p := range s.Spec.Ports {
			for _, d := range selected {
				if !podExposes(&d.Spec.Template.Spec, p) {
					c.fail(res, fmt.Sprintf("spec.ports[%d].targetPort", i), "a "+string(p.Protocol)+" container port of Deployment "+d.Name+" "+containerPorts(&d.Spec.Template.Spec), p.TargetPort.String())
				}
			}
		}
	}
	c.storageReferences()
}

func podExposes(pod *corev1.PodSpec, p corev1.ServicePort) bool {
	proto := p.Protocol
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	for _, ctr := range pod.Containers {
		for _, cp := range ctr.Ports {
			cpProto := cp.Protocol
			if cpProto == "" {
				cpProto = corev1.ProtocolTCP
			}
			if cpProto != proto {
				continue
			}
			if (p.TargetPort.StrVal != "" && cp.Name == p.TargetPort.StrVal) ||
				(p.TargetPort.StrVal == "" && cp.ContainerPort == p.TargetPort.IntVal) {
				return true
			}
		}
	}
	return false
}

func containerPorts(pod *corev1.PodSpec) string {
	var out []string
	for _, ctr := range pod.Containers {
		for _, cp := range ctr.Ports {
			out = append(out, fmt.Sprintf("%s=%d", cp.Name, cp.ContainerPort))
		}
	}
	return fmt.Sprint(out)
}

func (c *checker) exists(kind, ns, name string) bool {
	_, ok := c.set.Find(kind, ns, name)
	return ok
}

func (c *checker) podReferences(res, ns string, pod *corev1.PodSpec) {
	volumes := map[string]bool{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = true
		switch {
		case v.ConfigMap != nil && !optional(v.ConfigMap.Optional):
			c.ref(res, "volumes["+v.Name+"].configMap.name", "ConfigMap", ns, v.ConfigMap.Name)
		case v.Secret != nil && !optional(v.Secret.Optional):
			c.ref(res, "volumes["+v.Name+"].secret.secretName", "Secret", ns, v.Secret.SecretName)
		case v.PersistentVolumeClaim != nil:
			c.ref(res, "volumes["+v.Name+"].persistentVolumeClaim.claimName", "PersistentVolumeClaim", ns, v.PersistentVolumeClaim.ClaimName)
		}
	}
	all := append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...)
	for _, ctr := range all {
		f := "containers[" + ctr.Name + "]"
		for i, ef := range ctr.EnvFrom {
			if ef.ConfigMapRef != nil && !optional(ef.ConfigMapRef.Optional) {
				c.ref(res, fmt.Sprintf("%s.envFrom[%d].configMapRef", f, i), "ConfigMap", ns, ef.ConfigMapRef.Name)
			}
			if ef.SecretRef != nil && !optional(ef.SecretRef.Optional) {
				c.ref(res, fmt.Sprintf("%s.envFrom[%d].secretRef", f, i), "Secret", ns, ef.SecretRef.Name)
			}
		}
		for _, e := range ctr.Env {
			if e.ValueFrom == nil {
				continue
			}
			if r := e.ValueFrom.ConfigMapKeyRef; r != nil && !optional(r.Optional) {
				c.ref(res, f+".env["+e.Name+"].configMapKeyRef", "ConfigMap", ns, r.Name)
			}
			if r := e.ValueFrom.SecretKeyRef; r != nil && !optional(r.Optional) {
				c.ref(res, f+".env["+e.Name+"].secretKeyRef", "Secret", ns, r.Name)
			}
		}
		for _, m := range ctr.VolumeMounts {
			if !volumes[m.Name] {
				c.fail(res, f+".volumeMounts["+m.Name+"]", "a volume of the pod", "no volume named "+m.Name)
			}
		}
	}
}

func optional(b *bool) bool { return b != nil && *b }

func (c *checker) ref(res, field, kind, ns, name string) {
	if !c.exists(kind, ns, name) {
		c.fail(res, field, fmt.Sprintf("a %s in %s named %q", kind, ns, name), "not in the set")
	}
}

// storageReferences: each claim can bind to a PV of the set and no PV is
// reserved for a claim the set does not have.
func (c *checker) storageReferences() {
	pvs := manifests.Typed[*corev1.PersistentVolume](c.set)
	for _, pv := range pvs {
		if ref := pv.Spec.ClaimRef; ref != nil {
			if !c.exists("PersistentVolumeClaim", ref.Namespace, ref.Name) {
				c.fail("PersistentVolume "+pv.Name, "spec.claimRef", "unset, or a claim of the set", ref.Namespace+"/"+ref.Name)
			}
		}
	}
	for _, pvc := range manifests.Typed[*corev1.PersistentVolumeClaim](c.set) {
		res := "PersistentVolumeClaim " + pvc.Name
		if pvc.Spec.VolumeName != "" && !c.exists("PersistentVolume", "", pvc.Spec.VolumeName) {
			c.fail(res, "spec.volumeName", "a PersistentVolume of the set", pvc.Spec.VolumeName)
		}
		bindable := false
		for _, pv := range pvs {
			if canBind(pvc, pv) {
				bindable = true
			}
		}
		if !bindable {
			c.fail(res, "spec", "a PersistentVolume of the set it can bind to (class, access modes, capacity, claimRef)", "none")
		}
	}
}

func canBind(pvc *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) bool {
	class := ""
	if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	if class != pv.Spec.StorageClassName {
		return false
	}
	if pvc.Spec.VolumeName != "" && pvc.Spec.VolumeName != pv.Name {
		return false
	}
	if ref := pv.Spec.ClaimRef; ref != nil && (ref.Name != pvc.Name || ref.Namespace != pvc.Namespace) {
		return false
	}
	for _, m := range pvc.Spec.AccessModes {
		found := false
		for _, pm := range pv.Spec.AccessModes {
			found = found || pm == m
		}
		if !found {
			return false
		}
	}
	req := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	capacity := pv.Spec.Capacity[corev1.ResourceStorage]
	return capacity.Cmp(req) >= 0
}
