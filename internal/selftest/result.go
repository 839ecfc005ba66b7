package selftest

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/puretasks/k8s-conformance/internal/junit"
	"github.com/puretasks/k8s-conformance/internal/staticcheck"
)

// Tier is where a check runs.
type Tier string

const (
	Static Tier = "static"
	Live   Tier = "live"
)

// Observed is what the self-test saw for one mutant and ID.
type Observed string

const (
	Caught Observed = "caught" // the check failed on the mutant
	Missed Observed = "MISSED" // the check ran and passed: it is blind to the break
	Error  Observed = "ERROR"  // the run broke before the check could judge, or judged for the wrong reason
	NotRun Observed = "NOT RUN"
	// Skipped: a slow mutant left out of this run on purpose (selftest -slow runs it).
	Skipped Observed = "skipped"
)

// Cell is one mutant x ID of the detection matrix.
type Cell struct {
	Tier     Tier          `json:"tier"`
	ID       string        `json:"id"`
	Expected bool          `json:"expected"` // named in mutant.yaml
	Observed Observed      `json:"observed"`
	Detail   string        `json:"detail,omitempty"`
	Duration time.Duration `json:"duration,omitempty"` // the check's own time (live)
}

// OK reports whether the cell is what the mutant promised: a named ID caught.
// Cells the mutant does not name (extra catches) are always OK.
func (c Cell) OK() bool { return !c.Expected || c.Observed == Caught || c.Observed == Skipped }

// MutantResult is one mutant's row.
type MutantResult struct {
	Name      string        `json:"name"`
	Why       string        `json:"why"`
	Cells     []Cell        `json:"cells"`
	Live      bool          `json:"live"` // the mutant names live IDs and was run live
	Duration  time.Duration `json:"duration,omitempty"`
	ExitCode  int           `json:"exitCode,omitempty"`
	Artifacts string        `json:"artifacts,omitempty"`
	Err       string        `json:"error,omitempty"`
	Cleanup   string        `json:"cleanup,omitempty"` // what had to be removed after the run
	// RestoreErr: the cluster could not be brought back after this mutant.
	RestoreErr string `json:"restoreError,omitempty"`
}

// Caught lists the IDs of a tier the mutant was caught by (named or not).
func (r MutantResult) Caught(t Tier) []string {
	var out []string
	for _, c := range r.Cells {
		if c.Tier == t && c.Observed == Caught {
			out = append(out, c.ID)
		}
	}
	return out
}

// Result is a whole self-test.
type Result struct {
	Started  time.Time      `json:"started"`
	Duration time.Duration  `json:"duration"`
	Mode     string         `json:"mode"` // static, live
	Mutants  []MutantResult `json:"mutants"`
	// Timings are the self-test's own steps (build, cluster, control, mutants).
	Timings []Timing `json:"timings,omitempty"`
	// Control is the run of the unbroken manifests (live mode).
	Control *ControlResult `json:"control,omitempty"`
	// Problems make the self-test fail; empty means green.
	Problems []string `json:"problems"`
	Passed   bool     `json:"passed"`
}

// Timing is one step of the self-test and how long it took.
type Timing struct {
	Step     string        `json:"step"`
	Duration time.Duration `json:"duration"`
}

