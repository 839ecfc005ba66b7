package live

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/stubimage"
)

// PodReady reports the pod's Ready condition.
func PodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Terminating reports a pod on its way out (deleted, or finished).
func Terminating(p *corev1.Pod) bool {
	return p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// NodesReady waits until n nodes exist and all are Ready, their lifecycle
// taints lifted (nodeState).
func NodesReady(ctx context.Context, cs kubernetes.Interface, n int) error {
	var last string
	err := poll.Until(ctx, poll.NodeReady, func(ctx context.Context) (bool, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		ready := 0
		var states []string
		for _, node := range nodes.Items {
			st := nodeState(&node)
			if st == "Ready" {
				ready++
			}
			states = append(states, node.Name+"="+st)
		}
		last = strings.Join(states, ", ")
		return len(nodes.Items) == n && ready == n, nil
	})
	if err != nil {
		return fmt.Errorf("%w; last seen: %s", err, last)
	}
	return nil
}

// lifecycleTaints are the taints the node lifecycle controller puts on a
// node that is not (yet) usable and lifts a moment after it turns Ready:
// until then the scheduler places nothing there, so a node that still has
// one is not ready for the run (measured: with lanes starting at the Ready
// condition alone, one lane saw 2 of 5 nodes schedulable).
var lifecycleTaints = []string{corev1.TaintNodeNotReady, corev1.TaintNodeUnreachable, corev1.TaintNodeNetworkUnavailable}

// nodeState is "Ready" for a node that is Ready and free of lifecycle
// taints, else what keeps it from being so.
func nodeState(n *corev1.Node) string {
	ready := slices.ContainsFunc(n.Status.Conditions, func(c corev1.NodeCondition) bool {
		return c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue
	})
	if !ready {
		return "NotReady"
	}
	for _, t := range n.Spec.Taints {
		if slices.Contains(lifecycleTaints, t.Key) {
			return "Ready, tainted " + t.Key
		}
	}
	return "Ready"
}

// DeploymentComplete reports a Deployment whose rollout is over: the
// controller saw the latest spec and every replica is updated, ready and
// available, with no old replicas left.
func DeploymentComplete(d *appsv1.Deployment) bool {
	want := ptr.Deref(d.Spec.Replicas, 1)
	s := d.Status
	return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.ReadyReplicas == want &&
		s.AvailableReplicas == want && s.Replicas == want
}

func describeDeployment(d *appsv1.Deployment) string {
	s := d.Status
	return fmt.Sprintf("generation %d/%d observed, replicas %d, updated %d, ready %d, available %d, unavailable %d",
		s.ObservedGeneration, d.Generation, s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas, s.UnavailableReplicas)
}

// terminalWaiting are container states no amount of waiting fixes: the wait
// stops at once and says why.
var terminalWaiting = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "ErrImageNeverPull": true,
	"InvalidImageName": true, "CreateContainerConfigError": true, "CreateContainerError": true,
}

// KubeletCacheNotSynced reports a container the kubelet could not create
// because its own ConfigMap or Secret cache had not synced yet
// ("failed to sync configmap cache: timed out waiting for the condition"):
// the kubelet retries it, so it is no reason to stop waiting, and it is a
// node's fault, never the manifests' (a missing key or object reads
// differently: `configmap "x" not found`).
func KubeletCacheNotSynced(w *corev1.ContainerStateWaiting) bool {
	return w != nil && w.Reason == "CreateContainerConfigError" && strings.Contains(w.Message, "failed to sync")
}

// TerminalReason returns why a pod can never become ready, if it cannot,
// naming the pod, its node, the container and its image.
func TerminalReason(p *corev1.Pod) string {
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil && terminalWaiting[w.Reason] && !KubeletCacheNotSynced(w) {
			node := p.Spec.NodeName
			if node == "" {
				node = "(not scheduled)"
			}
			return fmt.Sprintf("pod %s on node %s, container %s, image %s: %s: %s", p.Name, node, cs.Name, cs.Image, w.Reason, w.Message)
		}
	}
	return ""
}

// imageReasons are the waiting reasons of an image the node does not have.
var imageReasons = []string{"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"}

