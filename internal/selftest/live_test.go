package selftest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/internal/report"
)

func mutant(name string, live ...string) Mutant {
	return Mutant{Name: name, Dir: "/m/" + name, Descriptor: Descriptor{Why: "break " + name, Live: live}}
}

func rep(checks ...report.Check) *RunReport { return &RunReport{Checks: checks} }

// chk is a report row; each "MISS resource: text" measurement is a broken
// promise (reason code spec), as report.Miss records it.
func chk(id, verdict string, ms ...string) report.Check {
	c := report.Check{ID: id, Verdict: verdict, Measurements: ms}
	for _, m := range ms {
		if rest, ok := strings.CutPrefix(m, "MISS "); ok {
			res, text, _ := strings.Cut(rest, ": ")
			c.Misses = append(c.Misses, report.Miss{Code: report.CodeSpec, Resource: res, Text: text})
		}
	}
	return c
}

// errChk is a row the run could not judge, with its reason code.
func errChk(id string, code report.Code, resource, text string) report.Check {
	m := report.Miss{Code: code, Resource: resource, Text: text}
	return report.Check{ID: id, Verdict: report.Error, Code: code, Misses: []report.Miss{m}, Measurements: []string{m.String()}}
}

func observed(cells []Cell) map[string]Observed {
	out := map[string]Observed{}
	for _, c := range cells {
		out[c.ID] = c.Observed
	}
	return out
}

func TestClassifyLive(t *testing.T) {
	m := mutant("sel", "L-DNS", "L-TRAFFIC", "L-LB")
	cells := ClassifyLive(m, rep(
		chk("L-APPLY", report.Pass),
		chk("L-DNS", report.Fail, "resolve ok", "MISS Service backend-service: GET: expected 200"),
		chk("L-TRAFFIC", report.Pass, "0 failed"),
		chk("L-READINESS", report.Fail, "MISS scenario readiness-backend: never a ready endpoint"),
	), errors.New("exit 1"))
	assert.Equal(t, map[string]Observed{"L-DNS": Caught, "L-TRAFFIC": Missed, "L-LB": NotRun, "L-READINESS": Caught}, observed(cells))
	assert.Equal(t, "MISS Service backend-service: GET: expected 200", cells[0].Detail)
	for _, c := range cells {
		assert.Equal(t, c.ID != "L-READINESS", c.Expected, c.ID)
	}
}

func TestClassifyLiveAFailedApplyIsNoCatch(t *testing.T) {
	cells := ClassifyLive(mutant("qos", "L-QOS"), rep(chk("L-APPLY", report.Fail), chk("L-QOS", report.Fail)), nil)
	assert.Equal(t, Error, cells[0].Observed)
	assert.Contains(t, cells[0].Detail, "did not apply")
	// A check that stopped before observing anything caught nothing: the
	// report's reason code says so, no message is parsed.
	cells = ClassifyLive(mutant("qos", "L-QOS"), rep(errChk("L-QOS", report.CodeSetup, "namespace todo-app", "not run: Deployments not Available: timeout")), nil)
	assert.Equal(t, Error, cells[0].Observed)
	assert.Contains(t, cells[0].Detail, "could not judge (setup)")
	withSetupMiss := chk("L-QOS", report.Fail, "MISS pod b: status.qosClass: expected Burstable, got Guaranteed")
	withSetupMiss.Misses = append(withSetupMiss.Misses, report.Miss{Code: report.CodeSetup, Resource: "scenario a", Text: "x"})
	cells = ClassifyLive(mutant("qos", "L-QOS"), rep(withSetupMiss), nil)
	assert.Equal(t, Caught, cells[0].Observed)
	// ...unless the apply is what the mutant breaks.
	cells = ClassifyLive(mutant("apply", "L-APPLY"), rep(chk("L-APPLY", report.Fail, "MISS server-side dry-run: invalid")), nil)
	assert.Equal(t, Caught, cells[0].Observed)
}