// Judge fills in Problems and Passed: every named ID must be caught, every
// live mutant must be caught by at least one live check, and (when every
// mutant ran) every live catalogue ID must have caught at least one mutant.
func (r *Result) Judge(all bool) {
	r.Problems = nil
	if c := r.Control; c != nil {
		if c.Err != "" {
			r.Problems = append(r.Problems, "control run (unbroken manifests) left no report: "+c.Err)
		}
		for _, id := range LiveIDs {
			if why, bad := c.Failed[id]; bad {
				r.Problems = append(r.Problems, fmt.Sprintf("control run: %s fails on the unbroken manifests (%s); see %s", id, why, c.Artifacts))
			}
		}
	}
	caughtBy := map[string][]string{}
	for _, m := range r.Mutants {
		for _, c := range m.Cells {
			if !c.OK() {
				r.Problems = append(r.Problems, fmt.Sprintf("%s: %s %s expected to fail, observed %s: %s", m.Name, c.Tier, c.ID, c.Observed, c.Detail))
			}
			// Only named catches count: an extra failure was not checked
			// against the break's expected words.
			if c.Tier == Live && c.Observed == Caught && c.Expected {
				caughtBy[c.ID] = append(caughtBy[c.ID], m.Name)
			}
		}
		if m.RestoreErr != "" {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: the cluster could not be restored after it: %s", m.Name, m.RestoreErr))
		}
		if m.Live && len(m.Caught(Live)) == 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: no live check caught this mutant (%s)", m.Name, m.Why))
		}
	}
	if all && r.Mode == string(Live) {
		for _, id := range LiveIDs {
			if len(caughtBy[id]) == 0 {
				r.Problems = append(r.Problems, fmt.Sprintf("%s caught no mutant: the live check is blind to every break named for it", id))
			}
		}
	}
	r.Passed = len(r.Problems) == 0
}

// PrintMatrix writes the detection matrix: one line per mutant and ID,
// expected against observed, then the live IDs as a grid.
func (r *Result) PrintMatrix(w io.Writer) {
	fmt.Fprintf(w, "\n=== self-test detection matrix (%s) ===\n", r.Mode)
	if c := r.Control; c != nil {
		fmt.Fprintf(w, "control run (the repository's manifests, every live check): %d/%d passed in %s %s\n", len(c.Passed), len(LiveIDs), c.Duration.Round(time.Second), c.Err)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "mutant\ttier\tID\texpected\tobserved\tdetail")
	for _, m := range r.Mutants {
		name := m.Name
		for _, c := range m.Cells {
			exp := "fail"
			if !c.Expected {
				exp = "(not named)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, c.Tier, c.ID, exp, c.Observed, oneLine(c.Detail, 110))
			name = ""
		}
		if m.Live {
			fmt.Fprintf(tw, "\t\t\t\ttime %s\t%s\n", m.Duration.Round(time.Second), m.Artifacts)
		}
	}
	tw.Flush()
	if r.Mode == string(Live) {
		fmt.Fprintln(w, "\nlive grid: X caught as named, ! named but not caught, + caught too (not named), s slow mutant skipped, . not named")
		fmt.Fprintln(w, Grid(r.Mutants))
	}
	if len(r.Timings) > 0 {
		var parts []string
		for _, t := range r.Timings {
			parts = append(parts, fmt.Sprintf("%s %s", t.Step, t.Duration.Round(time.Second)))
		}
		fmt.Fprintf(w, "timings: %s\n", strings.Join(parts, ", "))
	}
	if len(r.Problems) == 0 {
		fmt.Fprintf(w, "self-test PASSED: %d mutants in %s\n", len(r.Mutants), r.Duration.Round(time.Second))
		return
	}
	fmt.Fprintf(w, "self-test FAILED (%d problems):\n", len(r.Problems))
	for _, p := range r.Problems {
		fmt.Fprintln(w, "  -", p)
	}
}

// Grid renders mutants x live IDs.
func Grid(ms []MutantResult) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', 0)
	fmt.Fprint(tw, "mutant")
	for _, id := range LiveIDs {
		fmt.Fprint(tw, "\t"+strings.TrimPrefix(id, "L-"))
	}
	fmt.Fprintln(tw)
	for _, m := range ms {
		if !m.Live && !slices.ContainsFunc(m.Cells, func(c Cell) bool { return c.Observed == Skipped }) {
			continue
		}
		fmt.Fprint(tw, m.Name)
		for _, id := range LiveIDs {
			mark := "."
			for _, c := range m.Cells {
				if c.Tier != Live || c.ID != id {
					continue
				}
				switch {
				case c.Expected && c.Observed == Caught:
					mark = "X"
				case c.Observed == Skipped:
					mark = "s"
				case c.Expected:
					mark = "!"
				case c.Observed == Caught:
					mark = "+"
				}
			}
			fmt.Fprint(tw, "\t"+mark)
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	return b.String()
}

// CoverageMarkdown is the catalogue's coverage matrix (mutant x ID, as
// named in mutant.yaml) for the README.
func CoverageMarkdown(ms []Mutant) string {
	var b strings.Builder
	b.WriteString("| mutant | break | static | live |\n| --- | --- | --- | --- |\n")
	dash := func(ids []string) string {
		if len(ids) == 0 {
			return "—"
		}
		return strings.Join(ids, ", ")
	}
	for _, m := range ms {
		live := dash(m.Live)
		if m.Slow != "" {
			live += " (slow: `SLOW=1`)"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", m.Name, m.Why, dash(m.Static), live)
	}
	b.WriteString("\n| live ID | mutants (a catch counts when a miss says) |\n| --- | --- |\n")
	cov := Coverage(ms)
	byName := map[string]Mutant{}
	for _, m := range ms {
		byName[m.Name] = m
	}
	for _, id := range LiveIDs {
		var cells []string
		for _, name := range cov[id] {
			var words []string
			for _, w := range byName[name].Expect[id] {
				words = append(words, "“"+w+"”")
			}
			cells = append(cells, fmt.Sprintf("%s (%s)", name, strings.Join(words, " or ")))
		}
		fmt.Fprintf(&b, "| %s | %s |\n", id, strings.Join(cells, "; "))
	}
	return b.String()
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n-1] + "…"
	}
	return s
}

// WriteFiles writes result.json, junit.xml and matrix.txt into dir.
func (r *Result) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	var errs []error
	errs = append(errs, os.WriteFile(filepath.Join(dir, "result.json"), raw, 0o644))
	junit, err := r.JUnit()
	errs = append(errs, err, os.WriteFile(filepath.Join(dir, "junit.xml"), junit, 0o644))
	var m strings.Builder
	r.PrintMatrix(&m)
	errs = append(errs, os.WriteFile(filepath.Join(dir, "matrix.txt"), []byte(m.String()), 0o644))
	for _, e := range errs {
		if e != nil {
			return fmt.Errorf("selftest: writing results to %s: %w", dir, e)
		}
	}
	return nil
}

