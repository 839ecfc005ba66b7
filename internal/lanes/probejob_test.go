package lanes

import (
	"context"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/poll"
)

// D13: a probe Job whose pod never runs fails its start and leaves no Job
// behind, so the next run on the same cluster does not hit AlreadyExists.
// (L-LB starts its load through live.ProbeJob.)
func TestProbeJobStartFailureLeavesNoJob(t *testing.T) {
	cs := fake.NewClientset()
	failWith(cs, "list", "pods", errAPI)
	job := live.ProbeJob{Namespace: ScaleNamespace, Name: "lb", Image: "todo-backend:latest", Args: []string{"load"}, Interval: poll.JobComplete}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := job.Start(ctx, cs); err == nil {
		t.Fatal("a Job whose pod never ran started")
	}
	jobs, err := cs.BatchV1().Jobs(ScaleNamespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) != 0 {
		t.Fatalf("the failed start left Job %s behind", jobs.Items[0].Name)
	}
	// And a second start on the same cluster is not refused.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel2()
	if err := job.Start(ctx2, cs); apierrors.IsAlreadyExists(err) {
		t.Fatalf("second start: %v", err)
	}
}
