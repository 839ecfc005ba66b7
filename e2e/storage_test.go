//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/spec"
)

// pvcNamespace holds the storage lane's copy of the backend: the default set's
// Deployment first (emptyDir), then the persistent variant's (PV, PVC and the
// backend's volume from the claim), then the default again.
const pvcNamespace = "pvc-check"

// backendPod returns the single current backend pod of ns.
func backendPod(ctx context.Context, ns string) (corev1.Pod, error) {
	if _, err := live.WaitDeployment(ctx, suite.Clientset, ns, spec.Seed.Backend.Deployment.Name, poll.Rollout); err != nil {
		return corev1.Pod{}, err
	}
	pods, err := live.Pods(ctx, suite.Clientset, ns, spec.Seed.Backend.Deployment.Selector)
	if err != nil || len(pods) != 1 {
		return corev1.Pod{}, fmt.Errorf("expected one backend pod in %s, got %d: %v", ns, len(pods), err)
	}
	return pods[0], nil
}

func upload(ctx context.Context, pod corev1.Pod, name, content string) error {
	code, raw, err := live.Proxy(ctx, suite.Clientset, "PUT", pod.Namespace, pod.Name, spec.Seed.Backend.Deployment.Container.Port, "/api/uploads/"+name, []byte(content))
	if err != nil {
		return err
	}
	if code != http.StatusCreated {
		return fmt.Errorf("PUT /api/uploads/%s on %s: %d %s", name, pod.Name, code, raw)
	}
	return nil
}

func download(ctx context.Context, pod corev1.Pod, name string) (int, string, error) {
	code, raw, err := live.Proxy(ctx, suite.Clientset, "GET", pod.Namespace, pod.Name, spec.Seed.Backend.Deployment.Container.Port, "/api/uploads/"+name, nil)
	return code, string(raw), err
}

