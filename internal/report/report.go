// Package report collects what a live run measured: one row per catalogue
// check (verdict, measurements, duration), the time of each phase against its
// budget and the run's floor, each lane's span, and every probe measurement
// against its window. It prints tables at the end of the run and writes
// report.json and a self-contained report.html to $ARTIFACTS.
//
// The report holds only what callers record in it. It never reads a cluster,
// so it cannot leak a Secret value unless a caller passes one in; callers
// record key names and counts, never values.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Verdicts a check can end with. Only PASS passes; every other verdict is a
// non-zero exit.
const (
	// Pass: every assessment of the check ran, measured, and nothing failed.
	Pass = "PASS"
	// Fail: the manifests broke a promise of the spec (a miss with CodeSpec).
	Fail = "FAIL"
	// Error: the run could not judge (the API, the cluster, our own
	// machinery, an interrupt); says nothing about the manifests.
	Error = "ERROR"
	// NotRun: the check was selected but some of its assessments never ran
	// (filtered by --assess, --skip-assessment or -run), so nothing it
	// promises was judged.
	NotRun = "NOT RUN"
)

// Code says why a check did not pass: the reason of each miss, and of the
// verdict. selftest and soak read it instead of a message's words.
type Code string

// Reason codes. CodeSpec is the only one that makes a FAIL.
const (
	// CodeSpec: what the cluster did breaks the spec (FAIL).
	CodeSpec Code = "spec"
	// CodeAPI: the API server, a proxied pod or a probe Job answered with an
	// error instead of a measurement.
	CodeAPI Code = "api"
	// CodeSetup: what the check needs could not be set up or derived (the
	// cluster, the app applied and Available, a copy of the manifests).
	CodeSetup Code = "setup"
	// CodeCapacity: the cluster had no room to schedule what the check needs.
	CodeCapacity Code = "capacity"
	// CodeKubelet: the node failed for reasons of its own (a kubelet cache
	// that did not sync), not because of the manifests.
	CodeKubelet Code = "kubelet"
	// CodeClusterGone: the cluster went away mid-run.
	CodeClusterGone Code = "cluster-gone"
	// CodeInterrupted: the run was stopped by a signal.
	CodeInterrupted Code = "interrupted"
	// CodeTeardown: removing what the check (or the run) created failed.
	CodeTeardown Code = "teardown"
	// CodeUnrecorded: go test says the check failed but no miss says why
	// (a panic, a framework error): no judgement can rest on it.
	CodeUnrecorded Code = "unrecorded"
	// CodeNotRun: assessments of the check did not run (NOT RUN).
	CodeNotRun Code = "not-run"
	// CodeNoMeasurement: every assessment ran and none failed, yet nothing
	// was measured: a check that judged nothing does not pass.
	CodeNoMeasurement Code = "no-measurement"
)

// Miss is one reason a check did not pass: a broken promise (CodeSpec) or a
// reason the run could not judge.
type Miss struct {
	Code     Code   `json:"code"`
	Resource string `json:"resource"`
	Text     string `json:"text"`
}

func (m Miss) String() string { return fmt.Sprintf("MISS %s: %s", m.Resource, m.Text) }

// Check is one catalogue ID's row, or a row of its own for an error that
// ended the run (teardown, a leaked cluster, the reaper).
type Check struct {
	ID      string `json:"id"`
	Verdict string `json:"verdict"` // PASS, FAIL, ERROR, NOT RUN; "" (older reports) = not run
	// Code is the reason of a verdict other than PASS.
	Code         Code          `json:"code,omitempty"`
	Misses       []Miss        `json:"misses,omitempty"`
	Measurements []string      `json:"measurements"`
	Duration     time.Duration `json:"duration"`
	// RunError marks a row that is not a catalogue check but an error that
	// ended the run.
	RunError bool `json:"runError,omitempty"`
	start    time.Time
	ended    bool
}

// Passed reports whether the row is a PASS.
func (c Check) Passed() bool { return c.Verdict == Pass }

