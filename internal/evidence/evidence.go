// Package evidence writes what a failed live check leaves behind for a
// person: the objects involved as YAML, events, current and previous pod
// logs, EndpointSlices, PVs and PVCs. Secret data never reaches disk: every
// Secret is written with its values replaced.
package evidence

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// Redacted is what a Secret value is replaced with.
const Redacted = "<redacted>"

// RedactSecret returns a copy of s whose values are gone (keys stay).
func RedactSecret(s *corev1.Secret) *corev1.Secret {
	c := s.DeepCopy()
	for k := range c.Data {
		c.Data[k] = []byte(Redacted)
	}
	for k := range c.StringData {
		c.StringData[k] = Redacted
	}
	// kubectl's last-applied annotation would carry the values too.
	delete(c.Annotations, corev1.LastAppliedConfigAnnotation)
	c.ManagedFields = nil
	return c
}

// Collect dumps the state of the namespaces (and the cluster's PVs and
// nodes) under dir. It keeps going past errors and returns them joined.
func Collect(ctx context.Context, cs kubernetes.Interface, dir string, namespaces ...string) error {
	var errs []error
	keep := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	pvs, err := cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	keep(err)
	if err == nil {
		keep(writeYAML(filepath.Join(dir, "persistentvolumes.yaml"), pvs))
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	keep(err)
	if err == nil {
		keep(writeYAML(filepath.Join(dir, "nodes.yaml"), nodes))
	}
	for _, ns := range namespaces {
		nsDir := filepath.Join(dir, ns)
		if err := os.MkdirAll(nsDir, 0o755); err != nil {
			return err
		}
		keep(collectNamespace(ctx, cs, nsDir, ns))
	}
	return errors.Join(errs...)
}

func collectNamespace(ctx context.Context, cs kubernetes.Interface, dir, ns string) error {
	var errs []error
	dump := func(name string, obj runtime.Object, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s/%s: %w", ns, name, err))
			return
		}
		if err := writeYAML(filepath.Join(dir, name+".yaml"), obj); err != nil {
			errs = append(errs, err)
		}
	}
	opts := metav1.ListOptions{}
	deps, err := cs.AppsV1().Deployments(ns).List(ctx, opts)
	dump("deployments", deps, err)
	rss, err := cs.AppsV1().ReplicaSets(ns).List(ctx, opts)
	dump("replicasets", rss, err)
	svcs, err := cs.CoreV1().Services(ns).List(ctx, opts)
	dump("services", svcs, err)
	eps, err := cs.DiscoveryV1().EndpointSlices(ns).List(ctx, opts)
	dump("endpointslices", eps, err)
	cms, err := cs.CoreV1().ConfigMaps(ns).List(ctx, opts)
	dump("configmaps", cms, err)
	pvcs, err := cs.CoreV1().PersistentVolumeClaims(ns).List(ctx, opts)
	dump("persistentvolumeclaims", pvcs, err)
	jobs, err := cs.BatchV1().Jobs(ns).List(ctx, opts)
	dump("jobs", jobs, err)
	events, err := cs.CoreV1().Events(ns).List(ctx, opts)
	dump("events", events, err)
	secrets, err := cs.CoreV1().Secrets(ns).List(ctx, opts)
	if err == nil {
		for i := range secrets.Items {
			secrets.Items[i] = *RedactSecret(&secrets.Items[i])
		}
	}
	dump("secrets-redacted", secrets, err)
	pods, err := cs.CoreV1().Pods(ns).List(ctx, opts)
	dump("pods", pods, err)
	if err != nil {
		return errors.Join(errs...)
	}
	logDir := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	for _, p := range pods.Items {
		started := map[string]bool{}
		for _, st := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			started[st.Name] = st.State.Running != nil || st.State.Terminated != nil || st.RestartCount > 0
		}
		for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
			for _, previous := range []bool{false, true} {
				raw, err := cs.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{Container: c.Name, Previous: previous}).DoRaw(ctx)
				if err != nil {
					// No previous instance, or never started: nothing to read.
					// A started container whose log cannot be read is a gap.
					if !previous && started[c.Name] {
						errs = append(errs, fmt.Errorf("%s/%s container %s log: %w", ns, p.Name, c.Name, err))
					}
					continue
				}
				suffix := ".log"
				if previous {
					suffix = ".previous.log"
				}
				if err := os.WriteFile(filepath.Join(logDir, p.Name+"_"+c.Name+suffix), raw, 0o644); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// writeYAML writes a list without managed fields; Secrets never come here
// unredacted (collectNamespace redacts them first).
func writeYAML(path string, obj runtime.Object) error {
	if gvks, _, err := scheme.Scheme.ObjectKinds(obj); err == nil && len(gvks) > 0 {
		obj.GetObjectKind().SetGroupVersionKind(gvks[0])
	}
	if s, ok := obj.(*corev1.Secret); ok {
		obj = RedactSecret(s)
	}
	raw, err := yaml.Marshal(obj)
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o644)
}