// JUnit renders one testcase per mutant x named ID (a failure when the ID
// did not catch its mutant) and one per extra catch (a pass, for the record).
func (r *Result) JUnit() ([]byte, error) {
	s := junit.Suite{Name: "selftest-" + r.Mode, Time: junit.Seconds(r.Duration)}
	for _, m := range r.Mutants {
		for _, c := range m.Cells {
			tc := junit.Case{Name: m.Name + "/" + c.ID, Classname: "selftest." + string(c.Tier), Time: junit.Seconds(c.Duration)}
			switch {
			case !c.Expected:
				tc.SystemOut = fmt.Sprintf("not named in mutant.yaml; observed %s: %s", c.Observed, c.Detail)
			case c.Observed == Skipped:
				tc.Skipped = &junit.Message{Message: c.Detail}
			case c.Observed != Caught:
				// A named check that did not run, or errored, is a failure
				// too: it proved nothing.
				tc.Failure = &junit.Message{Message: fmt.Sprintf("%s did not catch mutant %s (%s)", c.ID, m.Name, c.Observed), Text: m.Why + "\n" + c.Detail}
			default:
				tc.SystemOut = c.Detail
			}
			s.Cases = append(s.Cases, tc)
		}
	}
	return junit.Marshal(s)
}

// sortedCells orders cells: static before live, named before extra, then
// catalogue order.
func sortedCells(cells []Cell) {
	static := staticcheck.IDs()
	order := func(c Cell) int {
		ids := static
		if c.Tier == Live {
			ids = LiveIDs
		}
		if i := slices.Index(ids, c.ID); i >= 0 {
			return i
		}
		return len(ids)
	}
	slices.SortStableFunc(cells, func(a, b Cell) int {
		if a.Tier != b.Tier {
			if a.Tier == Static {
				return -1
			}
			return 1
		}
		if a.Expected != b.Expected {
			if a.Expected {
				return -1
			}
			return 1
		}
		return order(a) - order(b)
	})
}