func TestClassifyLiveWithoutAReportIsAnError(t *testing.T) {
	cells := ClassifyLive(mutant("x", "L-DNS", "L-LB"), nil, errors.New("signal: killed"))
	require.Len(t, cells, 2)
	for _, c := range cells {
		assert.Equal(t, Error, c.Observed)
		assert.Contains(t, c.Detail, "signal: killed")
	}
	setup := &RunReport{Notes: []string{"manifests x: default set", "SETUP FAILED: preflight: stat /kc: no such file"}}
	cells = ClassifyLive(mutant("x", "L-DNS"), setup, errors.New("exit 1"))
	assert.Equal(t, Error, cells[0].Observed)
	assert.Contains(t, cells[0].Detail, "SETUP FAILED: preflight")
	notRun := report.Check{ID: "L-PVC", Verdict: report.NotRun, Code: report.CodeNotRun, Measurements: []string{"MISS assessments: 1 of 2 assessments did not run"}}
	cells = ClassifyLive(mutant("pv", "L-PVC"), rep(notRun), nil)
	assert.Equal(t, NotRun, cells[0].Observed)
	assert.Contains(t, cells[0].Detail, "did not run")
}

func TestPlanLiveSelectsOnlyTheNamedChecks(t *testing.T) {
	ms := []Mutant{mutant("a", "L-DNS", "L-LB"), {Name: "static-only", Descriptor: Descriptor{Static: []string{"BD-7"}}}}
	plans := PlanLive(ms, "/art/selftest", "/k/kubeconfig", 10*time.Minute)
	require.Len(t, plans, 1)
	p := plans[0]
	assert.Equal(t, []string{"-test.v", "-test.count=1", "-test.timeout=10m0s", "--labels", "id=L-DNS,id=L-LB"}, p.Args)
	assert.Equal(t, []string{"MANIFESTS_DIR=/m/a", "ARTIFACTS=/art/selftest/a", "E2E_KUBECONFIG=/k/kubeconfig"}, p.Env)
	assert.Equal(t, "MANIFESTS_DIR=/m/a ARTIFACTS=/art/selftest/a E2E_KUBECONFIG=/k/kubeconfig go test ./e2e -tags e2e -count=1 -v -args --labels id=L-DNS,id=L-LB", p.Command())
}

// fakeRunner writes the report a run would have written.
type fakeRunner struct {
	reports map[string]*RunReport // by mutant
	calls   []string
	cancel  func() // called after the first run, to simulate Ctrl-C
}

func (f *fakeRunner) Run(ctx context.Context, r LiveRun) (int, error) {
	f.calls = append(f.calls, r.Mutant.Name)
	if f.cancel != nil {
		f.cancel()
	}
	rep, ok := f.reports[r.Mutant.Name]
	if !ok {
		return -1, errors.New("crashed")
	}
	if err := os.MkdirAll(r.Artifacts, 0o755); err != nil {
		return -1, err
	}
	raw, _ := json.Marshal(rep)
	return 1, os.WriteFile(filepath.Join(r.Artifacts, "report.json"), raw, 0o644)
}

type fakeRestorer struct {
	left [][]string
	errs []error
	n    int
}

func (f *fakeRestorer) Restore(context.Context) ([]string, error) {
	defer func() { f.n++ }()
	var left []string
	var err error
	if f.n < len(f.left) {
		left = f.left[f.n]
	}
	if f.n < len(f.errs) {
		err = f.errs[f.n]
	}
	return left, err
}

