package lanes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/report"
	"github.com/puretasks/k8s-conformance/internal/spec"
	"github.com/puretasks/k8s-conformance/stubs/stubserver"
)

// PVCNamespace holds the storage lane's copy of the backend: the default
// set's Deployment first (emptyDir), then the persistent variant's (PV, PVC
// and the backend's volume from the claim), then the default again.
const PVCNamespace = "pvc-check"

// PVRetainHold is how long the PV must stay Released after its claim is
// deleted. Retain is behaviour, not a field: a PV whose policy is Delete
// also passes through Released, on its way to being deleted or Failed
// (measured here: within seconds), so a first sight of Released proves
// nothing; one that holds for this long does.
const PVRetainHold = 15 * time.Second

// hostPathReader is the pod that reads the PV's hostPath directly on the
// node where the file was written.
const hostPathReader = "hostpath-reader"

// StorageDemand is what the storage copy requests at most (the backend and
// its surge pod).
func StorageDemand() []live.Demand {
	b := spec.Seed.Backend
	return []live.Demand{Demand(b, int(b.Deployment.Replicas+b.Deployment.MaxSurge), "backend storage copy + surge")}
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

// backendPod waits for the backend's rollout in ns and returns its single pod.
func backendPod(ctx context.Context, env Env, ns string) (corev1.Pod, error) {
	b := spec.Seed.Backend.Deployment
	if _, err := live.WaitDeployment(ctx, env.Clientset, ns, b.Name, poll.Rollout); err != nil {
		return corev1.Pod{}, err
	}
	pods, err := live.Pods(ctx, env.Clientset, ns, b.Selector)
	if err != nil {
		return corev1.Pod{}, fmt.Errorf("listing the backend pods in %s: %w", ns, err)
	}
	if len(pods) != 1 {
		return corev1.Pod{}, fmt.Errorf("expected one backend pod in %s, got %d", ns, len(pods))
	}
	return pods[0], nil
}

func upload(ctx context.Context, env Env, pod corev1.Pod, name, content string) error {
	code, raw, err := env.Proxy(ctx, "PUT", pod.Namespace, pod.Name, spec.Seed.Backend.Deployment.Container.Port, "/api/uploads/"+name, []byte(content))
	return answerErr(code, raw, err, fmt.Sprintf("PUT /api/uploads/%s on pod %s", name, pod.Name), http.StatusCreated)
}

// answerErr is the error of an HTTP answer read through the API server's
// proxy: the transport's, or a *live.AnswerError when the status is none of
// want (200 when none is given).
func answerErr(code int, body []byte, err error, via string, want ...int) error {
	if err != nil {
		return live.NoAnswer(via, err)
	}
	if len(want) == 0 {
		want = []int{http.StatusOK}
	}
	return live.CheckAnswer(via, code, body, want...)
}

// reportStepError records an error of a step: an answer that is no
// measurement (a 503 from the proxy, an API error) means the check could
// not judge (ERROR); anything else is what the cluster did (FAIL).
func reportStepError(r *Recorder, resource string, err error, format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	var ans *live.AnswerError
	if errors.As(err, &ans) {
		r.Error(report.CodeAPI, resource, "%s: %v", msg, err)
		return
	}
	r.Fail(resource, "%s: %v", msg, err)
}

// proof is a file written through a backend pod.
type proof struct {
	name, content string
	node          string // where the pod that read it back ran
}

// survivesDeletion writes a file through the backend pod, deletes the pod,
// and reads the file back through its replacement.
func survivesDeletion(ctx context.Context, env Env, r *Recorder, ns, label string) (bool, proof, error) {
	before, err := backendPod(ctx, env, ns)
	if err != nil {
		return false, proof{}, err
	}
	pr := proof{name: fmt.Sprintf("proof-%s-%06x.txt", label, rand.IntN(1<<24)), content: "written by " + before.Name}
	if err := upload(ctx, env, before, pr.name, pr.content); err != nil {
		return false, pr, err
	}
	if err := env.Clientset.CoreV1().Pods(ns).Delete(ctx, before.Name, metav1.DeleteOptions{}); err != nil {
		return false, pr, fmt.Errorf("deleting %s: %w", before.Name, err)
	}
	after, found, got, err := readFromReplacement(ctx, env, ns, before.Name, pr.name)
	if err != nil {
		return false, pr, err
	}
	pr.node = after.Spec.NodeName
	answer := "200, the file"
	switch {
	case !found:
		answer = "404, " + stubserver.NoSuchUpload
	case string(got) != pr.content:
		other := string(got)
		if len(other) > 80 {
			other = other[:80] + "..."
		}
		answer = fmt.Sprintf("200, other content %q", other)
	}
	r.Measure("%s: wrote %s via %s, deleted it, read via %s on %s: %s", label, pr.name, before.Name, after.Name, after.Spec.NodeName, answer)
	return found && string(got) == pr.content, pr, nil
}

// readFromReplacement waits for the pod that replaces gone and asks it for
// file. It asks once the replacement's containers have started (their
// startup probes passed, or they have none), not once it is Ready: the
// file's fate is settled when the pod mounts its volume, readiness is
// judged by other checks and comes a readiness delay later. A question
// that gets no answer about the file (askUpload) is asked again until the
// deadline; if the last one still had none, that is the error (ERROR: the
// check could not judge), else the replacement never served (FAIL).
func readFromReplacement(ctx context.Context, env Env, ns, gone, file string) (corev1.Pod, bool, []byte, error) {
	b := spec.Seed.Backend.Deployment
	var after corev1.Pod
	var found bool
	var got []byte
	var noAnswer error // the last attempt's, when it had no answer about the file
	last := "no replacement yet"
	err := poll.Until(ctx, poll.PodServing, func(ctx context.Context) (bool, error) {
		noAnswer = nil
		pods, err := live.Pods(ctx, env.Clientset, ns, b.Selector)
		if err != nil {
			noAnswer = live.NoAnswer("listing the backend pods in "+ns, err)
			last = noAnswer.Error()
			return false, nil
		}
		i := slices.IndexFunc(pods, func(p corev1.Pod) bool { return p.Name != gone })
		if i < 0 {
			last = "no replacement yet"
			return false, nil
		}
		p := pods[i]
		last = describePod(&p)
		if reason := live.TerminalReason(&p); reason != "" {
			return false, fmt.Errorf("replacement %s cannot run: %s", p.Name, reason)
		}
		if !containersStarted(&p) {
			return false, nil
		}
		f, body, err := askUpload(ctx, env, ns, p.Name, file)
		if err != nil {
			noAnswer = err
			last += "; " + err.Error()
			return false, nil
		}
		after, found, got = p, f, body
		return true, nil
	})
	switch {
	case err != nil && noAnswer != nil:
		return after, false, nil, fmt.Errorf("no answer about %s from the replacement of %s: %w; last seen: %s (%w)", file, gone, err, last, noAnswer)
	case err != nil:
		return after, false, nil, fmt.Errorf("no serving replacement for %s: %w; last seen: %s", gone, err, last)
	}
	return after, found, got, nil
}

// askUpload asks pod for file through the API server's proxy. Only the
// stub's own answer says anything about the file: 200 with it, or its 404
// "no such upload" (found false). Anything else is an *live.AnswerError:
// the proxy's 503 while the server binds its port, the API server's own
// 404 for a pod that went, a transport error.
func askUpload(ctx context.Context, env Env, ns, pod, file string) (found bool, content []byte, err error) {
	via := fmt.Sprintf("GET /api/uploads/%s on pod %s", file, pod)
	code, body, err := env.Proxy(ctx, "GET", ns, pod, spec.Seed.Backend.Deployment.Container.Port, "/api/uploads/"+file, nil)
	if err := answerErr(code, body, err, via, http.StatusOK, http.StatusNotFound); err != nil {
		return false, nil, err
	}
	if code == http.StatusNotFound && !noSuchUpload(body) {
		return false, nil, live.CheckAnswer(via+` (a 404 that is not the stub's "`+stubserver.NoSuchUpload+`")`, code, body, http.StatusOK)
	}
	return code == http.StatusOK, body, nil
}

// containersStarted reports that a running pod's containers all passed
// their startup probes (kubelet sets Started at once for one without).
func containersStarted(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) == 0 {
		return false
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running == nil || cs.Started == nil || !*cs.Started {
			return false
		}
	}
	return true
}

