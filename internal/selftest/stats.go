package selftest

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/puretasks/k8s-conformance/internal/report"
)

// Spread is the min, median and max of one measured quantity over runs.
type Spread struct {
	Name   string        `json:"name"`
	N      int           `json:"n"`
	Min    time.Duration `json:"min"`
	Median time.Duration `json:"median"`
	Max    time.Duration `json:"max"`
	// Misses counts runs where the quantity was expected but not measured
	// (a probe outcome never observed).
	Misses int `json:"misses,omitempty"`
	// Window is the seed's window for a probe measurement, and Margin the
	// least distance of any sample to its nearer end (negative: outside).
	// A small margin is a flake waiting for a slower machine.
	Window *report.Window `json:"window,omitempty"`
	Margin time.Duration  `json:"margin,omitempty"`
}

// marginIn is the least distance of the samples to the nearer end of w.
func marginIn(w report.Window, samples []time.Duration) time.Duration {
	least := time.Duration(math.MaxInt64)
	for _, d := range samples {
		least = min(least, d-w.Min, w.Max-d)
	}
	return least
}

// SpreadOf summarises samples; the median of an even count is the mean of
// the middle two.
func SpreadOf(name string, samples []time.Duration) Spread {
	s := Spread{Name: name, N: len(samples)}
	if len(samples) == 0 {
		return s
	}
	sorted := slices.Sorted(slices.Values(samples))
	s.Min, s.Max = sorted[0], sorted[len(sorted)-1]
	mid := len(sorted) / 2
	if len(sorted)%2 == 1 {
		s.Median = sorted[mid]
	} else {
		s.Median = (sorted[mid-1] + sorted[mid]) / 2
	}
	return s
}

// series collects samples by name, keeping first-seen order.
type series struct {
	order   []string
	samples map[string][]time.Duration
	misses  map[string]int
	windows map[string]report.Window
}

func newSeries() *series {
	return &series{samples: map[string][]time.Duration{}, misses: map[string]int{}, windows: map[string]report.Window{}}
}

func (s *series) touch(name string) {
	if _, ok := s.samples[name]; !ok {
		s.order = append(s.order, name)
		s.samples[name] = nil
	}
}

func (s *series) add(name string, d time.Duration) {
	s.touch(name)
	s.samples[name] = append(s.samples[name], d)
}

func (s *series) miss(name string) {
	s.touch(name)
	s.misses[name]++
}

func (s *series) spreads() []Spread {
	var out []Spread
	for _, n := range s.order {
		sp := SpreadOf(n, s.samples[n])
		sp.Misses = s.misses[n]
		if w, ok := s.windows[n]; ok && sp.N > 0 {
			sp.Window, sp.Margin = &w, marginIn(w, s.samples[n])
		}
		out = append(out, sp)
	}
	return out
}

// RunOutcome is one full run of the soak.
type RunOutcome struct {
	Run       int           `json:"run"`
	Passed    bool          `json:"passed"`
	ExitCode  int           `json:"exitCode"`
	Wall      time.Duration `json:"wall"`
	Failed    []string      `json:"failed,omitempty"` // check IDs with FAIL
	Artifacts string        `json:"artifacts"`
	Err       string        `json:"error,omitempty"`
	// StartTraces are traces of earlier runs present when this run started:
	// it did not start cleanly.
	StartTraces Traces `json:"startTraces,omitempty"`
	// Interruption, when the run was interrupted on purpose.
	Interrupt *InterruptOutcome `json:"interrupt,omitempty"`
	Report    *RunReport        `json:"-"`
}

// SoakSummary is the soak's statistics.
type SoakSummary struct {
	Runs    int      `json:"runs"`
	Passed  int      `json:"passed"`
	Wall    Spread   `json:"wall"`
	Phases  []Spread `json:"phases"`
	Lanes   []Spread `json:"lanes"`
	Checks  []Spread `json:"checks"`
	Probes  []Spread `json:"probes"`
	Flakes  []string `json:"flakes"` // check IDs that failed in some runs, with counts
	Outcome []RunOutcome
}