func TestDriverRunsEachMutantAndRestores(t *testing.T) {
	art := t.TempDir()
	ms := []Mutant{mutant("a", "L-DNS"), mutant("b", "L-QOS"), mutant("c", "L-LB")}
	runner := &fakeRunner{reports: map[string]*RunReport{
		"a": rep(chk("L-DNS", report.Fail, "MISS x")),
		"b": rep(chk("L-QOS", report.Pass)),
	}}
	restorer := &fakeRestorer{left: [][]string{{"namespace todo-app"}}}
	var log bytes.Buffer
	_, rows := Driver{Runner: runner, Restorer: restorer, Log: &log}.RunLive(context.Background(), nil, PlanLive(ms, art, "kc", time.Minute))
	require.Len(t, rows, 3)
	assert.Equal(t, []string{"a", "b", "c"}, runner.calls)
	assert.Equal(t, 3, restorer.n, "restored after every mutant")
	assert.Equal(t, Caught, rows[0].Cells[0].Observed)
	assert.Contains(t, rows[0].Cleanup, "namespace todo-app")
	assert.Equal(t, Missed, rows[1].Cells[0].Observed)
	assert.Equal(t, Error, rows[2].Cells[0].Observed, "a run that left no report")

	r := Result{Mode: string(Live), Mutants: rows}
	r.Judge(false)
	assert.False(t, r.Passed)
	assert.Len(t, r.Problems, 4, "b missed, c errored, and neither was caught by any live check: %v", r.Problems)
}

func TestDriverStopsWhenTheClusterCannotBeRestored(t *testing.T) {
	ms := []Mutant{mutant("a", "L-DNS"), mutant("b", "L-QOS")}
	runner := &fakeRunner{reports: map[string]*RunReport{"a": rep(chk("L-DNS", report.Fail, "MISS x")), "b": rep(chk("L-QOS", report.Fail, "MISS y"))}}
	restorer := &fakeRestorer{errs: []error{errors.New("namespace todo-app still present")}}
	_, rows := Driver{Runner: runner, Restorer: restorer, Log: &bytes.Buffer{}}.RunLive(context.Background(), nil, PlanLive(ms, t.TempDir(), "kc", time.Minute))
	assert.Equal(t, []string{"a"}, runner.calls)
	assert.Equal(t, NotRun, rows[1].Cells[0].Observed)
	assert.Contains(t, rows[1].Cells[0].Detail, "still present")
	// a's failure happened on a cluster that then could not be restored: no catch.
	assert.Equal(t, Error, rows[0].Cells[0].Observed)
	assert.Contains(t, rows[0].Cells[0].Detail, "could not be restored")

	r := Result{Mode: string(Live), Mutants: rows}
	r.Judge(false)
	assert.Contains(t, strings.Join(r.Problems, "\n"), "a: the cluster could not be restored after it: namespace todo-app still present")
}

func TestDriverStopsOnInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ms := []Mutant{mutant("a", "L-DNS"), mutant("b", "L-QOS")}
	runner := &fakeRunner{reports: map[string]*RunReport{"a": rep(chk("L-DNS", report.Fail, "MISS x"))}, cancel: cancel}
	restorer := &fakeRestorer{}
	_, rows := Driver{Runner: runner, Restorer: restorer, Log: &bytes.Buffer{}}.RunLive(ctx, nil, PlanLive(ms, t.TempDir(), "kc", time.Minute))
	assert.Equal(t, []string{"a"}, runner.calls)
	assert.Equal(t, 1, restorer.n, "the interrupted mutant is still cleaned up")
	for _, row := range rows {
		assert.Equal(t, NotRun, row.Cells[0].Observed, "%s: a run stopped by Ctrl-C failed because it was stopped, not caught", row.Name)
		assert.Contains(t, row.Cells[0].Detail, "interrupted")
	}
}