// Phase is one timed step of the run.
type Phase struct {
	Name string `json:"name"`
	// Offset is when the phase started, counted from the start of the run.
	Offset   time.Duration `json:"offset"`
	Duration time.Duration `json:"duration"`
	// Budget is the phase's own bound from PhaseBudgets (0: none).
	Budget    time.Duration `json:"budget,omitempty"`
	BudgetWhy string        `json:"budgetWhy,omitempty"`
	Exceeded  bool          `json:"exceeded,omitempty"`
	// InFloor marks the phases no run can avoid (FloorPhases).
	InFloor bool `json:"inFloor,omitempty"`
}

// Lane is one lane's real span: the checks it ran, when it started and ended.
type Lane struct {
	Name   string        `json:"name"`
	Offset time.Duration `json:"offset"` // start, from the start of the run
	Span   time.Duration `json:"span"`
	IDs    []string      `json:"ids,omitempty"`
}

// Window is the earliest and latest time an outcome may be observed.
type Window struct {
	Min time.Duration `json:"min"`
	Max time.Duration `json:"max"`
}

// Contains reports whether d lies inside the window, both ends included.
func (w Window) Contains(d time.Duration) bool { return d >= w.Min && d <= w.Max }

func (w Window) String() string { return fmt.Sprintf("[%s, %s]", w.Min, w.Max) }

// ProbeMeasurement is one probe scenario's measured time next to the seed's
// window and, on a miss, the window the manifest's own probe fields imply.
type ProbeMeasurement struct {
	ID       string        `json:"id"`
	Scenario string        `json:"scenario"`
	Measured time.Duration `json:"measured"`
	// Missing: the outcome was never observed (Measured is meaningless).
	Missing  bool    `json:"missing,omitempty"`
	Seed     Window  `json:"seed"`
	Manifest *Window `json:"manifest,omitempty"`
	Pass     bool    `json:"pass"`
	Note     string  `json:"note,omitempty"`
}

// LiveIDs are the catalogue's live IDs (../shared/CHECKS.md, "Behaviour
// (live)") in its order: the order every table of the report lists them in.
var LiveIDs = []string{
	"L-APPLY", "L-ROLLOUT", "L-TRAFFIC", "L-SCALE", "L-DNS", "L-LB", "L-INTERNAL",
	"L-NODEPORT", "L-ENV", "L-STARTUP", "L-LIVENESS", "L-READINESS", "L-PVC", "L-QOS", "L-HELM", "L-UPGRADE",
}

// OptInIDs are live IDs a run includes only when a selection names them
// (CHECKS=L-HELM, --labels id=L-HELM, --feature, -run). L-HELM: in the first
// full run on the project's 2-core machine (all lanes at once) its helm
// upgrade kept the rollout invariant but 3 of 233 requests through
// backend-service timed out (p99 2.6 s; alone: 0 of 491, p99 117 ms), and the
// lane adds about 2.5 minutes to a full run; until its traffic judgement is
// proven stable beside the other lanes (make soak), it is not part of the
// default verdict.
//
// L-UPGRADE needs a previous revision to upgrade from: it runs exactly when
// E2E_UPGRADE_FROM (make conformance UPGRADE_FROM=<ref>) names one.
var OptInIDs = []string{"L-HELM", "L-UPGRADE"}

// DefaultIDs are the live IDs a run with no selection judges: LiveIDs
// without OptInIDs, in catalogue order.
func DefaultIDs() []string {
	var out []string
	for _, id := range LiveIDs {
		if !slices.Contains(OptInIDs, id) {
			out = append(out, id)
		}
	}
	return out
}

// Header says what a run judged: when, with which suite, which manifests
// (and exactly which render of them), on which cluster.
type Header struct {
	Start time.Time `json:"start"`
	// SuiteRevision is the suite's git revision ("+dirty" when its work tree
	// has changes), or why it is unknown.
	SuiteRevision string               `json:"suiteRevision"`
	Manifests     []ManifestsUnderTest `json:"manifests"`
	ServerVersion string               `json:"serverVersion,omitempty"`
	NodeImage     string               `json:"nodeImage,omitempty"`
	Topology      string               `json:"topology,omitempty"`
}

