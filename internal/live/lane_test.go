package live

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/puretasks/k8s-conformance/internal/report"
)

// fakeT records what a check reports through it.
type fakeT struct {
	mu     sync.Mutex
	logs   []string
	errs   []string
	failed bool
}

func (f *fakeT) Helper() {}
func (f *fakeT) Logf(format string, a ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, fmt.Sprintf(format, a...))
}
func (f *fakeT) Errorf(format string, a ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errs = append(f.errs, fmt.Sprintf(format, a...))
	f.failed = true
}
func (f *fakeT) Fatalf(format string, a ...any) { f.Errorf(format, a...) }
func (f *fakeT) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}
func (f *fakeT) Skipped() bool { return false }

func testSuite(t *testing.T, objs ...runtime.Object) (*Suite, *fake.Clientset) {
	cs := fake.NewClientset(objs...)
	return &Suite{Settings: Settings{Artifacts: t.TempDir()}, Report: report.New(), Clientset: cs, Log: os.Stderr}, cs
}

func pod(ns, name string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

// D6: a failed check leaves evidence from its own namespaces and its lane's
// in $ARTIFACTS/<ID>/, collected before its own namespaces are deleted.
func TestFailedCheckCollectsEvidenceFromItsNamespacesBeforeDeletingThem(t *testing.T) {
	s, cs := testSuite(t, pod("todo-app", "backend-1"))
	ctx := context.Background()
	l := NewLane(s, "TestProbeScenarios")
	l.Own("todo-app")
	c := l.Begin("L-READINESS")
	require.NoError(t, c.Namespace(ctx, "probe-readiness-backend", nil))
	_, err := cs.CoreV1().Pods("probe-readiness-backend").Create(ctx, pod("probe-readiness-backend", "scenario-1"), metav1.CreateOptions{})
	require.NoError(t, err)

	ft := &fakeT{}
	c.Fail(ft, "pod scenario-1", "expected to leave the Service within 10s, still there after 30s")
	c.End(ctx, ft)

	dir := filepath.Join(s.Artifacts, "L-READINESS")
	scen, err := os.ReadFile(filepath.Join(dir, "probe-readiness-backend", "pods.yaml"))
	require.NoError(t, err, "evidence of the check's own namespace")
	assert.Contains(t, string(scen), "scenario-1")
	app, err := os.ReadFile(filepath.Join(dir, "todo-app", "pods.yaml"))
	require.NoError(t, err, "evidence of the lane's namespace")
	assert.Contains(t, string(app), "backend-1")
	assert.Contains(t, strings.Join(ft.logs, "\n"), "evidence in "+dir)

	// Then the check's namespace is deleted; the lane's stays until the lane ends.
	_, err = cs.CoreV1().Namespaces().Get(ctx, "probe-readiness-backend", metav1.GetOptions{})
	assert.True(t, isNotFound(err), "the check's namespace is deleted at its end: %v", err)
	row := c.Conclude(ft)
	assert.Equal(t, report.Fail, row.Verdict)
	assert.Equal(t, []string{"L-READINESS"}, s.Report.NotPassed())
}

func isNotFound(err error) bool { return err != nil && strings.Contains(err.Error(), "not found") }

// A passing check leaves no evidence and still deletes its namespace.
func TestPassingCheckLeavesNoEvidence(t *testing.T) {
	s, cs := testSuite(t)
	ctx := context.Background()
	c := NewLane(s, "lane").Begin("L-STARTUP", "becomes Ready")
	require.NoError(t, c.Namespace(ctx, "probe-startup", nil))
	ft := &fakeT{}
	c.Measure(ft, "Ready after %s", "12s")
	c.Ran("becomes Ready")
	c.End(ctx, ft)
	assert.Equal(t, report.Pass, c.Conclude(ft).Verdict)
	assert.NoDirExists(t, filepath.Join(s.Artifacts, "L-STARTUP"))
	_, err := cs.CoreV1().Namespaces().Get(ctx, "probe-startup", metav1.GetOptions{})
	assert.True(t, isNotFound(err))
	assert.Empty(t, s.Report.NotPassed())
}

// Evidence that cannot be collected is a reported error, not silence.
func TestEvidenceErrorsAreReported(t *testing.T) {
	s, cs := testSuite(t)
	ctx := context.Background()
	c := NewLane(s, "lane").Begin("L-DNS")
	require.NoError(t, c.Namespace(ctx, "dns", nil))
	cs.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("connection refused")
	})
	ft := &fakeT{}
	c.Fail(ft, "Service backend-service", "did not resolve")
	c.End(ctx, ft)
	assert.Contains(t, strings.Join(ft.logs, "\n"), "incomplete: dns/pods: connection refused")
}

// A namespace that exists already is refused with the way out, never adopted.
func TestNamespaceThatExistsIsRefused(t *testing.T) {
	s, _ := testSuite(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "scale-check"}})
	err := NewLane(s, "lane").Namespace(context.Background(), "scale-check", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "namespace scale-check already exists")
	assert.Contains(t, err.Error(), EnvReplaceNamespaces)
}

// Namespaces the run creates carry the suite's label, so a later run can
// tell its leftovers.
func TestCreatedNamespacesAreLabelled(t *testing.T) {
	s, cs := testSuite(t)
	require.NoError(t, NewLane(s, "lane").Namespace(context.Background(), "pvc-check", map[string]string{"k": "v"}))
	ns, err := cs.CoreV1().Namespaces().Get(context.Background(), "pvc-check", metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, FieldOwner, ns.Labels[ManagedLabel])
	assert.Equal(t, "v", ns.Labels["k"])
}

// A lane whose checks never began creates nothing and records no span; one
// that ran deletes its namespaces and records its real span.
func TestLaneEnd(t *testing.T) {
	s, cs := testSuite(t)
	ctx := context.Background()
	idle := NewLane(s, "TestStorageCopy")
	require.NoError(t, idle.End(ctx))

	l := NewLane(s, "TestScaleCopy")
	c := l.Begin("L-SCALE")
	require.NoError(t, l.Namespace(ctx, "scale-check", nil))
	c.End(ctx, &fakeT{})
	require.NoError(t, l.End(ctx))
	_, err := cs.CoreV1().Namespaces().Get(ctx, "scale-check", metav1.GetOptions{})
	assert.True(t, isNotFound(err))
	var raw strings.Builder
	s.Report.Print(&raw)
	assert.Contains(t, raw.String(), "TestScaleCopy")
	assert.NotContains(t, raw.String(), "TestStorageCopy")
}

// Require runs its work once, whoever asks first, and every caller gets the
// same result, failures included.
func TestRequireRunsOnceAndRemembersFailure(t *testing.T) {
	s, _ := testSuite(t)
	l := NewLane(s, "lane")
	calls := 0
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := Require(context.Background(), l, "copy", func(context.Context) (int, error) {
				calls++
				return 0, errors.New("apply refused")
			})
			assert.EqualError(t, err, "apply refused")
		}()
	}
	wg.Wait()
	assert.Equal(t, 1, calls)
}

// On an existing cluster a deleted namespace is waited for; one that never
// goes is an error saying what was last seen.
func TestDeleteNamespacesWaitsOnAnExistingCluster(t *testing.T) {
	s, cs := testSuite(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "todo-app"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}})
	s.ExistingKubeconfig = "/dev/null"
	// The fake deletes at once; make the namespace linger as Terminating.
	cs.PrependReactor("delete", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, nil })
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	err := s.DeleteNamespaces(ctx, "todo-app")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "namespace todo-app not gone")
	assert.Contains(t, err.Error(), "last seen: Terminating")
}
