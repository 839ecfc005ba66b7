package selftest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/report"
)

// RunReport is the part of a live run's $ARTIFACTS/report.json the
// self-test and the soak read (internal/report writes it).
type RunReport struct {
	Checks []report.Check            `json:"checks"`
	Phases []report.Phase            `json:"phases"`
	Lanes  []report.Lane             `json:"lanes"`
	Probes []report.ProbeMeasurement `json:"probes"`
	Notes  []string                  `json:"notes"`
	// Total is the run's wall time (a number of nanoseconds; older reports
	// wrote a string, which reads as 0).
	Total time.Duration `json:"-"`
}

// clusterGone is the watchdog's note when the cluster went away mid-run.
func (r *RunReport) clusterGone() string {
	for _, n := range r.Notes {
		if strings.HasPrefix(n, live.ClusterGonePrefix) {
			return n
		}
	}
	return ""
}

// NotPassed lists the live IDs the report does not pass (FAIL, ERROR with
// its reason code, NOT RUN or no verdict at all) and the run's error rows.
// A full run passes only when it is empty: every ID a run with no selection
// judges has a PASS, and so does an opt-in ID the run selected.
func (r *RunReport) NotPassed() []string {
	var out []string
	for _, id := range LiveIDs {
		c, ok := r.check(id)
		if !ok && slices.Contains(report.OptInIDs, id) {
			continue // not selected: an opt-in check is judged only when asked for
		}
		switch {
		case !ok || c.Verdict == "":
			out = append(out, id+" (no verdict)")
		case c.Verdict == report.Fail:
			out = append(out, id)
		case c.Verdict == report.Error:
			out = append(out, id+" (ERROR "+string(c.Code)+")")
		case c.Verdict != report.Pass:
			out = append(out, id+" ("+c.Verdict+")")
		}
	}
	for _, c := range r.Checks {
		if c.RunError {
			out = append(out, c.ID+" (ERROR "+string(c.Code)+")")
		}
	}
	return out
}

// SetupFailed reports whether the run's setup failed.
func (r *RunReport) SetupFailed() bool { return r.setupFailure() != "" }

// setupFailure is the run's own note when its setup failed, if it did.
func (r *RunReport) setupFailure() string {
	for _, n := range r.Notes {
		if strings.HasPrefix(n, "SETUP FAILED") {
			return n
		}
	}
	return ""
}

// ReadRunReport reads report.json from a run's artifacts directory.
func ReadRunReport(dir string) (*RunReport, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		return nil, err
	}
	var r RunReport
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "report.json"), err)
	}
	var total struct {
		Total json.RawMessage `json:"total"`
	}
	if json.Unmarshal(raw, &total) == nil {
		_ = json.Unmarshal(total.Total, &r.Total) // a string total (older reports) stays 0
	}
	return &r, nil
}

func (r *RunReport) check(id string) (report.Check, bool) {
	for _, c := range r.Checks {
		if c.ID == id {
			return c, true
		}
	}
	return report.Check{}, false
}

// LiveRun is one mutant's run of the live tier against the shared cluster.
type LiveRun struct {
	Mutant    Mutant
	Args      []string // for the e2e test binary
	Env       []string // added to the environment
	Artifacts string
}

// Command is how a person reruns this mutant's live checks by hand.
func (r LiveRun) Command() string {
	var env []string
	for _, e := range r.Env {
		env = append(env, e)
	}
	cmd := strings.Join(env, " ") + " go test ./e2e -tags e2e -count=1 -v -args " + strings.Join(r.Args[slices.Index(r.Args, "--labels"):], " ")
	if r.Mutant.UpgradeFromBase {
		cmd += "   (MANIFESTS_DIR: the mutant in a git repository whose HEAD is the release before it, with E2E_UPGRADE_FROM=HEAD; selftest.UpgradeRepo lays it out)"
	}
	return cmd
}

// PlanLive lays out one run per mutant that names live IDs: only those
// checks are selected (e2e-framework's --labels on the `id` label), the
// manifests are the mutant's, the cluster is the shared one and the
// artifacts go to a folder of the mutant's own.
func PlanLive(ms []Mutant, artifacts, kubeconfig string, timeout time.Duration) []LiveRun {
	var out []LiveRun
	for _, m := range ms {
		if len(m.Live) == 0 {
			continue
		}
		var labels []string
		for _, id := range m.Live {
			labels = append(labels, "id="+id)
		}
		art := filepath.Join(artifacts, m.Name)
		out = append(out, LiveRun{
			Mutant:    m,
			Artifacts: art,
			Env:       []string{"MANIFESTS_DIR=" + m.Dir, "ARTIFACTS=" + art, "E2E_KUBECONFIG=" + kubeconfig},
			Args: []string{"-test.v", "-test.count=1", "-test.timeout=" + timeout.String(),
				"--labels", strings.Join(labels, ",")},
		})
	}
	return out
}

