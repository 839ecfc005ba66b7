// Package report collects what a live run measured: one row per catalogue
// check (verdict, measurements, duration) and the time of each phase, printed
// as tables at the end of the run and written to $ARTIFACTS.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Check is one catalogue ID's row.
type Check struct {
	ID           string        `json:"id"`
	Verdict      string        `json:"verdict"` // PASS, FAIL, SKIP
	Measurements []string      `json:"measurements"`
	Duration     time.Duration `json:"duration"`
	start        time.Time
}

// Phase is one timed step of the run.
type Phase struct {
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration"`
	Budget   time.Duration `json:"budget,omitempty"`
}

// Report is safe for concurrent use.
type Report struct {
	mu     sync.Mutex
	checks map[string]*Check
	order  []string
	phases []Phase
	notes  []string
	start  time.Time
}

// New starts a report.
func New() *Report { return &Report{checks: map[string]*Check{}, start: time.Now()} }

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
	r.check(id).start = time.Now()
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
		c.Duration = time.Since(c.start)
	}
}

// Phase records a timed phase.
func (r *Report) Phase(name string, d, budget time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.phases = append(r.phases, Phase{Name: name, Duration: d, Budget: budget})
}

// BudgetFactor is how far above its floor a whole run may go.
const BudgetFactor = 1.3

// FloorPhases are the phases no run can avoid; with the longest probe window
// they make the run's floor.
var FloorPhases = []string{"cluster create", "node Ready", "image load", "apply -> Available", "teardown"}

// Floor is the sum of the floor phases measured in this run plus extra.
func (r *Report) Floor(extra time.Duration) (time.Duration, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	floor := extra
	var parts []string
	for _, name := range FloorPhases {
		for _, p := range r.phases {
			if p.Name == name {
				floor += p.Duration
				parts = append(parts, fmt.Sprintf("%s %s", name, p.Duration.Round(100*time.Millisecond)))
			}
		}
	}
	return floor, parts
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
	var out []Check
	for _, id := range r.order {
		out = append(out, *r.checks[id])
	}
	return out
}

// Failed lists the IDs whose verdict is FAIL.
func (r *Report) Failed() []string {
	var ids []string
	for _, c := range r.Checks() {
		if c.Verdict == "FAIL" {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// Print writes the check table, the phase table and the notes.
func (r *Report) Print(w io.Writer) {
	checks := r.Checks()
	r.mu.Lock()
	phases := append([]Phase(nil), r.phases...)
	notes := append([]string(nil), r.notes...)
	total := time.Since(r.start)
	r.mu.Unlock()

	fmt.Fprintln(w, "\n=== live conformance report ===")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tverdict\tduration\tmeasurements")
	for _, c := range checks {
		m := c.Measurements
		if len(m) == 0 {
			m = []string{"-"}
		}
		verdict := c.Verdict
		if verdict == "" {
			verdict = "NOT RUN"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.ID, verdict, c.Duration.Round(100*time.Millisecond), m[0])
		for _, more := range m[1:] {
			fmt.Fprintf(tw, "\t\t\t%s\n", more)
		}
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "phase\tduration\tbudget")
	for _, p := range phases {
		budget := "-"
		if p.Budget > 0 {
			budget = p.Budget.String()
			if p.Duration > p.Budget {
				budget += " EXCEEDED"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, p.Duration.Round(100*time.Millisecond), budget)
	}
	fmt.Fprintf(tw, "total\t%s\t\n", total.Round(100*time.Millisecond))
	tw.Flush()
	for _, n := range notes {
		fmt.Fprintln(w, "note:", n)
	}
	if failed := r.Failed(); len(failed) > 0 {
		fmt.Fprintf(w, "FAILED: %s\n", strings.Join(failed, ", "))
	}
}

// WriteJSON saves the report for CI artifacts.
func (r *Report) WriteJSON(path string) error {
	checks := r.Checks()
	r.mu.Lock()
	doc := map[string]any{"checks": checks, "phases": r.phases, "notes": r.notes, "total": time.Since(r.start).String()}
	r.mu.Unlock()
	raw, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o644)
}