// Summarise computes the pass rate and, per phase, check and probe
// measurement, min/median/max over the runs that reported it.
func Summarise(runs []RunOutcome) SoakSummary {
	s := SoakSummary{Runs: len(runs), Outcome: runs}
	phases, lanes, checks, probes := newSeries(), newSeries(), newSeries(), newSeries()
	var walls []time.Duration
	failures := map[string]int{}
	var failOrder []string
	for _, r := range runs {
		if r.Passed {
			s.Passed++
		}
		walls = append(walls, r.Wall)
		for _, id := range r.Failed {
			if failures[id] == 0 {
				failOrder = append(failOrder, id)
			}
			failures[id]++
		}
		if r.Report == nil {
			continue
		}
		for _, p := range r.Report.Phases {
			phases.add(p.Name, p.Duration)
		}
		for _, l := range r.Report.Lanes {
			lanes.add(l.Name, l.Span)
		}
		for _, c := range r.Report.Checks {
			if c.Verdict != "" {
				checks.add(c.ID, c.Duration)
			}
		}
		for _, p := range r.Report.Probes {
			name := p.ID + " " + p.Scenario
			if p.Seed != (report.Window{}) {
				probes.windows[name] = p.Seed
			}
			if p.Missing {
				probes.miss(name)
				continue
			}
			probes.add(name, p.Measured)
		}
	}
	s.Wall = SpreadOf("wall", walls)
	s.Phases, s.Lanes, s.Checks, s.Probes = phases.spreads(), lanes.spreads(), checks.spreads(), probes.spreads()
	for _, id := range failOrder {
		s.Flakes = append(s.Flakes, fmt.Sprintf("%s failed in %d/%d runs", id, failures[id], len(runs)))
	}
	return s
}

// PassRate is "p/n (x%)".
func (s SoakSummary) PassRate() string {
	if s.Runs == 0 {
		return "0/0"
	}
	return fmt.Sprintf("%d/%d (%.0f%%)", s.Passed, s.Runs, 100*float64(s.Passed)/float64(s.Runs))
}

// Print writes the pass rate and the spreads.
func (s SoakSummary) Print(w io.Writer) {
	fmt.Fprintf(w, "\n=== soak: %d runs, pass rate %s ===\n", s.Runs, s.PassRate())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "run\tverdict\twall\tfailed\tartifacts")
	for _, r := range s.Outcome {
		v := "PASS"
		if !r.Passed {
			v = "FAIL"
		}
		if r.Interrupt != nil {
			v = "INTERRUPTED"
		}
		fmt.Fprintf(tw, "%02d\t%s\t%s\t%s\t%s\n", r.Run, v, r.Wall.Round(time.Second), strings.Join(r.Failed, " "), r.Artifacts)
	}
	tw.Flush()
	for _, group := range []struct {
		title string
		rows  []Spread
	}{{"wall", []Spread{s.Wall}}, {"phase", s.Phases}, {"lane", s.Lanes}, {"check", s.Checks}, {"probe measurement", s.Probes}} {
		if len(group.rows) == 0 {
			continue
		}
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		probes := group.title == "probe measurement"
		header := "%s\tn\tmin\tmedian\tmax\tnot measured\n"
		if probes {
			header = "%s\tn\tmin\tmedian\tmax\tnot measured\tseed window\tleast margin\n"
		}
		fmt.Fprintf(tw, header, group.title)
		for _, sp := range group.rows {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d", sp.Name, sp.N, round(sp.Min), round(sp.Median), round(sp.Max), sp.Misses)
			if probes {
				window, margin := "", ""
				if sp.Window != nil {
					window, margin = fmt.Sprintf("[%s, %s]", sp.Window.Min, sp.Window.Max), round(sp.Margin).String()
				}
				fmt.Fprintf(tw, "\t%s\t%s", window, margin)
			}
			fmt.Fprintln(tw)
		}
		tw.Flush()
	}
	for _, f := range s.Flakes {
		fmt.Fprintln(w, "flake:", f)
	}
}

func round(d time.Duration) time.Duration { return d.Round(100 * time.Millisecond) }
