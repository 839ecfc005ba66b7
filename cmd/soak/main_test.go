package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/internal/report"
	"github.com/puretasks/k8s-conformance/internal/selftest"
)

// fileLister sees only the files a run keeps under _build (no Docker here).
type fileLister struct{ selftest.HostLister }

func (fileLister) Containers(context.Context) ([]string, error) { return nil, nil }
func (fileLister) Networks(context.Context) ([]string, error)   { return nil, nil }
func (fileLister) Volumes(context.Context) ([]string, error)    { return nil, nil }

// stand-in for the e2e binary: it "creates a cluster" (its kubeconfig under
// _build), and on SIGINT/SIGTERM removes it, or not, as told.
const standIn = `#!/bin/sh
kc="$ROOT/_build/kubeconfig-todoconf-$$-abcd"
touch "$kc"
echo "live: cluster create ..."
trap 'echo "live: tearing down"; [ "$LEAK" = 1 ] || rm -f "$kc"; exit ${TRAPEXIT:-130}' INT TERM
[ "$IGNORE" = 1 ] && trap '' INT TERM
if [ "$FINISH" = 1 ]; then
  rm -f "$kc"
  [ -n "$REPORT" ] && printf '%s' "$REPORT" > "$ARTIFACTS/report.json"
  exit 0
fi
while :; do sleep 0.05; done
`

func setup(t *testing.T, env ...string) (runner, string) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "_build"), 0o755))
	bin := filepath.Join(root, "e2e.test")
	require.NoError(t, os.WriteFile(bin, []byte(standIn), 0o755))
	t.Setenv("ROOT", root)
	for _, e := range []string{"LEAK", "IGNORE", "FINISH", "TRAPEXIT"} {
		t.Setenv(e, "")
	}
	t.Setenv("REPORT", reportOf(selftest.LiveIDs...))
	for i := 0; i+1 < len(env); i += 2 {
		t.Setenv(env[i], env[i+1])
	}
	r := runner{bin: bin, dir: root, root: root, timeout: time.Minute, grace: 2 * time.Second, lister: fileLister{}}
	before, err := selftest.Observe(context.Background(), r.lister, root)
	require.NoError(t, err)
	r.before = before
	return r, root
}

func TestInterruptedRunThatCleansUpIsClean(t *testing.T) {
	r, root := setup(t)
	out := r.one(context.Background(), 1, filepath.Join(root, "run-01"), &selftest.Interruption{Run: 1, At: 300 * time.Millisecond, Signal: syscall.SIGTERM})
	require.NotNil(t, out.Interrupt)
	assert.True(t, out.Interrupt.Clean(), "leftovers %v", out.Interrupt.Leftovers)
	assert.Equal(t, 130, out.Interrupt.ExitCode)
	assert.Equal(t, "live: cluster create ...", out.Interrupt.LastLine)
	assert.False(t, out.Passed, "an interrupted run is not a pass")
}

func TestInterruptedRunThatLeaksIsCaught(t *testing.T) {
	r, root := setup(t, "LEAK", "1")
	out := r.one(context.Background(), 1, filepath.Join(root, "run-01"), &selftest.Interruption{Run: 1, At: 300 * time.Millisecond, Signal: syscall.SIGINT})
	require.Len(t, out.Interrupt.Leftovers, 1)
	assert.Contains(t, out.Interrupt.Leftovers[0], "_build/kubeconfig-todoconf-")
	assert.False(t, out.Interrupt.Clean())

	// The next run does not start cleanly, and says so.
	next := r.one(context.Background(), 2, filepath.Join(root, "run-02"), &selftest.Interruption{Run: 2, At: 300 * time.Millisecond, Signal: syscall.SIGINT})
	assert.Equal(t, out.Interrupt.Leftovers, next.StartTraces)
}

func TestInterruptedRunThatIgnoresTheSignalIsKilled(t *testing.T) {
	r, root := setup(t, "IGNORE", "1")
	start := time.Now()
	out := r.one(context.Background(), 1, filepath.Join(root, "run-01"), &selftest.Interruption{Run: 1, At: 200 * time.Millisecond, Signal: syscall.SIGINT})
	assert.True(t, out.Interrupt.Killed)
	assert.False(t, out.Interrupt.Clean())
	assert.Less(t, time.Since(start), 10*time.Second)
}

func TestFullRunIsReadFromItsReport(t *testing.T) {
	r, root := setup(t, "FINISH", "1")
	out := r.one(context.Background(), 1, filepath.Join(root, "run-01"), nil)
	assert.True(t, out.Passed, out.Err)
	require.NotNil(t, out.Report)
	assert.Equal(t, "cluster create", out.Report.Phases[0].Name)
	_, err := os.Stat(filepath.Join(root, "run-01", "output.log"))
	require.NoError(t, err)
}

// reportOf is a report.json in which the given IDs passed.
func reportOf(ids ...string) string {
	var checks []string
	for _, id := range ids {
		checks = append(checks, `{"id":"`+id+`","verdict":"PASS","duration":3000000000}`)
	}
	return `{"checks":[` + strings.Join(checks, ",") + `],"phases":[{"name":"cluster create","duration":60000000000}]}`
}