// ImageHint is what to do about a TerminalReason that is a missing image
// ("" for any other reason).
func ImageHint(reason string) string {
	for _, r := range imageReasons {
		if strings.Contains(reason, ": "+r+": ") {
			return ". " + LoadImagesHint(stubimage.Stubs(), DefaultImagesDir)
		}
	}
	return ""
}

// WaitDeployment waits until the Deployment's rollout is complete; on
// timeout the error carries the last status seen. A pod of the Deployment
// stuck on its image or config ends the wait at once.
func WaitDeployment(ctx context.Context, cs kubernetes.Interface, ns, name string, iv poll.Interval) (time.Duration, error) {
	start := time.Now()
	last := "not found"
	err := poll.Until(ctx, iv, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = describeDeployment(d)
		if DeploymentComplete(d) {
			return true, nil
		}
		if d.Spec.Selector != nil {
			pods, err := Pods(ctx, cs, ns, d.Spec.Selector.MatchLabels)
			if err == nil {
				for _, p := range pods {
					if r := TerminalReason(&p); r != "" {
						return false, fmt.Errorf("cannot become available: %s%s", r, ImageHint(r))
					}
				}
			}
		}
		return false, nil
	})
	if err != nil {
		return time.Since(start), fmt.Errorf("deployment %s/%s: %w; last seen: %s", ns, name, err, last)
	}
	return time.Since(start), nil
}