// ClassifyLive turns a mutant's run into cells. A named ID is caught when
// its check's verdict is FAIL. It is an error, not a catch, when the run
// left no report, or when the manifests failed to apply and the mutant does
// not target L-APPLY: a check that fails because nothing was deployed has
// not seen the break.
func ClassifyLive(m Mutant, rep *RunReport, runErr error) []Cell {
	var cells []Cell
	if rep == nil {
		for _, id := range m.Live {
			cells = append(cells, Cell{Tier: Live, ID: id, Expected: true, Observed: Error, Detail: fmt.Sprintf("no report.json: %v", runErr)})
		}
		return cells
	}
	applyFailed := false
	if c, ok := rep.check("L-APPLY"); ok && c.Verdict == report.Fail && !slices.Contains(m.Live, "L-APPLY") {
		applyFailed = true
	}
	for _, id := range m.Live {
		c, ok := rep.check(id)
		cell := Cell{Tier: Live, ID: id, Expected: true, Duration: c.Duration}
		switch {
		case (!ok || c.Verdict == "") && rep.setupFailure() != "":
			cell.Observed, cell.Detail = Error, rep.setupFailure()
		case !ok || c.Verdict == "" || c.Verdict == report.NotRun:
			cell.Observed, cell.Detail = NotRun, fmt.Sprintf("no verdict for %s in report.json (selected with --labels id=%s): %s; run: %v", id, id, firstMiss(c.Measurements), runErr)
		case c.Verdict == report.Error:
			// The report's reason code says the run could not judge.
			cell.Observed, cell.Detail = Error, fmt.Sprintf("could not judge (%s): %s", c.Code, firstMiss(c.Measurements))
		case c.Verdict == report.Fail && applyFailed:
			cell.Observed, cell.Detail = Error, "failed only because the manifests did not apply (L-APPLY failed): not a catch by behaviour"
		case c.Verdict == report.Fail && rep.clusterGone() != "":
			cell.Observed, cell.Detail = Error, "failed while the cluster went away ("+rep.clusterGone()+"): not a catch by behaviour"
		case c.Verdict == report.Fail && len(specMisses(c)) == 0:
			cell.Observed, cell.Detail = Error, "failed with no broken promise recorded: what it saw is unknown, so it is no catch"
		case c.Verdict == report.Fail:
			if miss, ok := expectedMiss(specMisses(c), m.Expect[id]); ok {
				cell.Observed, cell.Detail = Caught, miss
			} else {
				cell.Observed, cell.Detail = Error, fmt.Sprintf("failed, but not by the break: no miss says any of %q (mutant.yaml expect); first miss: %s", m.Expect[id], firstMiss(specMisses(c)))
			}
		default:
			cell.Observed, cell.Detail = Missed, fmt.Sprintf("%s %s: %s", id, c.Verdict, strings.Join(c.Measurements, "; "))
		}
		cells = append(cells, cell)
	}
	// Anything else that failed is reported beside the named cells.
	for _, c := range rep.Checks {
		if c.Verdict == report.Fail && !slices.Contains(m.Live, c.ID) {
			cells = append(cells, Cell{Tier: Live, ID: c.ID, Observed: Caught, Duration: c.Duration, Detail: firstMiss(c.Measurements)})
		}
	}
	return cells
}

// specMisses are the check's broken promises (reason code "spec"), as the
// measurement lines the report lists them by.
func specMisses(c report.Check) []string {
	var out []string
	for _, m := range c.Misses {
		if m.Code == report.CodeSpec {
			out = append(out, m.String())
		}
	}
	return out
}

// expectedMiss finds a miss that contains one of the expected words: the
// check failed because it saw the break. Mutants read from fixtures always
// give words (LoadMutant requires them); without words any miss counts.
func expectedMiss(ms []string, words []string) (string, bool) {
	if len(words) == 0 {
		return firstMiss(ms), true
	}
	for _, m := range ms {
		if !strings.HasPrefix(m, "MISS") {
			continue
		}
		for _, w := range words {
			if strings.Contains(m, w) {
				return m, true
			}
		}
	}
	return "", false
}

