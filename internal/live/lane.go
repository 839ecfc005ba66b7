package live

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/puretasks/k8s-conformance/internal/evidence"
	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/report"
)

// ManagedLabel marks every namespace a run creates, so a later run can tell
// a leftover of this suite from a namespace someone else owns.
const ManagedLabel = "app.kubernetes.io/managed-by"

type ctxKey int

const (
	suiteKey ctxKey = iota
	laneKey
	checkKey
)

// WithSuite returns ctx carrying the run's Suite (the e2e Setup step puts it
// there; every step reads it back with SuiteFrom).
func WithSuite(ctx context.Context, s *Suite) context.Context {
	return context.WithValue(ctx, suiteKey, s)
}

// SuiteFrom returns the Suite the Setup step stored in ctx.
func SuiteFrom(ctx context.Context) *Suite {
	s, _ := ctx.Value(suiteKey).(*Suite)
	return s
}

// WithLane returns ctx carrying a lane (the BeforeEachTest step of a lane's
// top-level test puts it there).
func WithLane(ctx context.Context, l *Lane) context.Context {
	return context.WithValue(ctx, laneKey, l)
}

// LaneFrom returns the lane in ctx, or nil.
func LaneFrom(ctx context.Context) *Lane {
	l, _ := ctx.Value(laneKey).(*Lane)
	return l
}

// WithCheck returns ctx carrying the running check (its feature's Setup step
// puts it there; its assessments and Teardown read it).
func WithCheck(ctx context.Context, c *Check) context.Context {
	return context.WithValue(ctx, checkKey, c)
}

// CheckFrom returns the running check in ctx, or nil.
func CheckFrom(ctx context.Context) *Check {
	c, _ := ctx.Value(checkKey).(*Check)
	return c
}

// Lane is one top-level test of the live tier: a group of checks that share
// namespaces and run beside the other lanes. It exists from the lane test's
// start, but touches the cluster only when one of its checks begins, so a
// lane whose checks are all filtered out creates nothing.
type Lane struct {
	Name  string
	Suite *Suite

	mu         sync.Mutex
	start      time.Time
	ids        []string
	namespaces []string // shared by the lane's checks; deleted when the lane ends
	once       map[string]*onceResult
}

type onceResult struct {
	once sync.Once
	val  any
	err  error
}

// NewLane returns a lane of the suite; nothing is created yet.
func NewLane(s *Suite, name string) *Lane {
	return &Lane{Name: name, Suite: s, once: map[string]*onceResult{}}
}

// Require runs fn once per lane under key: every check that needs the same
// thing (the app applied and Available, a copy deployed) calls it, whichever
// of them runs first does the work, and all of them get its result. A failed
// requirement stays failed for the lane.
func (l *Lane) Require(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	l.mu.Lock()
	r := l.once[key]
	if r == nil {
		r = &onceResult{}
		l.once[key] = r
	}
	l.mu.Unlock()
	r.once.Do(func() { r.val, r.err = fn(ctx) })
	return r.val, r.err
}

// Require is Lane.Require with the value's type.
func Require[T any](ctx context.Context, l *Lane, key string, fn func(context.Context) (T, error)) (T, error) {
	v, err := l.Require(ctx, key, func(ctx context.Context) (any, error) { return fn(ctx) })
	t, _ := v.(T)
	return t, err
}

// Namespace creates a namespace shared by the lane's checks; the lane deletes
// it when it ends. A namespace that already exists is an error: the run
// never adopts what it did not create.
func (l *Lane) Namespace(ctx context.Context, name string, labels map[string]string) error {
	if err := l.Suite.createNamespace(ctx, name, labels); err != nil {
		return err
	}
	l.Own(name)
	return nil
}

// Own records a namespace the lane created some other way (the todo-app
// namespace comes with the manifests): it is collected as evidence of the
// lane's failed checks and deleted when the lane ends.
func (l *Lane) Own(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !slices.Contains(l.namespaces, name) {
		l.namespaces = append(l.namespaces, name)
	}
	l.Suite.created(name)
}