// survivesDeletion writes a file through the backend pod, deletes the pod,
// and reads the file back through its replacement.
func survivesDeletion(ctx context.Context, r recorder, ns, label string) (bool, string, error) {
	before, err := backendPod(ctx, ns)
	if err != nil {
		return false, "", err
	}
	name := fmt.Sprintf("proof-%s-%06x.txt", label, rand.IntN(1<<24))
	content := "written by " + before.Name
	if err := upload(ctx, before, name, content); err != nil {
		return false, name, err
	}
	if err := suite.Clientset.CoreV1().Pods(ns).Delete(ctx, before.Name, metav1.DeleteOptions{}); err != nil {
		return false, name, fmt.Errorf("deleting %s: %w", before.Name, err)
	}
	err = poll.Until(ctx, poll.PodGone, func(ctx context.Context) (bool, error) {
		pods, err := live.Pods(ctx, suite.Clientset, ns, spec.Seed.Backend.Deployment.Selector)
		if err != nil {
			return false, nil
		}
		for _, p := range pods {
			if p.Name != before.Name && live.PodReady(&p) {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return false, name, fmt.Errorf("no ready replacement for %s: %w", before.Name, err)
	}
	after, err := backendPod(ctx, ns)
	if err != nil {
		return false, name, err
	}
	code, got, err := download(ctx, after, name)
	if err != nil {
		return false, name, fmt.Errorf("reading %s from %s: %w", name, after.Name, err)
	}
	r.measure("%s: wrote %s via %s, deleted it, read via %s: %d", label, name, before.Name, after.Name, code)
	return code == http.StatusOK && got == content, name, nil
}

func storageObjects(o client.Object) bool {
	switch x := o.(type) {
	case *corev1.ConfigMap, *corev1.Secret, *corev1.PersistentVolume, *corev1.PersistentVolumeClaim:
		return true
	case *appsv1.Deployment:
		return x.Name == spec.Seed.Backend.Deployment.Name
	}
	return false
}

// startStorageLane runs L-PVC on its copy, in the background.
func (p *probeBlock) startStorageLane(ctx context.Context) {
	o := &outcome{id: "L-PVC", name: pvcNamespace}
	p.mu.Lock()
	p.outcomes = append(p.outcomes, o)
	p.namespaces = append(p.namespaces, pvcNamespace)
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		start := time.Now()
		if err := storageLane(ctx, o); err != nil {
			o.fail("namespace "+pvcNamespace, "%v", err)
		}
		suite.Report.Phase("storage lane: L-PVC (copy in "+pvcNamespace+")", time.Since(start), 0)
	}()
}

func storageLane(ctx context.Context, o *outcome) error {
	u := spec.Seed.Uploads
	if suite.Sets[manifests.Persistent] == nil {
		return fmt.Errorf("no persistent-uploads variant in %s", suite.ManifestsDir)
	}
	if err := createNamespace(ctx, pvcNamespace, nil); err != nil {
		return err
	}
	// 1. The default set: emptyDir loses the file with the pod.
	if err := live.ApplySet(ctx, suite.Client, copyInto(manifests.Default, pvcNamespace, storageObjects)).Err(); err != nil {
		return fmt.Errorf("applying the default backend: %w", err)
	}
	ok, name, err := survivesDeletion(ctx, o, pvcNamespace, "emptydir")
	if err != nil {
		return err
	}
	if ok {
		o.fail("Deployment backend", "expected %s to be lost with the pod (emptyDir), but it survived", name)
	}
	// 2. The persistent variant: PV and PVC bind, the claim is mounted.
	if err := live.ApplySet(ctx, suite.Client, copyInto(manifests.Persistent, pvcNamespace, storageObjects)).Err(); err != nil {
		return fmt.Errorf("applying the variant: %w", err)
	}
	start := time.Now()
	var last string
	err = poll.Until(ctx, poll.PVCBound, func(ctx context.Context) (bool, error) {
		pvc, err1 := suite.Clientset.CoreV1().PersistentVolumeClaims(pvcNamespace).Get(ctx, u.PVC.Name, metav1.GetOptions{})
		pv, err2 := suite.Clientset.CoreV1().PersistentVolumes().Get(ctx, u.PV.Name, metav1.GetOptions{})
		if err1 != nil || err2 != nil {
			last = fmt.Sprintf("%v %v", err1, err2)
			return false, nil
		}
		ref := "<none>"
		if pv.Spec.ClaimRef != nil {
			ref = pv.Spec.ClaimRef.Namespace + "/" + pv.Spec.ClaimRef.Name
		}
		last = fmt.Sprintf("PVC %s (volume %q), PV %s (claimRef %s)", pvc.Status.Phase, pvc.Spec.VolumeName, pv.Status.Phase, ref)
		return pvc.Status.Phase == corev1.ClaimBound && pv.Status.Phase == corev1.VolumeBound &&
			pvc.Spec.VolumeName == u.PV.Name && ref == pvcNamespace+"/"+u.PVC.Name, nil
	})
	if err != nil {
		return fmt.Errorf("expected PV %s and PVC %s bound to each other: %v; last: %s", u.PV.Name, u.PVC.Name, err, last)
	}
	o.measure("bound in %s: %s", time.Since(start).Round(100*time.Millisecond), last)
	pod, err := backendPod(ctx, pvcNamespace)
	if err != nil {
		return err
	}
	claim, mount := "", ""
	for _, v := range pod.Spec.Volumes {
		if v.Name == u.VolumeName && v.PersistentVolumeClaim != nil {
			claim = v.PersistentVolumeClaim.ClaimName
		}
	}
	for _, m := range pod.Spec.Containers[0].VolumeMounts {
		if m.Name == u.VolumeName {
			mount = m.MountPath
		}
	}
	o.measure("backend pod %s mounts claim %q at %q", pod.Name, claim, mount)
	if claim != u.PVC.Name || mount != spec.Seed.Backend.Deployment.Container.UploadsMount {
		o.fail("pod "+pod.Name, "expected claim %s mounted at %s, got claim %q at %q", u.PVC.Name, spec.Seed.Backend.Deployment.Container.UploadsMount, claim, mount)
	}
	// 3. With the claim, the file survives the pod.
	ok, name, err = survivesDeletion(ctx, o, pvcNamespace, "claim")
	if err != nil {
		return err
	}
	if !ok {
		o.fail("PersistentVolumeClaim "+u.PVC.Name, "expected %s to survive the pod's deletion", name)
	}
	if suite.HostDataDir != "" {
		host := filepath.Join(suite.HostDataDir, filepath.Base(u.PV.HostPath), name)
		if _, err := os.Stat(host); err != nil {
			o.fail("PersistentVolume "+u.PV.Name, "expected the file on the node's %s (host %s): %v", u.PV.HostPath, host, err)
		} else {
			o.measure("file present under hostPath %s on the node", u.PV.HostPath)
		}
	}
	// 4. Back to emptyDir, then the claim goes: the PV is Released, not deleted.
	if err := live.ApplySet(ctx, suite.Client, copyInto(manifests.Default, pvcNamespace, func(o client.Object) bool {
		d, ok := o.(*appsv1.Deployment)
		return ok && d.Name == spec.Seed.Backend.Deployment.Name
	})).Err(); err != nil {
		return fmt.Errorf("restoring the default backend: %w", err)
	}
	if _, err := backendPod(ctx, pvcNamespace); err != nil {
		return err
	}
	if err := suite.Clientset.CoreV1().PersistentVolumeClaims(pvcNamespace).Delete(ctx, u.PVC.Name, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("deleting the claim: %w", err)
	}
	start = time.Now()
	var phase corev1.PersistentVolumePhase
	err = poll.Until(ctx, poll.PVReleased, func(ctx context.Context) (bool, error) {
		pv, err := suite.Clientset.CoreV1().PersistentVolumes().Get(ctx, u.PV.Name, metav1.GetOptions{})
		if err != nil {
			phase = "gone: " + corev1.PersistentVolumePhase(err.Error())
			return false, nil
		}
		phase = pv.Status.Phase
		return phase == corev1.VolumeReleased, nil
	})
	o.measure("PV %s after the claim was deleted: %s (%s)", u.PV.Name, phase, time.Since(start).Round(100*time.Millisecond))
	if err != nil {
		o.fail("PersistentVolume "+u.PV.Name, "expected Released (reclaim policy Retain), got %s", phase)
	}
	// Retained volumes are removed by hand; do it so the run leaves none.
	_ = suite.Clientset.CoreV1().PersistentVolumes().Delete(ctx, u.PV.Name, metav1.DeleteOptions{})
	return nil
}

func pvcFeature() features.Feature {
	return probeFeature("L-PVC", "PV and PVC bind; the backend mounts the claim; data survives pod deletion with the claim, not with emptyDir; the PV is Released, not deleted, after the claim goes")
}