// firstMiss picks the measurement that says why a check failed.
func firstMiss(ms []string) string {
	for _, m := range ms {
		if strings.HasPrefix(m, "MISS") {
			return m
		}
	}
	if len(ms) > 0 {
		return ms[len(ms)-1]
	}
	return "(no measurement recorded)"
}

// Runner runs the live tier once.
type Runner interface {
	Run(ctx context.Context, r LiveRun) (exitCode int, err error)
}

// Restorer brings the shared cluster back to how it was before the first
// mutant, returning what it had to remove.
type Restorer interface {
	Restore(ctx context.Context) (removed []string, err error)
}

// Driver runs the live half of the self-test.
type Driver struct {
	Runner   Runner
	Restorer Restorer
	Log      io.Writer
}

// ControlName names the control run: the repository's own manifests.
const ControlName = "control"

// PlanControl is the control run: the repository's unbroken manifests with
// every live check selected. A check that fails here cannot be credited
// with catching a mutant (a broken cluster would "catch" them all).
func PlanControl(manifestsDir, artifacts, kubeconfig string, timeout time.Duration) LiveRun {
	m := Mutant{Name: ControlName, Dir: manifestsDir, Descriptor: Descriptor{
		Why: "the repository's own manifests: every live check must pass", Live: LiveIDs}}
	run := PlanLive([]Mutant{m}, artifacts, kubeconfig, timeout)[0]
	// L-UPGRADE's control is the manifests applied over their own last
	// commit: unchanged in a clean checkout, which must change nothing.
	run.Env = append(run.Env, "E2E_UPGRADE_FROM=HEAD")
	return run
}

// ControlResult is what the control run saw.
type ControlResult struct {
	Duration  time.Duration     `json:"duration"`
	Artifacts string            `json:"artifacts"`
	Passed    []string          `json:"passed"`
	Failed    map[string]string `json:"failed,omitempty"` // ID -> why (FAIL, or no verdict)
	Err       string            `json:"error,omitempty"`
}