// Namespaces returns the lane's shared namespaces.
func (l *Lane) Namespaces() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.namespaces)
}

// End deletes the lane's namespaces and records its span in the report. It
// does nothing for a lane none of whose checks ran.
func (l *Lane) End(ctx context.Context) error {
	l.mu.Lock()
	start, ids, nss := l.start, slices.Clone(l.ids), slices.Clone(l.namespaces)
	l.mu.Unlock()
	if start.IsZero() {
		return nil
	}
	err := l.Suite.DeleteNamespaces(ctx, nss...)
	l.Suite.Report.Lane(l.Name, start, time.Now(), ids...)
	return err
}

// TB is the part of *testing.T a check reports through (an interface so the
// package's unit tests can watch what a check reports).
type TB interface {
	Helper()
	Logf(format string, a ...any)
	Errorf(format string, a ...any)
	Fatalf(format string, a ...any)
	Failed() bool
}

// Check is one catalogue ID's feature while it runs.
type Check struct {
	ID    string
	Lane  *Lane
	Suite *Suite

	mu         sync.Mutex
	namespaces []string // this check's own; evidence, then deleted at its end
	steps      []string // every assessment of the check, in order
	ran        map[string]bool
	idle       bool // no assessment selected: nothing of it runs
}

// Begin starts a check of the lane with its assessments' names: the lane's
// span starts with its first check. The check's clock starts with Start,
// once what it needs exists (the cluster), so the first check does not
// carry the cluster's creation.
func (l *Lane) Begin(id string, steps ...string) *Check {
	l.mu.Lock()
	if l.start.IsZero() {
		l.start = time.Now()
	}
	if !slices.Contains(l.ids, id) {
		l.ids = append(l.ids, id)
	}
	l.mu.Unlock()
	return &Check{ID: id, Lane: l, Suite: l.Suite, steps: slices.Clone(steps), ran: map[string]bool{}}
}

// Start starts the check's clock and opens its report row.
func (c *Check) Start() { c.Suite.Report.Start(c.ID) }

// Ran records that an assessment of the check ran (to its end or to a
// failure). An assessment a filter skipped never calls it.
func (c *Check) Ran(step string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ran[step] = true
}

// Namespace creates a namespace that belongs to this check alone (a probe
// scenario's): it is collected as evidence if the check fails and deleted
// when the check ends, freeing its capacity for the lanes still running.
func (c *Check) Namespace(ctx context.Context, name string, labels map[string]string) error {
	if err := c.Suite.createNamespace(ctx, name, labels); err != nil {
		return err
	}
	c.mu.Lock()
	c.namespaces = append(c.namespaces, name)
	c.mu.Unlock()
	c.Suite.created(name)
	return nil
}

// Namespaces returns where this check's evidence lives: its own namespaces
// and its lane's.
func (c *Check) Namespaces() []string {
	c.mu.Lock()
	own := slices.Clone(c.namespaces)
	c.mu.Unlock()
	return append(own, c.Lane.Namespaces()...)
}

// Measure logs a measurement and records it in the check's report row.
func (c *Check) Measure(t TB, format string, a ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, a...)
	t.Logf("%s: %s", c.ID, msg)
	c.Suite.Report.Measure(c.ID, "%s", msg)
}

// Fail records a broken promise of the spec (the check will be FAIL) where
// it is called, naming the ID, the resource and what was expected and seen.
func (c *Check) Fail(t TB, resource, format string, a ...any) {
	t.Helper()
	c.miss(t, report.CodeSpec, resource, format, a...)
}

// Fatal is Fail, then stops the assessment (call it from the test's own
// goroutine only).
func (c *Check) Fatal(t TB, resource, format string, a ...any) {
	t.Helper()
	msg := c.record(report.CodeSpec, resource, format, a...)
	t.Fatalf("%s", msg)
}

