package staticcheck

import (
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/spec"
)

// expectedObjects are the seed's objects as the API server stores them: built
// from the typed spec (the one place the seed's values live), then defaulted
// as the server defaults them. The whole-object comparison holds every field
// of an object in the set to its expected twin.
func expectedObjects(p manifests.Profile) map[manifests.Key]runtime.Object {
	expectedOnce.Do(func() {
		for _, prof := range []manifests.Profile{manifests.Default, manifests.Persistent} {
			m := map[manifests.Key]runtime.Object{}
			for _, o := range seedObjects(seed, prof) {
				m[keyOf(o)] = defaulted(o)
			}
			expectedByProfile[prof] = m
		}
	})
	return expectedByProfile[p]
}

var (
	expectedOnce      sync.Once
	expectedByProfile = map[manifests.Profile]map[manifests.Key]runtime.Object{}
)

func keyOf(o runtime.Object) manifests.Key {
	m := o.(metav1.Object)
	return manifests.Key{Kind: o.GetObjectKind().GroupVersionKind().Kind, Namespace: m.GetNamespace(), Name: m.GetName()}
}

func meta(name, namespace string, labels map[string]string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: labels}
}

// seedObjects writes the seed as typed objects, with only the fields the
// seed sets (the Secret's values are the credential rules' business, not
// the spec's: its data is left out of the comparison).
func seedObjects(a spec.App, p manifests.Profile) []runtime.Object {
	objs := []runtime.Object{
		&corev1.Namespace{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: meta(a.Namespace.Name, "", a.Namespace.Labels),
		},
		&corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: meta(a.ConfigMap.Name, spec.Namespace, a.ConfigMap.Labels),
			Data:       a.ConfigMap.Data,
		},
		&corev1.Secret{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
			ObjectMeta: meta(a.Secret.Name, spec.Namespace, a.Secret.Labels),
			Type:       corev1.SecretType(a.Secret.Type),
		},
		seedDeployment(a.Backend.Deployment, a.Uploads, p),
		seedService(a.Backend.Service),
		seedDeployment(a.Frontend.Deployment, a.Uploads, p),
		seedService(a.Frontend.Service),
	}
	// The PV and PVC are the persistent variant's, but a default set may
	// hold them too (PV-1 and PVC-1 then check them): they are expected alike.
	{
		pv, pvc := a.Uploads.PV, a.Uploads.PVC
		hostPathType := corev1.HostPathType(pv.HostPathType)
		var modes, claimModes []corev1.PersistentVolumeAccessMode
		for _, m := range pv.AccessModes {
			modes = append(modes, corev1.PersistentVolumeAccessMode(m))
		}
		for _, m := range pvc.AccessModes {
			claimModes = append(claimModes, corev1.PersistentVolumeAccessMode(m))
		}
		objs = append(objs,
			&corev1.PersistentVolume{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolume"},
				ObjectMeta: meta(pv.Name, "", pv.Labels),
				Spec: corev1.PersistentVolumeSpec{
					Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(pv.Capacity)},
					AccessModes: modes, StorageClassName: pv.StorageClass,
					PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimPolicy(pv.ReclaimPolicy),
					PersistentVolumeSource: corev1.PersistentVolumeSource{
						HostPath: &corev1.HostPathVolumeSource{Path: pv.HostPath, Type: &hostPathType},
					},
				},
			},
			&corev1.PersistentVolumeClaim{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
				ObjectMeta: meta(pvc.Name, spec.Namespace, pvc.Labels),
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes:      claimModes,
					StorageClassName: ptrTo(pvc.StorageClass),
					Resources: corev1.VolumeResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(pvc.Request)},
					},
				},
			})
	}
	return objs
}

func seedService(s spec.ServiceSpec) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: meta(s.Name, spec.Namespace, s.Labels),
		Spec: corev1.ServiceSpec{
			Type:            corev1.ServiceType(s.Type),
			Selector:        s.Selector,
			SessionAffinity: corev1.ServiceAffinity(s.SessionAffinity),
			Ports: []corev1.ServicePort{{
				Name: s.PortName, Port: s.Port, TargetPort: intstr.FromInt32(s.TargetPort),
				NodePort: s.NodePort, Protocol: corev1.Protocol(s.Protocol),
			}},
		},
	}
}

func seedProbe(p spec.Probe) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: p.Path, Port: intstr.FromInt32(p.Port)}},
		InitialDelaySeconds: p.InitialDelaySeconds, PeriodSeconds: p.PeriodSeconds,
		FailureThreshold: p.FailureThreshold, TimeoutSeconds: p.TimeoutSeconds,
	}
}

func seedDeployment(d spec.DeploymentSpec, u spec.UploadsSpec, p manifests.Profile) *appsv1.Deployment {
	c := d.Container
	ctr := corev1.Container{
		Name: c.Name, Image: c.Image, ImagePullPolicy: corev1.PullPolicy(c.PullPolicy),
		Ports: []corev1.ContainerPort{{Name: c.PortName, ContainerPort: c.Port, Protocol: corev1.Protocol(c.Protocol)}},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceMemory: resource.MustParse(c.Resources.RequestsMemory),
				corev1.ResourceCPU:    resource.MustParse(c.Resources.RequestsCPU),
			},
			Limits: corev1.ResourceList{
				corev1.ResourceMemory: resource.MustParse(c.Resources.LimitsMemory),
				corev1.ResourceCPU:    resource.MustParse(c.Resources.LimitsCPU),
			},
		},
		StartupProbe: seedProbe(c.Startup), LivenessProbe: seedProbe(c.Liveness), ReadinessProbe: seedProbe(c.Readiness),
	}
	for _, name := range c.EnvFromConfigMaps {
		ctr.EnvFrom = append(ctr.EnvFrom, corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}})
	}
	for _, name := range c.EnvFromSecrets {
		ctr.EnvFrom = append(ctr.EnvFrom, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}})
	}
	for _, e := range c.Env {
		ctr.Env = append(ctr.Env, corev1.EnvVar{Name: e.Name, Value: e.Value})
	}
	pod := corev1.PodSpec{Containers: []corev1.Container{ctr}}
	if c.UploadsMount != "" {
		pod.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: u.VolumeName, MountPath: c.UploadsMount}}
		vol := corev1.Volume{Name: u.VolumeName, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
		if p == manifests.Persistent {
			vol.VolumeSource = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: u.PVC.Name}}
		}
		pod.Volumes = []corev1.Volume{vol}
	}
	maxSurge, maxUnavailable := intstr.FromInt32(d.MaxSurge), intstr.FromInt32(d.MaxUnavailable)
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: meta(d.Name, spec.Namespace, d.Labels),
		Spec: appsv1.DeploymentSpec{
			Replicas: ptrTo(d.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: d.Selector},
			Strategy: appsv1.DeploymentStrategy{
				Type:          appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &maxSurge, MaxUnavailable: &maxUnavailable},
			},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: d.Labels}, Spec: pod},
		},
	}
}
