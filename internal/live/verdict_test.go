package live

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/e2e-framework/pkg/envconf"

	"github.com/puretasks/k8s-conformance/internal/report"
)

// agree holds every output of the run to the same verdict for id: the
// test's own result (what JUnit and the exit status read), report.json,
// the printed table and report.html.
func agree(t *testing.T, s *Suite, ft *fakeT, id, verdict string, code report.Code) {
	t.Helper()
	assert.Equal(t, verdict != report.Pass, ft.Failed(), "go test's result (JUnit, exit status) must agree with %s", verdict)

	path := filepath.Join(t.TempDir(), "report.json")
	require.NoError(t, s.Report.WriteJSON(path))
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var doc struct {
		Checks []report.Check `json:"checks"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	var row *report.Check
	for i := range doc.Checks {
		if doc.Checks[i].ID == id {
			row = &doc.Checks[i]
		}
	}
	require.NotNil(t, row, "report.json has a row for %s", id)
	assert.Equal(t, verdict, row.Verdict, "report.json")
	assert.Equal(t, code, row.Code, "report.json reason code")

	var out bytes.Buffer
	s.Report.Print(&out)
	assert.Regexp(t, `(?m)^`+regexp.QuoteMeta(id)+` +`+regexp.QuoteMeta(verdict)+` +`, out.String(), "printed table")

	html := filepath.Join(t.TempDir(), "report.html")
	require.NoError(t, s.Report.WriteHTML(html))
	page, err := os.ReadFile(html)
	require.NoError(t, err)
	assert.Regexp(t, `<b>`+regexp.QuoteMeta(id)+`</b></td><td><span class="badge [A-Z]+">`+regexp.QuoteMeta(verdict)+`</span>`, string(page), "report.html")
}

func begin(s *Suite, id string, steps ...string) *Check {
	c := NewLane(s, "TestTodoApp").Begin(id, steps...)
	c.Start()
	return c
}

// Every assessment ran, measured and nothing failed: PASS, and only then.
func TestVerdictPassNeedsEveryAssessmentAndAMeasurement(t *testing.T) {
	s, _ := testSuite(t)
	ft := &fakeT{}
	c := begin(s, "L-QOS", "pods are Burstable")
	c.Measure(ft, "4 pods Burstable")
	c.Ran("pods are Burstable")
	c.End(context.Background(), ft)
	c.Conclude(ft)
	agree(t, s, ft, "L-QOS", report.Pass, "")

	// The same with nothing measured judged nothing.
	s, _ = testSuite(t)
	ft = &fakeT{}
	c = begin(s, "L-QOS", "pods are Burstable")
	c.Ran("pods are Burstable")
	c.Conclude(ft)
	agree(t, s, ft, "L-QOS", report.Error, report.CodeNoMeasurement)
}

// --assess (or -run) filtered an assessment: the check is NOT RUN, never
// PASS, and go test fails it so JUnit and the exit status agree.
func TestVerdictFilteredAssessmentIsNotRun(t *testing.T) {
	s, _ := testSuite(t)
	ft := &fakeT{}
	c := begin(s, "L-ROLLOUT", "both Deployments become Available", "a rolling update keeps the invariant")
	c.Measure(ft, "backend Available 12s after apply")
	c.Ran("both Deployments become Available")
	c.End(context.Background(), ft)
	row := c.Conclude(ft)
	assert.Contains(t, strings.Join(row.Measurements, "\n"), "1 of 2 assessments did not run")
	assert.Contains(t, strings.Join(row.Measurements, "\n"), "a rolling update keeps the invariant")
	agree(t, s, ft, "L-ROLLOUT", report.NotRun, report.CodeNotRun)

	// None of its assessments ran at all.
	s, _ = testSuite(t)
	ft = &fakeT{}
	c = begin(s, "L-DNS", "resolves")
	c.Conclude(ft)
	agree(t, s, ft, "L-DNS", report.NotRun, report.CodeNotRun)
}

// A teardown that fails after the assessments passed turns the check red
// everywhere, not only in go test.
func TestVerdictTeardownFailureAfterTheJudgementIsError(t *testing.T) {
	s, cs := testSuite(t)
	ctx := context.Background()
	ft := &fakeT{}
	c := begin(s, "L-STARTUP", "scenarios")
	require.NoError(t, c.Namespace(ctx, "probe-startup", nil))
	c.Measure(ft, "4 scenarios in their windows")
	c.Ran("scenarios")
	cs.PrependReactor("delete", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("etcdserver: request timed out")
	})
	c.End(ctx, ft)
	row := c.Conclude(ft)
	assert.Contains(t, strings.Join(row.Measurements, "\n"), "teardown: deleting namespace probe-startup: etcdserver: request timed out")
	agree(t, s, ft, "L-STARTUP", report.Error, report.CodeTeardown)
}

// A broken promise is FAIL; a setup that failed is ERROR.
func TestVerdictFailAndSetupError(t *testing.T) {
	s, _ := testSuite(t)
	ft := &fakeT{}
	c := begin(s, "L-QOS", "pods are Burstable")
	c.Fail(ft, "pod backend-1", "status.qosClass: expected Burstable, got Guaranteed")
	c.Ran("pods are Burstable")
	c.Conclude(ft)
	agree(t, s, ft, "L-QOS", report.Fail, report.CodeSpec)

	s, _ = testSuite(t)
	ft = &fakeT{}
	c = begin(s, "L-DNS", "resolves")
	c.Abort(ft, report.CodeSetup, "cluster", "not run: cluster setup failed: kind create: exit status 1")
	c.Conclude(ft)
	agree(t, s, ft, "L-DNS", report.Error, report.CodeSetup)
}

// A check that failed while the kubelet could not sync its ConfigMap cache
// judged the node, not the manifests: ERROR.
func TestVerdictKubeletCacheTroubleIsError(t *testing.T) {
	p := pod("todo-app", "backend-1")
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "backend", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
		Reason: "CreateContainerConfigError", Message: "failed to sync configmap cache: timed out waiting for the condition"}}}}
	s, _ := testSuite(t, p)
	ft := &fakeT{}
	l := NewLane(s, "TestTodoApp")
	l.Own("todo-app")
	c := l.Begin("L-ENV", "backend environment")
	c.Start()
	c.Fail(ft, "pod backend-1", "env LOG_LEVEL: expected \"info\", not set")
	c.Ran("backend environment")
	c.End(context.Background(), ft)
	c.Conclude(ft)
	agree(t, s, ft, "L-ENV", report.Error, report.CodeKubelet)

	// A key the manifests name but do not provide is theirs: still FAIL.
	p.Status.ContainerStatuses[0].State.Waiting.Message = `couldn't find key LOG_LEVEL in ConfigMap todo-app/todo-config`
	s, _ = testSuite(t, p)
	ft = &fakeT{}
	l = NewLane(s, "TestTodoApp")
	l.Own("todo-app")
	c = l.Begin("L-ENV", "backend environment")
	c.Start()
	c.Fail(ft, "pod backend-1", "env LOG_LEVEL: expected \"info\", not set")
	c.Ran("backend environment")
	c.End(context.Background(), ft)
	c.Conclude(ft)
	agree(t, s, ft, "L-ENV", report.Fail, report.CodeSpec)
}

// A run stopped by a signal: a check it stopped is ERROR (interrupted),
// whatever it saw; one still running when the report is written is too.
func TestVerdictInterruptedRunIsError(t *testing.T) {
	s, _ := testSuite(t)
	ctx, cancel := context.WithCancelCause(context.Background())
	s.runCtx = ctx
	ft := &fakeT{}
	c := begin(s, "L-TRAFFIC", "traffic")
	c.Measure(ft, "backend-service: 412 sent, 0 failed")
	c.Ran("traffic")
	running := begin(s, "L-PVC", "storage")
	cancel(ErrInterrupted{Signal: syscall.SIGTERM})
	c.Conclude(ft)
	agree(t, s, ft, "L-TRAFFIC", report.Error, report.CodeInterrupted)

	s.Report.Interrupt(ErrInterrupted{Signal: syscall.SIGTERM})
	pft := &fakeT{failed: true} // go test never finished it: the exit status is 130
	agree(t, s, pft, "L-PVC", report.Error, report.CodeInterrupted)
	_ = running
}

// Errors that end the run get rows of their own.
func TestRunErrorsAreRows(t *testing.T) {
	s, _ := testSuite(t)
	s.Report.RunError("teardown", report.CodeTeardown, errors.New("kind delete cluster: exit status 1"))
	agree(t, s, &fakeT{failed: true}, "teardown", report.Error, report.CodeTeardown)
	assert.Equal(t, []string{"teardown"}, s.Report.NotPassed())
}

// --fail-fast is refused before anything runs.
func TestFailFastIsRefused(t *testing.T) {
	_, err := NewSelection(envconf.New().WithFailFast(), "")
	assert.ErrorIs(t, err, ErrFailFast)
}

var planned = []PlannedCheck{
	{Test: "TestTodoApp", Feature: "L-DNS backend-service resolves", Labels: map[string][]string{"id": {"L-DNS"}}, Steps: []string{"resolves by name", "the frontend reaches it"}},
	{Test: "TestStorageCopy", Feature: "L-PVC PV and PVC bind", Labels: map[string][]string{"id": {"L-PVC"}}, Steps: []string{"emptyDir, then the claim"}},
}

// A selection that leaves no assessment to run is refused before a cluster
// exists; one that leaves part of a check names it.
func TestSelectionBeforeAnythingRuns(t *testing.T) {
	cases := []struct {
		name    string
		cfg     *envconf.Config
		run     string
		partial []string
		err     error
	}{
		{name: "everything", cfg: envconf.New()},
		{name: "assess typo", cfg: envconf.New().WithAssessmentRegex("nosuch"), err: ErrNoCheckSelected},
		{name: "skip every assessment", cfg: envconf.New().WithSkipAssessmentRegex("."), err: ErrNoCheckSelected},
		{name: "feature typo", cfg: envconf.New().WithFeatureRegex("L-DSN"), err: ErrNoCheckSelected},
		{name: "label", cfg: envconf.New().WithLabels(map[string][]string{"id": {"L-PVC"}})},
		{name: "run matches a feature but none of its steps", cfg: envconf.New(), run: "TestTodoApp/L-DNS/nosuch", err: ErrNoCheckSelected},
		{name: "run on one lane", cfg: envconf.New(), run: "TestStorageCopy"},
		{name: "run with spaces as go test writes them", cfg: envconf.New(), run: "TestTodoApp/L-DNS_backend/resolves_by"},
		{name: "part of a check", cfg: envconf.New().WithAssessmentRegex("resolves|emptyDir"), partial: []string{"L-DNS backend-service resolves (1 of 2 assessments selected)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sel, err := NewSelection(tc.cfg, tc.run)
			require.NoError(t, err)
			partial, err := sel.Check(planned)
			assert.ErrorIs(t, err, tc.err)
			if tc.name == "run with spaces as go test writes them" {
				assert.Equal(t, []string{"L-DNS backend-service resolves (1 of 2 assessments selected)"}, partial)
				return
			}
			assert.Equal(t, tc.partial, partial)
		})
	}
}

// A 503 through the API server's proxy is an answer error naming the
// status and the body's first line, never a body to read.
func TestProxy503IsAnAnswerError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"error trying to reach service: dial tcp 10.244.1.5:8080: connect: connection refused","reason":"ServiceUnavailable","code":503}` + "\n" + "second line"))
	}))
	defer srv.Close()
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	require.NoError(t, err)
	code, body, err := Proxy(context.Background(), cs, "GET", "todo-app", "frontend-1", 3000, "/api/env", nil)
	require.NoError(t, err, "a status is an answer, not a transport error")
	assert.Equal(t, http.StatusServiceUnavailable, code)
	var env struct {
		SecretKeys []string `json:"secretKeys"`
	}
	err = DecodeAnswer("GET /api/env on pod todo-app/frontend-1", code, body, &env, http.StatusOK)
	var ans *AnswerError
	require.ErrorAs(t, err, &ans)
	assert.Equal(t, 503, ans.Got)
	assert.Contains(t, err.Error(), "expected status [200], got 503")
	assert.Contains(t, err.Error(), "connection refused")
	assert.NotContains(t, err.Error(), "second line")
	assert.Empty(t, env.SecretKeys, "the error body was not read as an answer")

	assert.NoError(t, CheckAnswer("x", 404, nil, http.StatusOK, http.StatusNotFound))
	assert.ErrorContains(t, CheckAnswer("x", 502, nil, http.StatusOK), "got 502: (empty body)")
}

// A copy the suite derives as ClusterIP is valid for any Service the API
// server accepted: no field the server allows only on other types stays.
func TestAsClusterIPClearsEveryFieldOfOtherTypes(t *testing.T) {
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "frontend-service"}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeLoadBalancer, ClusterIP: "10.96.0.50", ClusterIPs: []string{"10.96.0.50"},
		Ports:                 []corev1.ServicePort{{Port: 80, NodePort: 30000}},
		ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal, HealthCheckNodePort: 31000,
		AllocateLoadBalancerNodePorts: new(bool), LoadBalancerIP: "1.2.3.4", LoadBalancerSourceRanges: []string{"0.0.0.0/0"},
		LoadBalancerClass: new(string), SessionAffinity: corev1.ServiceAffinityClientIP,
	}}
	AsClusterIP(svc)
	want := corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: []corev1.ServicePort{{Port: 80}}, SessionAffinity: corev1.ServiceAffinityClientIP}
	assert.Equal(t, want, svc.Spec)

	headless := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "None", Ports: []corev1.ServicePort{{Port: 80, NodePort: 30001}}}}
	AsClusterIP(headless)
	assert.Equal(t, "None", headless.Spec.ClusterIP)
	ext := &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}}
	AsClusterIP(ext)
	assert.Equal(t, corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: "None"}, ext.Spec, "no ports: only headless is valid")
}