// RunLive runs the control (when given) and then each mutant in turn on the
// shared cluster, and returns the control's outcome and the mutants' rows.
// After each run the cluster is restored; if that fails, or the control run
// left no report, the remaining mutants are not run (their cells say why),
// since their verdicts would rest on a cluster in an unknown state.
func (d Driver) RunLive(ctx context.Context, control *LiveRun, plans []LiveRun) (*ControlResult, []MutantResult) {
	var cr *ControlResult
	var stop string
	if control != nil {
		cr = &ControlResult{Artifacts: control.Artifacts, Failed: map[string]string{}}
		fmt.Fprintf(d.Log, "selftest: control run: the repository's manifests, every live check\n")
		start := time.Now()
		_, err := d.Runner.Run(ctx, *control)
		cr.Duration = time.Since(start)
		rep, rerr := ReadRunReport(control.Artifacts)
		if rerr != nil {
			cr.Err = errors.Join(err, rerr).Error()
			stop = "not run: the control run left no report: " + cr.Err
		} else {
			for _, id := range LiveIDs {
				c, ok := rep.check(id)
				switch {
				case !ok || c.Verdict == "":
					cr.Failed[id] = strings.TrimSpace("no verdict " + rep.setupFailure())
				case c.Verdict == report.Fail:
					cr.Failed[id] = firstMiss(c.Measurements)
				case c.Verdict != report.Pass:
					// A check that skips on the unbroken manifests cannot
					// be shown to pass there: its catches would mean nothing.
					cr.Failed[id] = fmt.Sprintf("%s (%s): %s", c.Verdict, c.Code, firstMiss(c.Measurements))
				default:
					cr.Passed = append(cr.Passed, id)
				}
			}
		}
		fmt.Fprintf(d.Log, "selftest: control run: %s, %d/%d checks passed\n", cr.Duration.Round(time.Second), len(cr.Passed), len(LiveIDs))
		if _, err := d.Restorer.Restore(context.WithoutCancel(ctx)); err != nil && stop == "" {
			stop = fmt.Sprintf("not run: restoring the cluster after the control run failed: %v", err)
		}
	}
	var out []MutantResult
	for i, p := range plans {
		mr := MutantResult{Name: p.Mutant.Name, Why: p.Mutant.Why, Live: true, Artifacts: p.Artifacts}
		if stop == "" && ctx.Err() != nil {
			stop = "interrupted: " + context.Cause(ctx).Error()
		}
		if stop != "" {
			for _, id := range p.Mutant.Live {
				mr.Cells = append(mr.Cells, Cell{Tier: Live, ID: id, Expected: true, Observed: NotRun, Detail: stop})
			}
			out = append(out, mr)
			continue
		}
		fmt.Fprintf(d.Log, "selftest: [%d/%d] %s: %s\n    checks %v\n", i+1, len(plans), p.Mutant.Name, p.Mutant.Why, p.Mutant.Live)
		start := time.Now()
		code, err := d.Runner.Run(ctx, p)
		mr.Duration, mr.ExitCode = time.Since(start), code
		if err != nil {
			mr.Err = err.Error()
		}
		rep, rerr := ReadRunReport(p.Artifacts)
		if rerr != nil {
			rep = nil
			err = errors.Join(err, rerr)
		}
		if ctx.Err() != nil {
			// A run cut short by Ctrl-C failed because it was stopped.
			stop = "interrupted: " + context.Cause(ctx).Error()
			for _, id := range p.Mutant.Live {
				mr.Cells = append(mr.Cells, Cell{Tier: Live, ID: id, Expected: true, Observed: NotRun, Detail: stop})
			}
		} else {
			mr.Cells = ClassifyLive(p.Mutant, rep, err)
		}
		if cr != nil {
			for i, c := range mr.Cells {
				if why, bad := cr.Failed[c.ID]; bad && c.Observed == Caught {
					mr.Cells[i].Observed = Error
					mr.Cells[i].Detail = fmt.Sprintf("%s fails on the unbroken manifests too (control run: %s): not a catch", c.ID, why)
				}
			}
		}
		fmt.Fprintf(d.Log, "selftest: [%d/%d] %s: %s, caught by %v (exit %d)\n", i+1, len(plans), p.Mutant.Name, mr.Duration.Round(time.Second), mr.Caught(Live), code)
		removed, rerr := d.Restorer.Restore(context.WithoutCancel(ctx))
		if len(removed) > 0 {
			mr.Cleanup = "removed after the run: " + strings.Join(removed, ", ")
			fmt.Fprintf(d.Log, "selftest: %s left %v behind; removed\n", p.Mutant.Name, removed)
		}
		if rerr != nil {
			stop = fmt.Sprintf("not run: restoring the cluster after %s failed: %v", p.Mutant.Name, rerr)
			mr.RestoreErr = rerr.Error()
			// A cluster that cannot be restored may have been broken during
			// the run: its failures are not catches.
			for i, c := range mr.Cells {
				if c.Observed == Caught {
					mr.Cells[i].Observed = Error
					mr.Cells[i].Detail = "the cluster could not be restored after the run (" + rerr.Error() + "): not a catch; " + c.Detail
				}
			}
		}
		out = append(out, mr)
	}
	return cr, out
}

// BinaryRunner runs the compiled e2e test binary (go test -c -tags e2e) in
// the e2e package's directory, as `go test` would, with its output in the
// run's artifacts (output.log).
type BinaryRunner struct {
	Binary string
	Dir    string
	// Grace is how long the binary gets to tear down after SIGINT.
	Grace time.Duration
	// ModuleRoot is the module's root, which an upgrade mutant's
	// repository copies the manifests from (UpgradeRepo).
	ModuleRoot string
}

// Run starts the binary and waits. On ctx's end it sends SIGINT (the suite
// traps it and cleans up) and, after Grace, kills it.
func (b BinaryRunner) Run(ctx context.Context, r LiveRun) (int, error) {
	// A report left by an earlier self-test must never be read as this
	// run's (a run that dies before writing one would borrow its verdicts).
	if err := os.RemoveAll(r.Artifacts); err != nil {
		return -1, err
	}
	if err := os.MkdirAll(r.Artifacts, 0o755); err != nil {
		return -1, err
	}
	log, err := os.Create(filepath.Join(r.Artifacts, "output.log"))
	if err != nil {
		return -1, err
	}
	defer log.Close()
	env := append(os.Environ(), r.Env...)
	if r.Mutant.UpgradeFromBase {
		dir, cleanup, err := UpgradeRepo(ctx, r.Mutant, b.ModuleRoot)
		if err != nil {
			return -1, err
		}
		defer func() { _ = cleanup() }()
		// Later entries win (os/exec keeps the last of a name).
		env = append(env, "MANIFESTS_DIR="+dir, "E2E_UPGRADE_FROM=HEAD")
	}
	cmd := exec.CommandContext(ctx, b.Binary, r.Args...)
	cmd.Dir = b.Dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = b.Grace
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), fmt.Errorf("%s exited %d (output in %s)", filepath.Base(b.Binary), exit.ExitCode(), log.Name())
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}
