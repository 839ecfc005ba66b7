package staticcheck

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/puretasks/k8s-conformance/internal/manifests"
)

// typedObject returns the object as its k8s.io/api type. The loader returns
// typed objects; an unstructured one (a renderer's untyped object, a hook)
// of a kind the Kubernetes scheme knows is converted, so every rule reads
// one shape. An unstructured object of a kind outside the scheme (a Gateway
// API route) is returned as it is.
func typedObject(o manifests.Object) (runtime.Object, error) {
	u, ok := o.Object.(*unstructured.Unstructured)
	if !ok {
		return o.Object, nil
	}
	gvk := u.GroupVersionKind()
	if !scheme.Scheme.Recognizes(gvk) {
		return u, nil
	}
	typed, err := scheme.Scheme.New(gvk)
	if err != nil {
		return nil, err
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, typed, true); err != nil {
		return nil, err
	}
	return typed, nil
}

// podTemplate is one pod an object runs, and where it sits in the object.
type podTemplate struct {
	path string // field path of the pod's metadata and spec: "spec.template", "" for a Pod
	meta *metav1.ObjectMeta
	spec *corev1.PodSpec
}

// field returns the path of a field of the pod: "spec.template.spec.hostNetwork".
func (p podTemplate) field(f string) string { return join(p.path, f) }

// podTemplates returns the pods of every workload kind of the core and apps
// APIs and of batch: a Pod itself, the template of a Deployment, StatefulSet,
// DaemonSet, ReplicaSet, ReplicationController, Job, PodTemplate, and a
// CronJob's job template.
func podTemplates(obj runtime.Object) []podTemplate {
	tmpl := func(path string, t *corev1.PodTemplateSpec) []podTemplate {
		return []podTemplate{{path: path, meta: &t.ObjectMeta, spec: &t.Spec}}
	}
	switch x := obj.(type) {
	case *corev1.Pod:
		return []podTemplate{{path: "", meta: &x.ObjectMeta, spec: &x.Spec}}
	case *corev1.PodTemplate:
		return tmpl("template", &x.Template)
	case *corev1.ReplicationController:
		if x.Spec.Template != nil {
			return tmpl("spec.template", x.Spec.Template)
		}
	case *appsv1.Deployment:
		return tmpl("spec.template", &x.Spec.Template)
	case *appsv1.StatefulSet:
		return tmpl("spec.template", &x.Spec.Template)
	case *appsv1.DaemonSet:
		return tmpl("spec.template", &x.Spec.Template)
	case *appsv1.ReplicaSet:
		return tmpl("spec.template", &x.Spec.Template)
	case *batchv1.Job:
		return tmpl("spec.template", &x.Spec.Template)
	case *batchv1.CronJob:
		return tmpl("spec.jobTemplate.spec.template", &x.Spec.JobTemplate.Spec.Template)
	}
	return nil
}

// allContainers returns every container of a pod with its list's field name.
func allContainers(p *corev1.PodSpec) []namedContainer {
	var out []namedContainer
	for i := range p.InitContainers {
		out = append(out, namedContainer{"initContainers", p.InitContainers[i].Name, p.InitContainers[i].Ports})
	}
	for i := range p.Containers {
		out = append(out, namedContainer{"containers", p.Containers[i].Name, p.Containers[i].Ports})
	}
	for i := range p.EphemeralContainers {
		out = append(out, namedContainer{"ephemeralContainers", p.EphemeralContainers[i].Name, p.EphemeralContainers[i].Ports})
	}
	return out
}

type namedContainer struct {
	list, name string
	ports      []corev1.ContainerPort
}