// ManifestsUnderTest is one set of manifests the run read.
type ManifestsUnderTest struct {
	Path    string `json:"path"`
	Profile string `json:"profile"`
	// GitRevision is the revision of the repository holding Path ("+dirty"
	// when it has changes), or why it is unknown.
	GitRevision string `json:"gitRevision"`
	// Digest is the sha256 of the rendered set, as read.
	Digest  string `json:"digest"`
	Objects int    `json:"objects"`
	Applied bool   `json:"applied"`
}

// Report is safe for concurrent use.
type Report struct {
	mu     sync.Mutex
	header Header
	checks map[string]*Check
	order  []string
	phases []Phase
	lanes  []Lane
	probes []ProbeMeasurement
	notes  []string
	extras []floorPart
	start  time.Time
	now    func() time.Time

	closed   bool
	total    time.Duration
	budget   RunBudget
	warnings []string
}

// New starts a report; the run's clock starts now.
func New() *Report { return newAt(time.Now) }

func newAt(now func() time.Time) *Report {
	t := now()
	return &Report{checks: map[string]*Check{}, start: t, now: now, header: Header{Start: t}}
}

// Describe updates the run's header.
func (r *Report) Describe(update func(*Header)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	update(&r.header)
}

func (r *Report) check(id string) *Check {
	c, ok := r.checks[id]
	if !ok {
		c = &Check{ID: id}
		r.checks[id] = c
		r.order = append(r.order, id)
	}
	return c
}

// Start marks the beginning of a check: its duration counts from here.
func (r *Report) Start(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.check(id).start = r.now()
}

// Measure records one measurement of a check ("requests 412 sent / 0 failed").
func (r *Report) Measure(id, format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.check(id)
	c.Measurements = append(c.Measurements, fmt.Sprintf(format, a...))
}

// Miss records why a check does not pass: a broken promise (CodeSpec) or a
// reason the run could not judge. It is listed among the measurements too,
// where it was seen.
func (r *Report) Miss(id string, m Miss) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.check(id)
	c.Misses = append(c.Misses, m)
	c.Measurements = append(c.Measurements, m.String())
}

// Outcome is what is known of a check once every step of it has ended, its
// teardown included.
type Outcome struct {
	// Failed is go test's own result for the check's test.
	Failed bool
	// Steps is how many assessments the check has; Ran how many of them ran
	// to their end; NotRan names the others.
	Steps, Ran int
	NotRan     []string
	// Interrupted is the signal that stopped the run, if one did.
	Interrupted error
}

// dominant codes taint every observation of the check: a FAIL seen while
// the run was stopped, the cluster vanished, the node failed on its own or
// had no room is no judgement of the manifests.
var dominant = []Code{CodeInterrupted, CodeClusterGone, CodeKubelet, CodeCapacity}

// Decide is the verdict of a check from its misses, how many measurements
// it recorded and its outcome. PASS needs every assessment run, at least one
// measurement and no failure; FAIL needs a broken promise (CodeSpec);
// anything else that failed is ERROR.
func Decide(misses []Miss, measured int, o Outcome) (string, Code) {
	if o.Interrupted != nil {
		return Error, CodeInterrupted
	}
	for _, d := range dominant {
		if hasMiss(misses, d) {
			return Error, d
		}
	}
	if hasMiss(misses, CodeSpec) {
		return Fail, CodeSpec
	}
	switch {
	case len(misses) > 0:
		return Error, misses[0].Code
	case o.Failed:
		return Error, CodeUnrecorded
	case o.Steps == 0 || o.Ran < o.Steps:
		return NotRun, CodeNotRun
	case measured == 0:
		return Error, CodeNoMeasurement
	}
	return Pass, ""
}