// A FAIL is a catch only when a miss shows the break: not an API error,
// not a bare failure with nothing recorded, not a cluster that went away.
func TestClassifyLiveACatchMustShowTheBreak(t *testing.T) {
	m := mutant("qos", "L-QOS")
	m.Expect = map[string][]string{"L-QOS": {"expected Burstable, got Guaranteed"}}
	cells := ClassifyLive(m, rep(chk("L-QOS", report.Fail, "MISS pod backend-1: status.qosClass: expected Burstable, got Guaranteed")), nil)
	assert.Equal(t, Caught, cells[0].Observed)

	cells = ClassifyLive(m, rep(chk("L-QOS", report.Fail, "MISS pod backend-1: status.qosClass: expected Burstable, got BestEffort")), nil)
	assert.Equal(t, Error, cells[0].Observed)
	assert.Contains(t, cells[0].Detail, "not by the break")
	assert.Contains(t, cells[0].Detail, "got BestEffort")

	cells = ClassifyLive(m, rep(errChk("L-QOS", report.CodeAPI, "pod backend-1", "listing pods: the server is currently unable to handle the request")), nil)
	assert.Equal(t, Error, cells[0].Observed)
	assert.Contains(t, cells[0].Detail, "could not judge (api)")

	cells = ClassifyLive(m, rep(chk("L-QOS", report.Fail, "pods listed")), nil)
	assert.Equal(t, Error, cells[0].Observed)
	assert.Contains(t, cells[0].Detail, "no broken promise recorded")

	gone := rep(chk("L-QOS", report.Fail, "MISS pod backend-1: status.qosClass: expected Burstable, got Guaranteed"))
	gone.Notes = []string{"the cluster is gone: API server /readyz: connection refused (4 checks in a row over 4s)"}
	cells = ClassifyLive(m, gone, nil)
	assert.Equal(t, Error, cells[0].Observed)
	assert.Contains(t, cells[0].Detail, "cluster went away")
}

// A report left by an earlier self-test is removed before the run: a run
// that writes none is an error, never judged by the old verdicts.
func TestBinaryRunnerRemovesAnEarlierReport(t *testing.T) {
	dir := t.TempDir()
	art := filepath.Join(dir, "art")
	require.NoError(t, os.MkdirAll(art, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(art, "report.json"), []byte(`{"checks":[{"id":"L-DNS","verdict":"FAIL","measurements":["MISS old"]}]}`), 0o644))
	bin := filepath.Join(dir, "e2e.test")
	require.NoError(t, os.WriteFile(bin, []byte("#!/bin/sh\nexit 1\n"), 0o755))
	_, err := BinaryRunner{Binary: bin, Dir: dir, Grace: time.Second}.Run(context.Background(), LiveRun{Mutant: mutant("a", "L-DNS"), Artifacts: art})
	require.Error(t, err)
	_, err = ReadRunReport(art)
	require.ErrorIs(t, err, os.ErrNotExist, "the earlier report is gone")
}

// TestBinaryRunnerPassesTheRunsEnvironment runs a stand-in for the e2e
// binary: a script that writes what it was given as its report.
func TestBinaryRunnerPassesTheRunsEnvironment(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "e2e.test")
	script := `#!/bin/sh
echo "args: $*"
printf '{"checks":[{"id":"L-DNS","verdict":"FAIL","measurements":["MISS %s %s"]}]}' "$MANIFESTS_DIR" "$E2E_KUBECONFIG" > "$ARTIFACTS/report.json"
exit 1
`
	require.NoError(t, os.WriteFile(bin, []byte(script), 0o755))
	m := mutant("a", "L-DNS")
	p := PlanLive([]Mutant{m}, filepath.Join(dir, "art"), "/kc", time.Minute)[0]
	code, err := BinaryRunner{Binary: bin, Dir: dir, Grace: time.Second}.Run(context.Background(), p)
	assert.Equal(t, 1, code)
	require.Error(t, err)
	r, err := ReadRunReport(p.Artifacts)
	require.NoError(t, err)
	assert.Equal(t, "MISS /m/a /kc", r.Checks[0].Measurements[0])
	out, err := os.ReadFile(filepath.Join(p.Artifacts, "output.log"))
	require.NoError(t, err)
	assert.True(t, strings.Contains(string(out), "--labels id=L-DNS"), string(out))
}

// TestBinaryRunnerInterruptsOnCancel: cancelling sends SIGINT, which the
// suite traps to tear down.
func TestBinaryRunnerInterruptsOnCancel(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "e2e.test")
	script := "#!/bin/sh\ntrap 'echo got INT; exit 130' INT\necho started\nwhile :; do sleep 0.05; done\n"
	require.NoError(t, os.WriteFile(bin, []byte(script), 0o755))
	p := PlanLive([]Mutant{mutant("a", "L-DNS")}, filepath.Join(dir, "art"), "/kc", time.Minute)[0]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		code, _ := BinaryRunner{Binary: bin, Dir: dir, Grace: 10 * time.Second}.Run(ctx, p)
		done <- code
	}()
	require.Eventually(t, func() bool {
		out, _ := os.ReadFile(filepath.Join(p.Artifacts, "output.log"))
		return strings.Contains(string(out), "started")
	}, 5*time.Second, 10*time.Millisecond)
	cancel()
	select {
	case code := <-done:
		out, _ := os.ReadFile(filepath.Join(p.Artifacts, "output.log"))
		assert.Contains(t, string(out), "got INT")
		assert.NotEqual(t, 0, code)
	case <-time.After(10 * time.Second):
		t.Fatal("the run did not end after SIGINT")
	}
}

