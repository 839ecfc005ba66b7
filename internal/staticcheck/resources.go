package staticcheck

import (
	"fmt"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/puretasks/k8s-conformance/internal/manifests"
)

func checkNamespace(c *checker) {
	ns, res, ok := mustFind[*corev1.Namespace](c, "Namespace", seed.Namespace.Name)
	if !ok {
		return
	}
	c.labelFloor(res, "metadata.labels", seed.Namespace.Labels, ns.Labels)
}

func checkConfigMap(c *checker) {
	want := seed.ConfigMap
	cm, res, ok := mustFind[*corev1.ConfigMap](c, "ConfigMap", want.Name)
	if !ok {
		return
	}
	c.namespaced(res, cm.Namespace)
	c.labelFloor(res, "metadata.labels", want.Labels, cm.Labels)
	c.mapExactly(res, "data", want.Data, cm.Data, false)
	if len(cm.BinaryData) > 0 {
		c.fail(res, "binaryData", nil, slices.Sorted(maps.Keys(cm.BinaryData)))
	}
}

func checkSecret(c *checker) {
	want := seed.Secret
	s, res, ok := mustFind[*corev1.Secret](c, "Secret", want.Name)
	if !ok {
		return
	}
	c.namespaced(res, s.Namespace)
	expect(c, res, "type", want.Type, string(s.Type))
	c.labelFloor(res, "metadata.labels", want.Labels, s.Labels)
	got := secretKeys(s)
	for _, k := range want.Keys {
		if _, ok := got[k]; !ok {
			c.fail(res, "data."+k, "present", nil)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if !slices.Contains(want.Keys, k) {
			c.fail(res, "data."+k, nil, "present (not in the seed)")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(want.Fixed)) {
		if v, ok := got[k]; ok && string(v) != want.Fixed[k] {
			// Fixed values are spec values, not credentials; printing them is safe
			// only when they are short and printable, so show the length instead.
			c.fail(res, "data."+k+" (decoded)", want.Fixed[k], fmt.Sprintf("a different value (%d bytes)", len(v)))
		}
	}
}

func checkSecretBackendOnly(c *checker) {
	d, res, ok := c.deployment(frontend)
	if !ok {
		return
	}
	pod := d.Spec.Template.Spec
	all := append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...)
	for _, ctr := range all {
		for i, ef := range ctr.EnvFrom {
			if ef.SecretRef != nil {
				c.fail(res, fmt.Sprintf("containers[%s].envFrom[%d].secretRef", ctr.Name, i), nil, ef.SecretRef.Name)
			}
		}
		for _, e := range ctr.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				c.fail(res, fmt.Sprintf("containers[%s].env[%s].valueFrom.secretKeyRef", ctr.Name, e.Name), nil, e.ValueFrom.SecretKeyRef.Name)
			}
		}
	}
	for _, v := range pod.Volumes {
		if v.Secret != nil {
			c.fail(res, "spec.template.spec.volumes["+v.Name+"].secret", nil, v.Secret.SecretName)
		}
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.Secret != nil {
					c.fail(res, "spec.template.spec.volumes["+v.Name+"].projected.sources.secret", nil, src.Secret.Name)
				}
			}
		}
	}
	for _, ref := range pod.ImagePullSecrets {
		if ref.Name == seed.Secret.Name {
			c.fail(res, "spec.template.spec.imagePullSecrets", nil, ref.Name)
		}
	}
}

func checkPV(c *checker) {
	want := seed.Uploads.PV
	pv, res, ok := optionalInDefault[*corev1.PersistentVolume](c, "PersistentVolume", want.Name)
	if !ok {
		return
	}
	expect(c, res, "metadata.namespace", "", pv.Namespace)
	c.labelFloor(res, "metadata.labels", want.Labels, pv.Labels)
	c.quantity(res, "spec.capacity.storage", want.Capacity, pv.Spec.Capacity[corev1.ResourceStorage])
	if len(pv.Spec.Capacity) != 1 {
		c.fail(res, "spec.capacity", "storage only", fmt.Sprint(pv.Spec.Capacity))
	}
	c.accessModes(res, want.AccessModes, pv.Spec.AccessModes)
	expect(c, res, "spec.persistentVolumeReclaimPolicy", want.ReclaimPolicy, string(pv.Spec.PersistentVolumeReclaimPolicy))
	expect(c, res, "spec.storageClassName", want.StorageClass, pv.Spec.StorageClassName)
	if pv.Spec.HostPath == nil {
		c.fail(res, "spec.hostPath", "hostPath "+want.HostPath, "another volume source")
		return
	}
	expect(c, res, "spec.hostPath.path", want.HostPath, pv.Spec.HostPath.Path)
	gotType := ""
	if pv.Spec.HostPath.Type != nil {
		gotType = string(*pv.Spec.HostPath.Type)
	}
	expect(c, res, "spec.hostPath.type", want.HostPathType, gotType)
}

func checkPVC(c *checker) {
	want := seed.Uploads.PVC
	pvc, res, ok := optionalInDefault[*corev1.PersistentVolumeClaim](c, "PersistentVolumeClaim", want.Name)
	if !ok {
		return
	}
	c.namespaced(res, pvc.Namespace)
	c.labelFloor(res, "metadata.labels", want.Labels, pvc.Labels)
	c.accessModes(res, want.AccessModes, pvc.Spec.AccessModes)
	c.quantity(res, "spec.resources.requests.storage", want.Request, pvc.Spec.Resources.Requests[corev1.ResourceStorage])
	class := ""
	if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	expect(c, res, "spec.storageClassName", want.StorageClass, class)
}

// optionalInDefault finds an object the seed marks optional: absent is fine
// in the default set, a finding in the persistent-uploads variant.
func optionalInDefault[T any](c *checker, kind, name string) (T, string, bool) {
	t, res, ok := find[T](c, kind, name)
	switch {
	case ok:
	case c.profile == manifests.Persistent:
		c.fail(res, "(object)", "present in the "+string(manifests.Persistent)+" variant", c.missingActual(kind, name))
	default:
		c.skip(fmt.Sprintf("set %s holds no %s %s (optional: only the %s variant has it)", c.set.Name, kind, name, manifests.Persistent))
	}
	return t, res, ok
}

func (c *checker) accessModes(res string, want []string, got []corev1.PersistentVolumeAccessMode) {
	var g []string
	for _, m := range got {
		g = append(g, string(m))
	}
	if !slices.Equal(want, g) {
		c.fail(res, "spec.accessModes", want, g)
	}
}