// Conclude decides and records the verdict of a check once every step of it
// has ended, and returns the row. A verdict other than PASS always carries a
// miss saying why.
func (r *Report) Conclude(id string, o Outcome) Check {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.check(id)
	measured := 0
	for _, m := range c.Measurements {
		if !strings.HasPrefix(m, "MISS ") {
			measured++
		}
	}
	c.Verdict, c.Code = Decide(c.Misses, measured, o)
	var add *Miss
	switch c.Code {
	case CodeInterrupted:
		add = &Miss{Code: CodeInterrupted, Resource: "run", Text: o.Interrupted.Error()}
	case CodeNotRun:
		text := "no assessment of the check ran"
		if len(o.NotRan) > 0 {
			text = fmt.Sprintf("%d of %d assessments did not run (filtered by --assess, --skip-assessment or -run): %s",
				o.Steps-o.Ran, o.Steps, strings.Join(o.NotRan, "; "))
		}
		add = &Miss{Code: CodeNotRun, Resource: "assessments", Text: text}
	case CodeNoMeasurement:
		add = &Miss{Code: CodeNoMeasurement, Resource: "check", Text: "every assessment ran but none recorded a measurement: nothing was judged"}
	case CodeUnrecorded:
		add = &Miss{Code: CodeUnrecorded, Resource: "test", Text: "go test failed the check with no miss recorded (see the test log): no judgement rests on it"}
	}
	if add != nil && !hasMiss(c.Misses, add.Code) {
		c.Misses = append(c.Misses, *add)
		c.Measurements = append(c.Measurements, add.String())
	}
	if !c.start.IsZero() {
		c.Duration = r.now().Sub(c.start)
	}
	c.ended = true
	return *c
}

func hasMiss(ms []Miss, code Code) bool {
	for _, m := range ms {
		if m.Code == code {
			return true
		}
	}
	return false
}

// Interrupt ends every check that has no verdict yet with ERROR: the run
// was stopped under it. Checks already concluded keep theirs.
func (r *Report) Interrupt(cause error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range r.order {
		c := r.checks[id]
		if c.ended {
			continue
		}
		m := Miss{Code: CodeInterrupted, Resource: "run", Text: cause.Error()}
		c.Misses = append(c.Misses, m)
		c.Measurements = append(c.Measurements, m.String())
		c.Verdict, c.Code = Error, CodeInterrupted
		if !c.start.IsZero() {
			c.Duration = r.now().Sub(c.start)
		}
		c.ended = true
	}
}

// RunError records an error that ended the run (teardown, a leaked cluster,
// the reaper) as a row of its own, verdict ERROR: it shows in every output,
// not only in the exit code.
func (r *Report) RunError(name string, code Code, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.check(name)
	m := Miss{Code: code, Resource: name, Text: err.Error()}
	c.RunError, c.ended = true, true
	c.Verdict, c.Code = Error, code
	c.Misses = append(c.Misses, m)
	c.Measurements = append(c.Measurements, m.String())
}

// Phase records a phase that took d and ended now; its budget comes from
// PhaseBudgets.
func (r *Report) Phase(name string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	end := r.now().Sub(r.start)
	p := Phase{Name: name, Offset: max(0, end-d), Duration: d, InFloor: inFloor(name)}
	if b, ok := budgetFor(name); ok {
		p.Budget, p.BudgetWhy = b.Budget, b.Why
		p.Exceeded = d > b.Budget
	}
	r.phases = append(r.phases, p)
}

// Lane records one lane's real span and the check IDs it ran.
func (r *Report) Lane(name string, start, end time.Time, ids ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lanes = append(r.lanes, Lane{Name: name, Offset: start.Sub(r.start), Span: end.Sub(start), IDs: append([]string(nil), ids...)})
}

// Probe records one probe measurement against its windows.
func (r *Report) Probe(m ProbeMeasurement) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.Manifest != nil {
		w := *m.Manifest
		m.Manifest = &w
	}
	r.probes = append(r.probes, m)
}

// Note adds a line under the tables (decisions, node image, cluster).
func (r *Report) Note(format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, fmt.Sprintf(format, a...))
}