// Pods lists the pods a Deployment selects, without terminating ones.
func Pods(ctx context.Context, cs kubernetes.Interface, ns string, selector map[string]string) ([]corev1.Pod, error) {
	list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(selector).String()})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if !Terminating(&p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// RestartTemplate starts a real rolling update: a new pod template.
func RestartTemplate(ctx context.Context, cs kubernetes.Interface, ns, name string) error {
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"k8s-conformance/restarted-at":%q}}}}}`, time.Now().Format(time.RFC3339Nano))
	_, err := cs.AppsV1().Deployments(ns).Patch(ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: FieldOwner})
	return err
}

// Scale sets a Deployment's replicas.
func Scale(ctx context.Context, cs kubernetes.Interface, ns, name string, replicas int32) error {
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas)
	_, err := cs.AppsV1().Deployments(ns).Patch(ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: FieldOwner})
	return err
}

// Proxy calls a pod's port through the API server (no port-forward, no exec:
// the stub images have no shell).
func Proxy(ctx context.Context, cs kubernetes.Interface, method, ns, pod string, port int32, path string, body []byte) (int, []byte, error) {
	path, query, _ := strings.Cut(path, "?")
	req := cs.CoreV1().RESTClient().Verb(method).Namespace(ns).Resource("pods").
		Name(fmt.Sprintf("%s:%d", pod, port)).SubResource("proxy").Suffix(path)
	for _, kv := range strings.Split(query, "&") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			req = req.Param(k, v)
		}
	}
	if body != nil {
		req = req.Body(bytes.NewReader(body))
	}
	var code int
	res := req.Do(ctx).StatusCode(&code)
	raw, err := res.Raw()
	if code != 0 {
		// A non-2xx answer from the pod is an answer, not a transport error.
		var st *apierrors.StatusError
		if err != nil && !asStatus(err, &st) {
			return code, raw, err
		}
		return code, raw, nil
	}
	return code, raw, err
}

func asStatus(err error, st **apierrors.StatusError) bool {
	s, ok := err.(*apierrors.StatusError)
	if ok {
		*st = s
	}
	return ok
}

// ProbeJob runs the stub image's probe client as a Job in ns and returns its
// JSON lines. The pod requests nothing, so it fits beside the workloads.
type ProbeJob struct {
	Namespace string
	Name      string
	Image     string
	Args      []string
	Interval  poll.Interval
	// NodeName pins the probe's pod to a node ("" lets the scheduler pick):
	// a promise made to every pod is asked from each node.
	NodeName string
}

// Start creates the Job and waits until its pod runs. A pod that can never
// run (its image missing) ends the wait at once; a Job whose pod did not
// start is deleted again, so the next run does not trip over it.
func (j ProbeJob) Start(ctx context.Context, cs kubernetes.Interface) error {
	// A probe asks for names the cluster's DNS answers: in a run, not
	// before CoreDNS is Available (see NeedsClusterDNS).
	if s := SuiteFrom(ctx); s != nil {
		if err := s.ClusterDNS(ctx); err != nil {
			return fmt.Errorf("job %s not started: the cluster does not resolve names: %w", j.Name, err)
		}
	}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: j.Name, Namespace: j.Namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": FieldOwner}},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"k8s-conformance/job": j.Name}},
				Spec: corev1.PodSpec{
					NodeName:      j.NodeName,
					RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{
						Name: "probe", Image: j.Image, ImagePullPolicy: corev1.PullIfNotPresent,
						Command: append([]string{"/probe"}, j.Args...),
					}},
				},
			},
		},
	}
	if _, err := cs.BatchV1().Jobs(j.Namespace).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating job %s: %w", j.Name, err)
	}
	last := "no pod yet"
	err := poll.Until(ctx, poll.PodRunning, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(j.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "k8s-conformance/job=" + j.Name})
		if err != nil {
			last = "listing its pod: " + err.Error()
			return false, nil
		}
		if len(pods.Items) == 0 {
			last = "no pod yet"
			return false, nil
		}
		p := pods.Items[0]
		if r := TerminalReason(&p); r != "" {
			return false, errors.New(r + ImageHint(r))
		}
		last = "pod " + string(p.Status.Phase)
		return p.Status.Phase != corev1.PodPending, nil
	})
	if err != nil {
		return errors.Join(fmt.Errorf("job %s: %w; last seen: %s", j.Name, err, last), j.delete(ctx, cs))
	}
	return nil
}

// delete removes the Job and its pod, even when ctx has ended.
func (j ProbeJob) delete(ctx context.Context, cs kubernetes.Interface) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err := cs.BatchV1().Jobs(j.Namespace).Delete(cctx, j.Name, metav1.DeleteOptions{PropagationPolicy: ptr.To(metav1.DeletePropagationBackground)})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting job %s: %w", j.Name, err)
	}
	return nil
}

// Finish waits for the Job to end, returns its JSON output lines and whether
// it succeeded, and deletes it (a failed delete is part of the error).
func (j ProbeJob) Finish(ctx context.Context, cs kubernetes.Interface) (lines []json.RawMessage, succeeded bool, err error) {
	jobs := cs.BatchV1().Jobs(j.Namespace)
	defer func() { err = errors.Join(err, j.delete(ctx, cs)) }()
	last := "not seen"
	err = poll.Until(ctx, j.Interval, func(ctx context.Context) (bool, error) {
		got, err := jobs.Get(ctx, j.Name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = fmt.Sprintf("active %d, succeeded %d, failed %d", got.Status.Active, got.Status.Succeeded, got.Status.Failed)
		switch {
		case got.Status.Succeeded > 0:
			succeeded = true
			return true, nil
		case got.Status.Failed > 0:
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("job %s: %w; last seen: %s", j.Name, err, last)
	}
	pods, err := cs.CoreV1().Pods(j.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "k8s-conformance/job=" + j.Name})
	if err != nil {
		return nil, succeeded, fmt.Errorf("job %s: listing its pod: %w", j.Name, err)
	}
	if len(pods.Items) == 0 {
		return nil, succeeded, fmt.Errorf("job %s: no pod to read", j.Name)
	}
	raw, err := cs.CoreV1().Pods(j.Namespace).GetLogs(pods.Items[0].Name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		return nil, succeeded, fmt.Errorf("job %s: reading its log: %w", j.Name, err)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "{") {
			lines = append(lines, json.RawMessage(l))
		}
	}
	return lines, succeeded, nil
}

// Run is Start then Finish.
func (j ProbeJob) Run(ctx context.Context, cs kubernetes.Interface) ([]json.RawMessage, bool, error) {
	if err := j.Start(ctx, cs); err != nil {
		return nil, false, err
	}
	return j.Finish(ctx, cs)
}

// HTTPStatusText is a short "200 OK" style string.
func HTTPStatusText(code int) string { return fmt.Sprintf("%d %s", code, http.StatusText(code)) }