// Error records that the check could not judge (the check will be ERROR
// unless a promise was also seen broken): an API error, what it needs not
// set up, an answer that is no measurement. code says which.
func (c *Check) Error(t TB, code report.Code, resource, format string, a ...any) {
	t.Helper()
	c.miss(t, code, resource, format, a...)
}

// Abort is Error, then stops the assessment (call it from the test's own
// goroutine only).
func (c *Check) Abort(t TB, code report.Code, resource, format string, a ...any) {
	t.Helper()
	msg := c.record(code, resource, format, a...)
	t.Fatalf("%s", msg)
}

// requireClusterDNS stops the check, as ERROR, when the cluster does not
// resolve names: whatever a name lookup then did would say nothing about
// the manifests.
func (c *Check) requireClusterDNS(ctx context.Context, t TB) {
	t.Helper()
	if err := c.Suite.ClusterDNS(ctx); err != nil {
		c.Start()
		c.Abort(t, report.CodeSetup, "Deployment kube-system/coredns", "not run: the cluster does not resolve names: %v", err)
	}
}

func (c *Check) miss(t TB, code report.Code, resource, format string, a ...any) {
	t.Helper()
	t.Errorf("%s", c.record(code, resource, format, a...))
}

// record puts a miss in the report row and returns the test's message.
func (c *Check) record(code report.Code, resource, format string, a ...any) string {
	msg := fmt.Sprintf(format, a...)
	if cause := c.Suite.Gone(); cause != nil && code != report.CodeInterrupted {
		// Whatever failed while the cluster was going is no judgement.
		c.Suite.Report.Miss(c.ID, report.Miss{Code: report.CodeClusterGone, Resource: "cluster", Text: cause.Error()})
	}
	c.Suite.Report.Miss(c.ID, report.Miss{Code: code, Resource: resource, Text: msg})
	verdict := report.Error
	if code == report.CodeSpec {
		verdict = report.Fail
	}
	return fmt.Sprintf("%s %s %s: %s", c.ID, verdict, resource, msg)
}

// evidenceTimeout bounds evidence collection; when the cluster is gone it is
// skipped instead (there is nothing left to read).
const evidenceTimeout = time.Minute

// End is the check's teardown step: a failed check's evidence is collected
// from its namespaces and its lane's (they still exist), a node that failed
// on its own is named, then its own namespaces are deleted. It decides
// nothing: Conclude does, once every step has ended.
func (c *Check) End(ctx context.Context, t TB) {
	t.Helper()
	if t.Failed() {
		dir, err := c.CollectEvidence(ctx)
		if err != nil {
			t.Logf("%s: evidence in %s is incomplete: %v", c.ID, dir, err)
		} else {
			t.Logf("%s: evidence in %s", c.ID, dir)
		}
		c.kubeletTrouble(ctx, t)
	}
	c.mu.Lock()
	own := slices.Clone(c.namespaces)
	c.mu.Unlock()
	if err := c.Suite.DeleteNamespaces(ctx, own...); err != nil {
		c.Error(t, report.CodeTeardown, "namespaces "+strings.Join(own, ", "), "teardown: %v", err)
	}
}

// Conclude decides the check's verdict once every step of it has ended,
// teardown included, from go test's own result and what ran (register it
// with t.Cleanup when the check begins). A verdict other than PASS fails
// the test too, so the report, JUnit and the exit status agree.
func (c *Check) Conclude(t TB) report.Check {
	c.mu.Lock()
	o := report.Outcome{Failed: t.Failed(), Steps: len(c.steps)}
	for _, s := range c.steps {
		if c.ran[s] {
			o.Ran++
		} else {
			o.NotRan = append(o.NotRan, s)
		}
	}
	c.mu.Unlock()
	if c.Suite.Interrupted() {
		o.Interrupted = c.Suite.interruptCause()
	}
	row := c.Suite.Report.Conclude(c.ID, o)
	if !row.Passed() && !t.Failed() {
		t.Errorf("%s %s (%s): %s", c.ID, row.Verdict, row.Code, lastMiss(row))
	}
	t.Logf("%s verdict %s %s", c.ID, row.Verdict, row.Code)
	return row
}