func TestControlRunDiscreditsChecksThatFailOnGoodManifests(t *testing.T) {
	art := t.TempDir()
	control := PlanControl("/repo/manifests", art, "kc", time.Minute)
	assert.Equal(t, ControlName, control.Mutant.Name)
	assert.Contains(t, control.Args, "id=L-APPLY,id=L-ROLLOUT,id=L-TRAFFIC,id=L-SCALE,id=L-DNS,id=L-LB,id=L-INTERNAL,id=L-NODEPORT,id=L-ENV,id=L-STARTUP,id=L-LIVENESS,id=L-READINESS,id=L-PVC,id=L-QOS,id=L-HELM,id=L-UPGRADE")
	assert.Contains(t, control.Env, "E2E_UPGRADE_FROM=HEAD", "L-UPGRADE's control: the repository's manifests over their own last commit")
	var good []report.Check
	for _, id := range LiveIDs {
		v := report.Pass
		if id == "L-DNS" {
			v = report.Fail // the cluster's DNS is broken: every L-DNS catch means nothing
		}
		c := chk(id, v, "MISS coredns down")
		if id == "L-PVC" {
			c = report.Check{ID: id, Verdict: report.NotRun, Code: report.CodeNotRun, Measurements: []string{"MISS assessments: none ran"}} // cannot be shown to pass
		}
		good = append(good, c)
	}
	runner := &fakeRunner{reports: map[string]*RunReport{
		ControlName: rep(good...),
		"a":         rep(chk("L-DNS", report.Fail, "MISS no answer"), chk("L-QOS", report.Fail, "MISS Guaranteed")),
	}}
	restorer := &fakeRestorer{}
	cr, rows := Driver{Runner: runner, Restorer: restorer, Log: &bytes.Buffer{}}.RunLive(context.Background(), &control, PlanLive([]Mutant{mutant("a", "L-DNS", "L-QOS")}, art, "kc", time.Minute))
	assert.Equal(t, []string{ControlName, "a"}, runner.calls)
	assert.Equal(t, 2, restorer.n)
	assert.Equal(t, map[string]string{"L-DNS": "MISS coredns down", "L-PVC": "NOT RUN (not-run): MISS assessments: none ran"}, cr.Failed)
	assert.Equal(t, map[string]Observed{"L-DNS": Error, "L-QOS": Caught}, observed(rows[0].Cells))
	r := Result{Mode: string(Live), Control: cr, Mutants: rows}
	r.Judge(false)
	assert.False(t, r.Passed)
	assert.Contains(t, strings.Join(r.Problems, "\n"), "control run: L-DNS fails on the unbroken manifests")
}

func TestNoMutantRunsWhenTheControlLeftNoReport(t *testing.T) {
	art := t.TempDir()
	control := PlanControl("/repo/manifests", art, "kc", time.Minute)
	runner := &fakeRunner{reports: map[string]*RunReport{"a": rep(chk("L-DNS", report.Fail))}}
	cr, rows := Driver{Runner: runner, Restorer: &fakeRestorer{}, Log: &bytes.Buffer{}}.RunLive(context.Background(), &control, PlanLive([]Mutant{mutant("a", "L-DNS")}, art, "kc", time.Minute))
	assert.Equal(t, []string{ControlName}, runner.calls)
	assert.NotEmpty(t, cr.Err)
	assert.Equal(t, NotRun, rows[0].Cells[0].Observed)
}