// Checks returns the rows in catalogue order (LiveIDs), then any other ID in
// the order it started, then the run's error rows.
func (r *Report) Checks() []Check {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.checksLocked()
}

func (r *Report) checksLocked() []Check {
	out := make([]Check, 0, len(r.order))
	for _, id := range r.order {
		out = append(out, *r.checks[id])
	}
	rank := func(c Check) int {
		if c.RunError {
			return len(LiveIDs) + 1
		}
		if i := slices.Index(LiveIDs, c.ID); i >= 0 {
			return i
		}
		return len(LiveIDs)
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
	return out
}

// NotPassed lists the rows whose verdict is not PASS (FAIL, ERROR, NOT RUN,
// none yet, and the run's error rows), in table order.
func (r *Report) NotPassed() []string {
	var ids []string
	for _, c := range r.Checks() {
		if !c.Passed() {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// snapshot is a consistent copy of the report, taken once it is closed.
type snapshot struct {
	Header   Header             `json:"header"`
	Checks   []Check            `json:"checks"`
	Phases   []Phase            `json:"phases"`
	Lanes    []Lane             `json:"lanes"`
	Probes   []ProbeMeasurement `json:"probes"`
	Budget   RunBudget          `json:"budget"`
	Warnings []string           `json:"warnings"`
	Notes    []string           `json:"notes"`
	Total    time.Duration      `json:"total"`
}

// snapshot stops the run's clock the first time it is taken and holds the
// run to its budget: it records a warning for the run and for each phase
// over budget. Print, WriteJSON and WriteHTML take it. Phases, lanes and
// checks recorded later still appear in the output but no longer move the
// run's total.
func (r *Report) snapshot() snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		r.total = r.now().Sub(r.start)
		r.budget = r.runBudgetLocked()
		for _, p := range r.phases {
			if p.Exceeded {
				r.warnings = append(r.warnings, fmt.Sprintf("phase %q took %s, over its budget %s (%s)",
					p.Name, round(p.Duration), p.Budget, p.BudgetWhy))
			}
		}
		if r.budget.Over {
			r.warnings = append(r.warnings, fmt.Sprintf("run took %s, over its budget %.1f x floor %s = %s (floor = %s)",
				round(r.total), BudgetFactor, round(r.budget.Floor), round(r.budget.Budget), strings.Join(r.budget.Parts, " + ")))
		}
	}
	lanes := append([]Lane(nil), r.lanes...)
	sort.SliceStable(lanes, func(i, j int) bool { return lanes[i].Offset < lanes[j].Offset })
	h := r.header
	h.Manifests = append([]ManifestsUnderTest(nil), h.Manifests...)
	return snapshot{
		Header:   h,
		Checks:   r.checksLocked(),
		Phases:   append([]Phase(nil), r.phases...),
		Lanes:    lanes,
		Probes:   append([]ProbeMeasurement(nil), r.probes...),
		Budget:   r.budget,
		Warnings: append([]string(nil), r.warnings...),
		Notes:    append([]string(nil), r.notes...),
		Total:    r.total,
	}
}

func round(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }

// verdictText is what the tables show for a verdict: a row with none yet
// (older reports, a check still running) is NOT RUN.
func verdictText(v string) string {
	if v == "" {
		return NotRun
	}
	return v
}

// codeText is the reason column: the code of a verdict other than PASS.
func codeText(c Code) string {
	if c == "" {
		return "-"
	}
	return string(c)
}

// lines are a check's measurement column.
func (c Check) lines() []string {
	m := append([]string(nil), c.Measurements...)
	if len(m) == 0 {
		m = []string{"-"}
	}
	return m
}

// Print writes the check table, the probe table, the phase table with the
// run's budget, the warnings and the notes.
func (r *Report) Print(w io.Writer) {
	s := r.snapshot()
	fmt.Fprintln(w, "\n=== live conformance report ===")
	s.Header.print(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tverdict\treason\tduration\tmeasurements")
	for _, c := range s.Checks {
		m := c.lines()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, verdictText(c.Verdict), codeText(c.Code), round(c.Duration), m[0])
		for _, more := range m[1:] {
			fmt.Fprintf(tw, "\t\t\t\t%s\n", more)
		}
	}
	tw.Flush()
	if len(s.Probes) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "probe\tscenario\tmeasured\tseed window\tmanifest window\tverdict")
		for _, p := range s.Probes {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Scenario, p.measuredText(), p.Seed, p.manifestText(), passText(p.Pass))
		}
		tw.Flush()
	}
	if len(s.Lanes) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "lane\tstart\tspan\tchecks")
		for _, l := range s.Lanes {
			fmt.Fprintf(tw, "%s\t+%s\t%s\t%s\n", l.Name, round(l.Offset), round(l.Span), strings.Join(l.IDs, " "))
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "phase\tduration\tfloor\town budget")
	for _, p := range s.Phases {
		floor := "-"
		if p.InFloor {
			floor = "in floor"
		}
		budget := "-"
		if p.Budget > 0 {
			budget = p.Budget.String()
			if p.Exceeded {
				budget += " EXCEEDED"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Name, round(p.Duration), floor, budget)
	}
	for _, e := range s.Budget.Extras {
		fmt.Fprintf(tw, "%s (not a phase)\t%s\tin floor\t-\n", e.Name, round(e.Duration))
	}
	switch {
	case s.Budget.Floor == 0:
		fmt.Fprintf(tw, "total\t%s\tno floor phase ran\tno run budget\n", round(s.Total))
	case s.Budget.Over:
		fmt.Fprintf(tw, "total\t%s\tfloor %s\t%.1f x floor = %s EXCEEDED\n", round(s.Total), round(s.Budget.Floor), BudgetFactor, round(s.Budget.Budget))
	default:
		fmt.Fprintf(tw, "total\t%s\tfloor %s\t%.1f x floor = %s within\n", round(s.Total), round(s.Budget.Floor), BudgetFactor, round(s.Budget.Budget))
	}
	tw.Flush()
	for _, warn := range s.Warnings {
		fmt.Fprintln(w, "WARN:", warn)
	}
	for _, n := range s.Notes {
		fmt.Fprintln(w, "note:", n)
	}
	var notPassed []string
	for _, c := range s.Checks {
		if !c.Passed() {
			notPassed = append(notPassed, fmt.Sprintf("%s %s", c.ID, verdictText(c.Verdict)))
		}
	}
	if len(notPassed) > 0 {
		fmt.Fprintf(w, "NOT PASSED: %s\n", strings.Join(notPassed, ", "))
	}
}