// noSuchUpload reports the backend stub's own 404 body (the API server's
// is a Status object). The pod name the stub adds is not compared: it is
// the container's hostname, which spec.hostname may set to anything.
func noSuchUpload(body []byte) bool {
	var a struct {
		Error string `json:"error"`
	}
	return json.Unmarshal(body, &a) == nil && a.Error == stubserver.NoSuchUpload
}

// Storage is L-PVC on the copy in ns (which must exist): emptyDir loses a
// file with its pod; the persistent variant's PV and PVC bind to each
// other, the backend mounts the claim and a file survives its pod; once the
// claim is deleted the PV is Released and stays Released for PVRetainHold,
// and the file is still on the node's hostPath. It returns whether it
// applied the (cluster-wide) PV: then the caller removes it with CleanupPV
// once the evidence is collected.
func Storage(ctx context.Context, env Env, r *Recorder, ns string) (appliedPV bool) {
	u := spec.Seed.Uploads
	if len(env.Copy(manifests.Persistent, ns, storageObjects)) == 0 {
		r.Fail("manifests", "no persistent-uploads variant (%s/) in the manifests under test", u.VariantDir)
		return appliedPV
	}
	// 1. The default set: emptyDir loses the file with the pod.
	if err := env.Apply(ctx, env.Copy(manifests.Default, ns, storageObjects)); err != nil {
		r.Fail("namespace "+ns, "applying the default backend: %v", err)
		return appliedPV
	}
	kept, pr, err := survivesDeletion(ctx, env, r, ns, "emptydir")
	if err != nil {
		reportStepError(r, "Deployment "+ns+"/backend", err, "emptyDir step")
		return appliedPV
	}
	if kept {
		r.Fail("Deployment "+ns+"/backend", "expected %s to be lost with the pod (emptyDir), but it survived", pr.name)
	}
	// 2. The persistent variant: PV and PVC bind, the claim is mounted. The
	// PV is cluster-wide: one left by an earlier run would not bind.
	if _, err := env.Clientset.CoreV1().PersistentVolumes().Get(ctx, u.PV.Name, metav1.GetOptions{}); err == nil {
		r.Fail("PersistentVolume "+u.PV.Name, "already exists before the check (left by an earlier run?): delete it and run again")
		return appliedPV
	} else if !apierrors.IsNotFound(err) {
		r.Fail("PersistentVolume "+u.PV.Name, "reading it before the check: %v", err)
		return appliedPV
	}
	appliedPV = true // even a failed apply may have created it
	if env.CreatedPV != nil {
		env.CreatedPV(u.PV.Name)
	}
	if err := env.Apply(ctx, env.Copy(manifests.Persistent, ns, storageObjects)); err != nil {
		r.Fail("namespace "+ns, "applying the persistent-uploads variant: %v", err)
		return appliedPV
	}
	if !bound(ctx, env, r, ns) {
		return appliedPV
	}
	pod, err := backendPod(ctx, env, ns)
	if err != nil {
		r.Fail("Deployment "+ns+"/backend", "with the claim: %v", err)
		return appliedPV
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
	r.Measure("backend pod %s mounts claim %q at %q", pod.Name, claim, mount)
	if claim != u.PVC.Name || mount != spec.Seed.Backend.Deployment.Container.UploadsMount {
		r.Fail("pod "+ns+"/"+pod.Name, "spec.volumes[%s]: expected claim %s mounted at %s, got claim %q at %q", u.VolumeName, u.PVC.Name, spec.Seed.Backend.Deployment.Container.UploadsMount, claim, mount)
	}
	// 3. With the claim, the file survives the pod.
	kept, pr, err = survivesDeletion(ctx, env, r, ns, "claim")
	if err != nil {
		reportStepError(r, "PersistentVolumeClaim "+ns+"/"+u.PVC.Name, err, "claim step")
		return appliedPV
	}
	if !kept {
		r.Fail("PersistentVolumeClaim "+ns+"/"+u.PVC.Name, "expected %s to survive the pod's deletion", pr.name)
		return appliedPV
	}
	// 4. The claim's user goes (a claim in use is held by its protection
	// finalizer): the backend scaled to zero and every pod of it gone,
	// faster than rolling it back to emptyDir. Then the claim goes: Retain
	// keeps the PV Released and the data on the node.
	b := spec.Seed.Backend.Deployment
	if err := live.Scale(ctx, env.Clientset, ns, b.Name, 0); err != nil {
		r.Fail("Deployment "+ns+"/"+b.Name, "scaling to 0 to free the claim: %v", err)
		return appliedPV
	}
	if err := podsGone(ctx, env, ns, b.Selector); err != nil {
		r.Fail("Deployment "+ns+"/"+b.Name, "scaled to 0 to free the claim: %v", err)
		return appliedPV
	}
	Retained(ctx, env, r, ns, pr.node, pr.name, pr.content, PVRetainHold)
	return appliedPV
}

// podsGone waits until no pod matching selector is left in ns, terminating
// ones included (they still hold their claims).
func podsGone(ctx context.Context, env Env, ns string, selector map[string]string) error {
	sel := metav1.ListOptions{LabelSelector: labels.SelectorFromSet(selector).String()}
	last := "not listed"
	err := poll.Until(ctx, poll.PodGone, func(ctx context.Context) (bool, error) {
		l, err := env.Clientset.CoreV1().Pods(ns).List(ctx, sel)
		if err != nil {
			last = "listing pods: " + err.Error()
			return false, nil
		}
		if len(l.Items) > 0 {
			last = fmt.Sprintf("%d pod(s) left, e.g. %s", len(l.Items), describePod(&l.Items[0]))
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("%w; last seen: %s", err, last)
	}
	return nil
}

// bound waits until the PV and the PVC are bound to each other.
func bound(ctx context.Context, env Env, r *Recorder, ns string) bool {
	u := spec.Seed.Uploads
	start := time.Now()
	last := "nothing read yet"
	err := poll.Until(ctx, poll.PVCBound, func(ctx context.Context) (bool, error) {
		pvc, err := env.Clientset.CoreV1().PersistentVolumeClaims(ns).Get(ctx, u.PVC.Name, metav1.GetOptions{})
		if err != nil {
			last = "getting the PVC: " + err.Error()
			return false, nil
		}
		pv, err := env.Clientset.CoreV1().PersistentVolumes().Get(ctx, u.PV.Name, metav1.GetOptions{})
		if err != nil {
			last = "getting the PV: " + err.Error()
			return false, nil
		}
		ref := "<none>"
		if pv.Spec.ClaimRef != nil {
			ref = pv.Spec.ClaimRef.Namespace + "/" + pv.Spec.ClaimRef.Name
		}
		last = fmt.Sprintf("PVC %s (volume %q), PV %s (claimRef %s)", pvc.Status.Phase, pvc.Spec.VolumeName, pv.Status.Phase, ref)
		return pvc.Status.Phase == corev1.ClaimBound && pv.Status.Phase == corev1.VolumeBound &&
			pvc.Spec.VolumeName == u.PV.Name && ref == ns+"/"+u.PVC.Name, nil
	})
	if err != nil {
		r.Fail("PersistentVolume "+u.PV.Name, "expected PV %s and PVC %s/%s bound to each other: %v; last seen: %s", u.PV.Name, ns, u.PVC.Name, err, last)
		return false
	}
	r.Measure("bound in %s: %s", time.Since(start).Round(100*time.Millisecond), last)
	return true
}

// Retained deletes the claim and asserts Retain as behaviour: the live PV's
// persistentVolumeReclaimPolicy is what the seed says (and the report shows
// it), the PV reaches Released and stays Released for hold, and the file
// written through the claim is still on node's hostPath, read by a pod on
// that node that mounts the hostPath itself. Each part fails on its own.
func Retained(ctx context.Context, env Env, r *Recorder, ns, node, file, content string, hold time.Duration) {
	u := spec.Seed.Uploads
	RetainedAfter(ctx, env, r, ns, node, u.PV.Name, file, content, hold, "the claim was deleted", func(ctx context.Context) error {
		if err := env.Clientset.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, u.PVC.Name, metav1.DeleteOptions{}); err != nil {
			r.Fail("PersistentVolumeClaim "+ns+"/"+u.PVC.Name, "deleting the claim: %v", err)
			return err
		}
		return nil
	})
}

// RetainedAfter is Retained for the PV named pvName, whose claim goes by
// release (the claim deleted, or `helm uninstall` of the release that owns
// it); release reports its own failure and returns an error to stop here.
func RetainedAfter(ctx context.Context, env Env, r *Recorder, ns, node, pvName, file, content string, hold time.Duration, what string, release func(context.Context) error) {
	u := spec.Seed.Uploads
	pv, err := env.Clientset.CoreV1().PersistentVolumes().Get(ctx, pvName, metav1.GetOptions{})
	if err != nil {
		r.Fail("PersistentVolume "+pvName, "reading the live object: %v", err)
		return
	}
	policy := pv.Spec.PersistentVolumeReclaimPolicy
	r.Measure("PV %s: spec.persistentVolumeReclaimPolicy %s (live object)", pvName, policy)
	if string(policy) != u.PV.ReclaimPolicy {
		r.Fail("PersistentVolume "+pvName, "spec.persistentVolumeReclaimPolicy: expected %s, got %s", u.PV.ReclaimPolicy, policy)
	}
	hostPath := ""
	if pv.Spec.HostPath != nil {
		hostPath = pv.Spec.HostPath.Path
	}
	// The reader starts while the claim goes; it reads after the hold.
	var readerErr error
	if hostPath == "" {
		r.Fail("PersistentVolume "+pvName, "spec.hostPath: expected a hostPath, got none")
	} else {
		readerErr = startHostPathReader(ctx, env, ns, node, hostPath)
	}
	if err := release(ctx); err != nil {
		return
	}
	released, held, err := HoldReleased(ctx, env, pvName, hold)
	if err != nil {
		r.Fail("PersistentVolume "+pvName, "expected Released and still Released %s after %s (reclaim policy %s): %v", hold, what, u.PV.ReclaimPolicy, err)
	} else {
		r.Measure("PV %s Released %s after %s, still Released after a %s hold (%d samples)", pvName, released.Round(100*time.Millisecond), what, hold, held)
	}
	if hostPath == "" {
		return
	}
	if readerErr != nil {
		r.Fail("node "+node, "starting a pod that mounts hostPath %s there: %v", hostPath, readerErr)
		return
	}
	got, err := readThroughReader(ctx, env, ns, file)
	if err != nil {
		reportStepError(r, "node "+node, err, "expected %s on hostPath %s after %s", file, hostPath, what)
		return
	}
	r.Measure("%s still on node %s's hostPath %s after %s (read by pod %s mounting it)", file, node, hostPath, what, hostPathReader)
	if got != content {
		r.Fail("node "+node, "hostPath %s/%s: expected %q, got %q", hostPath, file, content, got)
	}
}

// HoldReleased waits for the PV to reach Released, then polls until it has
// stayed Released for hold. Leaving Released (Failed, Available, deleted)
// ends the wait at once with what was seen; an API error is carried as the
// last seen state. It returns when Released was first seen (from the call)
// and how many samples the hold took.
func HoldReleased(ctx context.Context, env Env, name string, hold time.Duration) (time.Duration, int, error) {
	start := time.Now()
	last := "nothing read yet"
	read := func(ctx context.Context) (*corev1.PersistentVolume, error) {
		pv, err := env.Clientset.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return nil, fmt.Errorf("the PV was deleted %s after its claim (last seen before: %s)", time.Since(start).Round(100*time.Millisecond), last)
		case err != nil:
			last = "getting the PV: " + err.Error()
			return nil, nil
		}
		last = describePV(pv)
		return pv, nil
	}
	err := poll.Until(ctx, poll.PVReleased, func(ctx context.Context) (bool, error) {
		pv, err := read(ctx)
		if err != nil || pv == nil {
			return false, err
		}
		switch pv.Status.Phase {
		case corev1.VolumeReleased:
			return true, nil
		case corev1.VolumeFailed:
			return false, fmt.Errorf("the PV went to Failed instead of staying Released: %s", last)
		}
		return false, nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("%w; last seen: %s", err, last)
	}
	released := time.Since(start)
	holdStart := time.Now()
	samples := 0
	err = poll.Until(ctx, poll.Within("pv-retain-hold", hold+spec.KubeletSlack), func(ctx context.Context) (bool, error) {
		pv, err := read(ctx)
		if err != nil || pv == nil {
			return false, err
		}
		samples++
		if pv.Status.Phase != corev1.VolumeReleased {
			return false, fmt.Errorf("the PV left Released %s into the hold: %s", time.Since(holdStart).Round(100*time.Millisecond), last)
		}
		return time.Since(holdStart) >= hold, nil
	})
	if err != nil {
		return released, samples, fmt.Errorf("Released after %s, then: %w; last seen: %s", released.Round(100*time.Millisecond), err, last)
	}
	return released, samples, nil
}

func describePV(pv *corev1.PersistentVolume) string {
	ref := "<none>"
	if pv.Spec.ClaimRef != nil {
		ref = pv.Spec.ClaimRef.Namespace + "/" + pv.Spec.ClaimRef.Name
	}
	s := fmt.Sprintf("PV %s phase %s, reclaim policy %s, claimRef %s", pv.Name, pv.Status.Phase, pv.Spec.PersistentVolumeReclaimPolicy, ref)
	if pv.Status.Message != "" {
		s += ", message: " + pv.Status.Message
	}
	return s
}

// startHostPathReader starts a stub backend pod pinned to node whose uploads
// directory is the hostPath itself, not the claim: what it serves is what
// the node holds.
func startHostPathReader(ctx context.Context, env Env, ns, node, hostPath string) error {
	if node == "" {
		return fmt.Errorf("the node that held the claim's pod is unknown")
	}
	c := spec.Seed.Backend.Deployment.Container
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: hostPathReader, Namespace: ns, Labels: map[string]string{"k8s-conformance/role": hostPathReader}},
		Spec: corev1.PodSpec{
			NodeName:      node,
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "reader", Image: c.Image, ImagePullPolicy: corev1.PullIfNotPresent,
				Ports:        []corev1.ContainerPort{{ContainerPort: c.Port}},
				VolumeMounts: []corev1.VolumeMount{{Name: "node-uploads", MountPath: c.UploadsMount, ReadOnly: true}},
			}},
			Volumes: []corev1.Volume{{Name: "node-uploads", VolumeSource: corev1.VolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: hostPath, Type: ptr.To(corev1.HostPathDirectory)},
			}}},
		},
	}
	if _, err := env.Clientset.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating pod %s/%s: %w", ns, hostPathReader, err)
	}
	return nil
}

