//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/spec"
)

// backendPod returns the single current backend pod.
func backendPod(ctx context.Context, t *testing.T, id string) corev1.Pod {
	t.Helper()
	if _, err := live.WaitDeployment(ctx, suite.Clientset, spec.Namespace, spec.Seed.Backend.Deployment.Name, poll.Rollout); err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	return podsOf(ctx, t, id, spec.Seed.Backend)[0]
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

// survivesDeletion writes a file through one backend pod, deletes the pod,
// and reads the file back through its replacement.
func survivesDeletion(ctx context.Context, t *testing.T, id, label string) (bool, string) {
	before := backendPod(ctx, t, id)
	name := fmt.Sprintf("proof-%s-%06x.txt", label, rand.IntN(1<<24))
	content := "written by " + before.Name
	if err := upload(ctx, before, name, content); err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	if err := suite.Clientset.CoreV1().Pods(spec.Namespace).Delete(ctx, before.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("%s: deleting %s: %v", id, before.Name, err)
	}
	err := poll.Until(ctx, poll.PodGone, func(ctx context.Context) (bool, error) {
		pods, err := live.Pods(ctx, suite.Clientset, spec.Namespace, spec.Seed.Backend.Deployment.Selector)
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
		t.Fatalf("%s: no ready replacement for %s: %v", id, before.Name, err)
	}
	after := backendPod(ctx, t, id)
	code, got, err := download(ctx, after, name)
	if err != nil {
		t.Fatalf("%s: reading %s from %s: %v", id, name, after.Name, err)
	}
	measure(t, id, "%s: wrote %s via %s, deleted it, read via %s: %d", label, name, before.Name, after.Name, code)
	return code == http.StatusOK && got == content, name
}

func pvcFeature() features.Feature {
	const id = "L-PVC"
	u := spec.Seed.Uploads
	return check(id, "PV and PVC bind; the backend mounts the claim; data survives pod deletion with the claim, not with emptyDir; the PV is Released, not deleted, after the claim goes").
		Assess("with the default emptyDir, a file does not survive pod deletion", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			requireAvailable(ctx, t, id)
			if ok, name := survivesDeletion(ctx, t, id, "emptydir"); ok {
				failf(t, id, "Deployment backend", "expected %s to be lost with the pod (emptyDir), but it survived", name)
			}
			return ctx
		}).
		Assess("the persistent-uploads variant binds PV and PVC and mounts the claim", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			requireAvailable(ctx, t, id)
			if suite.Sets[manifests.Persistent] == nil {
				t.Fatalf("%s: no persistent-uploads variant in %s", id, suite.ManifestsDir)
			}
			r := live.ApplySet(ctx, suite.Client, objectsOf(manifests.Persistent))
			if err := r.Err(); err != nil {
				t.Fatalf("%s: applying the variant: %v", id, err)
			}
			start := time.Now()
			var last string
			err := poll.Until(ctx, poll.PVCBound, func(ctx context.Context) (bool, error) {
				pvc, err1 := suite.Clientset.CoreV1().PersistentVolumeClaims(spec.Namespace).Get(ctx, u.PVC.Name, metav1.GetOptions{})
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
					pvc.Spec.VolumeName == u.PV.Name && ref == spec.Namespace+"/"+u.PVC.Name, nil
			})
			if err != nil {
				t.Fatalf("%s: expected PV %s and PVC %s bound to each other: %v; last: %s", id, u.PV.Name, u.PVC.Name, err, last)
			}
			measure(t, id, "bound in %s: %s", time.Since(start).Round(100*time.Millisecond), last)
			pod := backendPod(ctx, t, id)
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
			measure(t, id, "backend pod %s mounts claim %q at %q", pod.Name, claim, mount)
			if claim != u.PVC.Name || mount != spec.Seed.Backend.Deployment.Container.UploadsMount {
				failf(t, id, "pod "+pod.Name, "expected claim %s mounted at %s, got claim %q at %q", u.PVC.Name, spec.Seed.Backend.Deployment.Container.UploadsMount, claim, mount)
			}
			return ctx
		}).
		Assess("with the claim, a file survives pod deletion", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			ok, name := survivesDeletion(ctx, t, id, "claim")
			if !ok {
				failf(t, id, "PersistentVolumeClaim "+u.PVC.Name, "expected %s to survive the pod's deletion", name)
			}
			if suite.HostDataDir != "" {
				host := filepath.Join(suite.HostDataDir, filepath.Base(u.PV.HostPath), name)
				if _, err := os.Stat(host); err != nil {
					failf(t, id, "PersistentVolume "+u.PV.Name, "expected the file on the node's %s (host %s): %v", u.PV.HostPath, host, err)
				} else {
					measure(t, id, "file present under hostPath %s on the node", u.PV.HostPath)
				}
			}
			return ctx
		}).
		Assess("after the claim is deleted the PV is Released, not deleted", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			// Back to the default backend (emptyDir), so the claim is unused.
			for _, o := range objectsOf(manifests.Default) {
				if d, ok := o.(*appsv1.Deployment); ok && d.Name == spec.Seed.Backend.Deployment.Name {
					if err := live.ApplySet(ctx, suite.Client, []client.Object{d}).Err(); err != nil {
						t.Fatalf("%s: restoring the default backend: %v", id, err)
					}
				}
			}
			backendPod(ctx, t, id)
			if err := suite.Clientset.CoreV1().PersistentVolumeClaims(spec.Namespace).Delete(ctx, u.PVC.Name, metav1.DeleteOptions{}); err != nil {
				t.Fatalf("%s: deleting the claim: %v", id, err)
			}
			start := time.Now()
			var phase corev1.PersistentVolumePhase
			err := poll.Until(ctx, poll.PVReleased, func(ctx context.Context) (bool, error) {
				pv, err := suite.Clientset.CoreV1().PersistentVolumes().Get(ctx, u.PV.Name, metav1.GetOptions{})
				if err != nil {
					phase = "gone: " + corev1.PersistentVolumePhase(err.Error())
					return false, nil
				}
				phase = pv.Status.Phase
				return phase == corev1.VolumeReleased, nil
			})
			measure(t, id, "PV %s after the claim was deleted: %s (%s)", u.PV.Name, phase, time.Since(start).Round(100*time.Millisecond))
			if err != nil {
				failf(t, id, "PersistentVolume "+u.PV.Name, "expected Released (reclaim policy Retain), got %s", phase)
			}
			// Retained volumes are removed by hand; do it so the run leaves none.
			_ = suite.Clientset.CoreV1().PersistentVolumes().Delete(ctx, u.PV.Name, metav1.DeleteOptions{})
			return ctx
		}).
		Feature()
}