// print writes the run's header: what the run judged.
func (h Header) print(w io.Writer) {
	fmt.Fprintf(w, "started %s, suite %s\n", h.Start.UTC().Format(time.RFC3339), orUnknown(h.SuiteRevision))
	for _, m := range h.Manifests {
		applied := ""
		if !m.Applied {
			applied = " (read, not applied)"
		}
		fmt.Fprintf(w, "manifests %s: %s set, %d objects, git %s, sha256 %s%s\n", m.Path, m.Profile, m.Objects, orUnknown(m.GitRevision), orUnknown(m.Digest), applied)
	}
	fmt.Fprintf(w, "cluster: Kubernetes %s, node image %s, %s\n\n", orUnknown(h.ServerVersion), orUnknown(h.NodeImage), orUnknown(h.Topology))
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

func passText(ok bool) string {
	if ok {
		return Pass
	}
	return Fail
}

func (p ProbeMeasurement) measuredText() string {
	if p.Missing {
		return "never observed"
	}
	return round(p.Measured).String()
}

func (p ProbeMeasurement) manifestText() string {
	if p.Manifest == nil {
		return "-"
	}
	return p.Manifest.String()
}

// WriteJSON saves the report for CI artifacts.
func (r *Report) WriteJSON(path string) error {
	raw, err := json.MarshalIndent(r.snapshot(), "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