// readThroughReader waits for the reader pod to run and answer, and returns
// the file's content as the node holds it. A question with no answer about
// the file is asked again, as in readFromReplacement.
func readThroughReader(ctx context.Context, env Env, ns, file string) (string, error) {
	var content string
	var noAnswer error
	last := "no pod seen"
	err := poll.Until(ctx, poll.PodServing, func(ctx context.Context) (bool, error) {
		noAnswer = nil
		p, err := env.Clientset.CoreV1().Pods(ns).Get(ctx, hostPathReader, metav1.GetOptions{})
		if err != nil {
			noAnswer = live.NoAnswer("getting the reader pod", err)
			last = noAnswer.Error()
			return false, nil
		}
		last = describePod(p)
		if r := live.TerminalReason(p); r != "" {
			return false, fmt.Errorf("cannot run: %s", r)
		}
		if !containersStarted(p) {
			return false, nil
		}
		found, raw, err := askUpload(ctx, env, ns, hostPathReader, file)
		switch {
		case err != nil:
			noAnswer = err
			last += "; " + err.Error()
			return false, nil
		case !found:
			return false, fmt.Errorf("GET /api/uploads/%s on %s: 404, the file is not on the node", file, hostPathReader)
		}
		content = string(raw)
		return true, nil
	})
	switch {
	case err != nil && noAnswer != nil:
		return "", fmt.Errorf("%w; last seen: %s (%w)", err, last, noAnswer)
	case err != nil:
		return "", fmt.Errorf("%w; last seen: %s", err, last)
	}
	return content, nil
}

// CleanupPV deletes the lane's PV (retained volumes are removed by hand),
// after the evidence was collected. A PV already gone is fine.
func CleanupPV(ctx context.Context, env Env) error {
	name := spec.Seed.Uploads.PV.Name
	err := env.Clientset.CoreV1().PersistentVolumes().Delete(context.WithoutCancel(ctx), name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting PersistentVolume %s: %w", name, err)
	}
	return nil
}
