// Package poll holds the named intervals of the project's waits (deadline
// and polling period), so the callers that use them carry no literal
// duration, and Until, the one polling loop. Until checks at once, then every
// period, and stops at the deadline, on a terminal error, or when its context
// ends, whose cause (say, "the cluster is gone") the error then carries.
package poll

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// Interval is a named deadline and polling period.
type Interval struct {
	Name    string
	Timeout time.Duration
	Every   time.Duration
}

// Host-side waits.
var (
	DockerStart = Interval{"docker-start", 90 * time.Second, 500 * time.Millisecond}
	DockerStop  = Interval{"docker-stop", 30 * time.Second, 250 * time.Millisecond}
	// NodeContainerd is containerd starting inside the node-image build container.
	NodeContainerd = Interval{"node-containerd", 60 * time.Second, 250 * time.Millisecond}
	// HostPort is a host port answering (NodePort through kind's port mapping).
	HostPort = Interval{"host-port", 60 * time.Second, 250 * time.Millisecond}
	// StubHTTP is a stub server answering in unit tests.
	StubHTTP = Interval{"stub-http", 10 * time.Second, 20 * time.Millisecond}
)

// Cluster waits.
var (
	NodeReady        = Interval{"node-ready", 3 * time.Minute, time.Second}
	SystemPods       = Interval{"kube-system-running", 3 * time.Minute, time.Second}
	CoreDNSAvailable = Interval{"coredns-available", 3 * time.Minute, time.Second}
	// DeploymentAvailable covers a startup budget (60 s) plus image start.
	DeploymentAvailable = Interval{"deployment-available", 3 * time.Minute, 500 * time.Millisecond}
	Rollout             = Interval{"rollout-complete", 4 * time.Minute, 500 * time.Millisecond}
	PodRunning          = Interval{"pod-running", 2 * time.Minute, 500 * time.Millisecond}
	PodGone             = Interval{"pod-gone", 2 * time.Minute, 500 * time.Millisecond}
	// PodServing is a new pod scheduled, started and answering through the
	// API server's proxy.
	PodServing    = Interval{"pod-serving", 2 * time.Minute, 500 * time.Millisecond}
	JobComplete   = Interval{"job-complete", 2 * time.Minute, 500 * time.Millisecond}
	PVCBound      = Interval{"pvc-bound", time.Minute, 500 * time.Millisecond}
	PVReleased    = Interval{"pv-released", time.Minute, 500 * time.Millisecond}
	NamespaceGone = Interval{"namespace-gone", 2 * time.Minute, time.Second}
	// WatchSettled is a watch's handlers catching up with the API's state
	// (a rollout judged on what the watch delivered, not on a later list).
	WatchSettled = Interval{"watch-settled", 30 * time.Second, 50 * time.Millisecond}
	// KubeletEvent is an event the kubelet has recorded reaching the API
	// (its recorder sends in batches, well within this).
	KubeletEvent = Interval{"kubelet-event", 30 * time.Second, 500 * time.Millisecond}
	// ProbeObservation watches a probe scenario; it must outlast the longest
	// window the spec computes (startup kill, about 70 s) with room to spare.
	ProbeObservation = Interval{"probe-observation", 4 * time.Minute, ProbeSample}
)

// ProbeSample is how often probe scenarios sample the cluster; measured
// times are at most this far off.
const ProbeSample = 250 * time.Millisecond

// Within is an interval whose deadline a scenario computes from the spec (a
// probe window), sampled at ProbeSample.
func Within(name string, deadline time.Duration) Interval {
	return Interval{Name: name, Timeout: deadline, Every: ProbeSample}
}

// Until polls cond immediately and then every iv.Every until it returns true,
// returns an error (terminal), ctx ends, or iv.Timeout passes.
func Until(ctx context.Context, iv Interval, cond func(context.Context) (bool, error)) error {
	err := wait.PollUntilContextTimeout(ctx, iv.Every, iv.Timeout, true, cond)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		if cause := context.Cause(ctx); cause != nil && cause != ctx.Err() {
			// The run was ended from outside (the cluster watchdog): say why.
			return fmt.Errorf("%s: stopped: %w", iv.Name, cause)
		}
	}
	return fmt.Errorf("%s (deadline %s): %w", iv.Name, iv.Timeout, err)
}
