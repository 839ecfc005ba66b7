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
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Verdicts a check can end with.
const (
	Pass = "PASS"
	Fail = "FAIL"
	Skip = "SKIP"
)

// Check is one catalogue ID's row.
type Check struct {
	ID           string        `json:"id"`
	Verdict      string        `json:"verdict"`          // PASS, FAIL, SKIP; "" = not run
	Reason       string        `json:"reason,omitempty"` // why a check was skipped
	Measurements []string      `json:"measurements"`
	Duration     time.Duration `json:"duration"`
	start        time.Time
}

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

// Report is safe for concurrent use.
type Report struct {
	mu     sync.Mutex
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
	return &Report{checks: map[string]*Check{}, start: now(), now: now}
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

// Start marks the beginning of a check.
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

// End records the verdict and duration of a check.
func (r *Report) End(id, verdict string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.check(id)
	c.Verdict = verdict
	if !c.start.IsZero() {
		c.Duration = r.now().Sub(c.start)
	}
}

// Skip ends a check with verdict SKIP and the reason nothing was checked.
func (r *Report) Skip(id, format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.check(id)
	c.Verdict = Skip
	c.Reason = fmt.Sprintf(format, a...)
	if !c.start.IsZero() {
		c.Duration = r.now().Sub(c.start)
	}
}

// Phase records a phase that took d and ended now. Its budget comes from
// PhaseBudgets; the trailing argument is accepted only so that older callers
// compile and is ignored.
//
// Deprecated trailing argument: call Phase(name, d).
func (r *Report) Phase(name string, d time.Duration, _ ...time.Duration) {
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

// Checks returns the rows in the order they started.
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
	return out
}

// Failed lists the IDs whose verdict is FAIL.
func (r *Report) Failed() []string {
	var ids []string
	for _, c := range r.Checks() {
		if c.Verdict == Fail {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// Warnings lists the budget warnings; it closes the report's clock.
func (r *Report) Warnings() []string {
	return r.snapshot().Warnings
}

// snapshot is a consistent copy of the report, taken once it is closed.
type snapshot struct {
	Checks   []Check            `json:"checks"`
	Phases   []Phase            `json:"phases"`
	Lanes    []Lane             `json:"lanes"`
	Probes   []ProbeMeasurement `json:"probes"`
	Budget   RunBudget          `json:"budget"`
	Warnings []string           `json:"warnings"`
	Notes    []string           `json:"notes"`
	Total    time.Duration      `json:"total"`
}

// Close stops the run's clock and holds the run to its budget; it records a
// warning for the run and for each phase over budget. Print, WriteJSON and
// WriteHTML close the report themselves; calling Close again changes nothing.
// Phases, lanes and checks recorded after Close still appear in the output
// but no longer move the run's total.
func (r *Report) Close() RunBudget {
	return r.snapshot().Budget
}

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
	return snapshot{
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

// verdictText is what the tables show for a verdict.
func verdictText(v string) string {
	if v == "" {
		return "NOT RUN"
	}
	return v
}

// lines are a check's measurement column: a skip's reason first.
func (c Check) lines() []string {
	var m []string
	if c.Reason != "" {
		m = append(m, "skipped: "+c.Reason)
	}
	m = append(m, c.Measurements...)
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
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tverdict\tduration\tmeasurements")
	for _, c := range s.Checks {
		m := c.lines()
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.ID, verdictText(c.Verdict), round(c.Duration), m[0])
		for _, more := range m[1:] {
			fmt.Fprintf(tw, "\t\t\t%s\n", more)
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
	var failed []string
	for _, c := range s.Checks {
		if c.Verdict == Fail {
			failed = append(failed, c.ID)
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "FAILED: %s\n", strings.Join(failed, ", "))
	}
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