// A run whose report lacks a check (a lane dropped from the suite) is no pass.
func TestFullRunWithoutEveryCheckIsNoPass(t *testing.T) {
	ids := report.DefaultIDs()
	r, root := setup(t, "FINISH", "1", "REPORT", reportOf(ids[:len(ids)-1]...))
	out := r.one(context.Background(), 1, filepath.Join(root, "run-01"), nil)
	assert.False(t, out.Passed)
	assert.Equal(t, []string{ids[len(ids)-1] + " (no verdict)"}, out.Failed)
}

// An opt-in check (L-HELM) that a run did not select is not required; one it
// selected must pass like any other.
func TestOptInCheckIsJudgedOnlyWhenSelected(t *testing.T) {
	r, root := setup(t, "FINISH", "1", "REPORT", reportOf(report.DefaultIDs()...))
	out := r.one(context.Background(), 1, filepath.Join(root, "run-01"), nil)
	assert.True(t, out.Passed, out.Failed)

	failedHelm := strings.Replace(reportOf(report.LiveIDs...), `{"id":"L-HELM","verdict":"PASS"`, `{"id":"L-HELM","verdict":"FAIL","code":"spec"`, 1)
	r, root = setup(t, "FINISH", "1", "REPORT", failedHelm)
	out = r.one(context.Background(), 1, filepath.Join(root, "run-01"), nil)
	assert.False(t, out.Passed)
	assert.Equal(t, []string{"L-HELM"}, out.Failed)
}

// A report an earlier soak left in the run's folder is removed first: a run
// that writes none has no report, and does not pass.
func TestFullRunDoesNotReadAnEarlierReport(t *testing.T) {
	r, root := setup(t, "FINISH", "1", "REPORT", "")
	art := filepath.Join(root, "run-01")
	require.NoError(t, os.MkdirAll(art, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(art, "report.json"), []byte(reportOf(selftest.LiveIDs...)), 0o644))
	out := r.one(context.Background(), 1, art, nil)
	assert.False(t, out.Passed)
	assert.Nil(t, out.Report)
	assert.Contains(t, out.Err, "no report.json")
}

// A run over before its moment was not interrupted: it is judged as a full
// run and never counted as a clean interruption.
func TestRunThatEndsBeforeItsMomentIsNotAnInterruption(t *testing.T) {
	r, root := setup(t, "FINISH", "1")
	out := r.one(context.Background(), 1, filepath.Join(root, "run-01"), &selftest.Interruption{Run: 1, At: time.Minute, Signal: syscall.SIGINT})
	require.NotNil(t, out.Interrupt)
	assert.True(t, out.Interrupt.EndedFirst)
	assert.False(t, out.Interrupt.Clean())
	assert.True(t, out.Passed, "judged as a full run: %s %v", out.Err, out.Failed)
}

// A run that exits 0 after its signal acted as if it had none.
func TestRunThatExitsZeroAfterItsSignalIsNotClean(t *testing.T) {
	r, root := setup(t, "TRAPEXIT", "0")
	out := r.one(context.Background(), 1, filepath.Join(root, "run-01"), &selftest.Interruption{Run: 1, At: 300 * time.Millisecond, Signal: syscall.SIGTERM})
	assert.True(t, out.Interrupt.ExitedZero)
	assert.False(t, out.Interrupt.Clean())
}

// A signal to a group that is gone reports it, and is not an error.
func TestSignalGroupGone(t *testing.T) {
	cmd := exec.Command("true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Run())
	gone, msg := signalGroup(-cmd.Process.Pid, syscall.SIGINT)
	assert.True(t, gone)
	assert.Empty(t, msg)
}

func TestLastLine(t *testing.T) {
	var l lastLine
	_, _ = l.Write([]byte("a\nb"))
	assert.Equal(t, "a", l.get())
	_, _ = l.Write([]byte("c\n\n"))
	assert.Equal(t, "bc", l.get())
}

func TestSummariseDirsReadsOtherRuns(t *testing.T) {
	dir := t.TempDir()
	for i, body := range []string{
		`{"checks":[{"id":"L-DNS","verdict":"PASS","duration":3000000000}],"phases":[{"name":"cluster create","duration":60000000000}],"total":200000000000}`,
		`{"checks":[{"id":"L-DNS","verdict":"FAIL","duration":5000000000}],"phases":[{"name":"cluster create","duration":80000000000}],"total":"3m20s"}`,
	} {
		d := filepath.Join(dir, "run-0"+string(rune('1'+i)))
		require.NoError(t, os.MkdirAll(d, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(d, "report.json"), []byte(body), 0o644))
	}
	err := summariseDirs(filepath.Join(dir, "run-*"))
	require.Error(t, err, "run-02 failed L-DNS, and neither run has every live ID")
	assert.Contains(t, err.Error(), "2 of 2 runs did not pass")
	require.Error(t, summariseDirs(filepath.Join(dir, "none-*")))

	good := filepath.Join(dir, "good-01")
	require.NoError(t, os.MkdirAll(good, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(good, "report.json"), []byte(reportOf(selftest.LiveIDs...)), 0o644))
	require.NoError(t, summariseDirs(good))
}