func lastMiss(c report.Check) string {
	if len(c.Misses) == 0 {
		return "-"
	}
	m := c.Misses[len(c.Misses)-1]
	return m.Resource + ": " + m.Text
}

// kubeletTrouble names pods of the check's namespaces that the kubelet
// failed to start for reasons of its own (its ConfigMap or Secret cache did
// not sync): whatever the check saw of them says nothing of the manifests.
// A missing key or object is the manifests' fault and is not matched.
func (c *Check) kubeletTrouble(ctx context.Context, t TB) {
	if c.Suite.Clientset == nil || c.Suite.Gone() != nil {
		return
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), evidenceTimeout)
	defer cancel()
	for _, ns := range c.Namespaces() {
		pods, err := c.Suite.Clientset.CoreV1().Pods(ns).List(cctx, metav1.ListOptions{})
		if err != nil {
			continue
		}
		for _, p := range pods.Items {
			for _, st := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
				w := st.State.Waiting
				if KubeletCacheNotSynced(w) {
					c.Error(t, report.CodeKubelet, "pod "+ns+"/"+p.Name, "the kubelet could not start container %s: %s: %s (a node fault, not the manifests')", st.Name, w.Reason, w.Message)
					return
				}
			}
		}
	}
}

// CollectEvidence writes the state of the check's namespaces (and the
// cluster's PVs and nodes) to $ARTIFACTS/<ID>/.
func (c *Check) CollectEvidence(ctx context.Context) (string, error) {
	dir := filepath.Join(c.Suite.Artifacts, c.ID)
	if cause := c.Suite.Gone(); cause != nil {
		return dir, fmt.Errorf("not collected: %w", cause)
	}
	if c.Suite.Clientset == nil {
		return dir, errors.New("not collected: no cluster client")
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), evidenceTimeout)
	defer cancel()
	return dir, evidence.Collect(cctx, c.Suite.Clientset, dir, c.Namespaces()...)
}

// createNamespace creates a namespace labelled as the suite's; one that
// already exists is refused with a message saying what to do.
func (s *Suite) createNamespace(ctx context.Context, name string, labels map[string]string) error {
	l := map[string]string{ManagedLabel: FieldOwner}
	for k, v := range labels {
		l[k] = v
	}
	_, err := s.Clientset.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("namespace %s already exists: the run creates its namespaces fresh (a leftover of an earlier run? delete it, or set %s=1)", name, EnvReplaceNamespaces)
	}
	if err != nil {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}

// DeleteNamespaces deletes namespaces the run created. On an existing
// cluster it waits until they are gone, so the next run finds none; a kind
// cluster goes as a whole right after, so there it only asks.
func (s *Suite) DeleteNamespaces(ctx context.Context, names ...string) error {
	if len(names) == 0 {
		return nil
	}
	if cause := s.Gone(); cause != nil {
		return fmt.Errorf("namespaces %v not deleted: %w", names, cause)
	}
	if ctx.Err() != nil {
		// The run's context has ended (a failed or timed-out check): the
		// namespaces still go, bounded by the wait's own deadline.
		ctx = context.WithoutCancel(ctx)
	}
	var errs []error
	for _, n := range names {
		err := s.Clientset.CoreV1().Namespaces().Delete(ctx, n, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting namespace %s: %w", n, err))
		}
	}
	if s.ExistingKubeconfig == "" || len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, n := range names {
		if err := NamespaceGone(ctx, s.Clientset, n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// NamespaceGone waits until a deleted namespace no longer exists; the error
// says what was last seen.
func NamespaceGone(ctx context.Context, cs kubernetes.Interface, name string) error {
	last := "present"
	err := poll.Until(ctx, poll.NamespaceGone, func(ctx context.Context) (bool, error) {
		ns, err := cs.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return true, nil
		case err != nil:
			last = err.Error()
		default:
			last = string(ns.Status.Phase)
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("namespace %s not gone: %w; last seen: %s", name, err, last)
	}
	return nil
}
