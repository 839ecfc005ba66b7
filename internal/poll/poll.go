// Package poll holds every wait the project performs: one named Interval per
// condition, with its deadline and polling period, so no check carries a
// literal duration. Waits check at once, then every period, and stop at the
// deadline or on a terminal error.
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
	JobComplete         = Interval{"job-complete", 2 * time.Minute, 500 * time.Millisecond}
	PVCBound            = Interval{"pvc-bound", time.Minute, 500 * time.Millisecond}
	PVReleased          = Interval{"pv-released", time.Minute, 500 * time.Millisecond}
	NamespaceGone       = Interval{"namespace-gone", 2 * time.Minute, time.Second}
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
	if err != nil {
		return fmt.Errorf("%s (deadline %s): %w", iv.Name, iv.Timeout, err)
	}
	return nil
}
