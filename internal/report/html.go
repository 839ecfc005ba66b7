package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"math"
	"os"
	"strings"
	"time"
)

// The page is self-contained: inline CSS, SVG drawn here, no script, no font,
// no link to anything outside the file, so it opens from a CI artifact with no
// network.
//
//go:embed report.html.tmpl
var pageTemplate string

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"dur":     func(d time.Duration) string { return round(d).String() },
	"px":      func(f float64) string { return fmt.Sprintf("%.1f", f) },
	"verdict": verdictText,
	"code":    codeText,
	"class":   func(v string) string { return strings.ReplaceAll(verdictText(v), " ", "") },
}).Parse(pageTemplate))

// Layout of the drawings, in SVG user units.
const (
	chartLeft   = 330.0 // room for row labels
	chartWidth  = 780.0
	rowHeight   = 26.0
	barHeight   = 16.0
	axisHeight  = 30.0
	probeHeight = 34.0
)

type tick struct {
	X     float64
	Label string
}

type bar struct {
	Label, Title, Class string
	Y, X, W             float64
}

type timeline struct {
	Width, Height float64
	Left, Right   float64
	Ticks         []tick
	Bars          []bar
	AxisY         float64
	// BudgetX marks the run's budget (0: no floor measured).
	BudgetX     float64
	BudgetLabel string
}

type probeRow struct {
	ProbeMeasurement
	Y                          float64
	SeedX, SeedW               float64
	HasManifest                bool
	ManX, ManW                 float64
	MarkX                      float64
	Label, Title, MarkerClass  string
	MeasuredText, ManifestText string
}

type probeChart struct {
	Width, Height float64
	Left, Right   float64
	Ticks         []tick
	Rows          []probeRow
	AxisY         float64
}

type pageData struct {
	snapshot
	Passed, FailedN, Errors, NotRun int
	Timeline                        timeline
	Probes                          probeChart
	Factor                          float64
	Generated                       string
}

// WriteHTML writes the report as one self-contained HTML page: the check
// table, the lanes and phases on a timeline, and each probe measurement drawn
// against its seed window (and the manifest's own window on a miss).
func (r *Report) WriteHTML(path string) error {
	var buf bytes.Buffer
	if err := r.renderHTML(&buf); err != nil {
		return err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write report page: %w", err)
	}
	return nil
}

func (r *Report) renderHTML(buf *bytes.Buffer) error {
	s := r.snapshot()
	d := pageData{snapshot: s, Factor: BudgetFactor, Timeline: drawTimeline(s), Probes: drawProbes(s.Probes)}
	for _, c := range s.Checks {
		switch c.Verdict {
		case Pass:
			d.Passed++
		case Fail:
			d.FailedN++
		case Error:
			d.Errors++
		default:
			d.NotRun++
		}
	}
	if err := page.Execute(buf, d); err != nil {
		return fmt.Errorf("render report page: %w", err)
	}
	return nil
}

// niceStep picks a tick spacing giving about n ticks over span.
func niceStep(span time.Duration, n int) time.Duration {
	steps := []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second,
		30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute, time.Hour}
	for _, s := range steps {
		if span/s <= time.Duration(n) {
			return s
		}
	}
	return steps[len(steps)-1]
}

func ticks(span time.Duration, scale func(time.Duration) float64) []tick {
	step := niceStep(span, 10)
	var out []tick
	for t := time.Duration(0); t <= span; t += step {
		out = append(out, tick{X: scale(t), Label: t.String()})
	}
	return out
}

func drawTimeline(s snapshot) timeline {
	span := s.Total
	for _, l := range s.Lanes {
		span = max(span, l.Offset+l.Span)
	}
	for _, p := range s.Phases {
		span = max(span, p.Offset+p.Duration)
	}
	span = max(span, s.Budget.Budget, time.Second)
	scale := func(d time.Duration) float64 { return chartLeft + chartWidth*float64(d)/float64(span) }
	width := func(d time.Duration) float64 { return math.Max(2, chartWidth*float64(d)/float64(span)) }
	t := timeline{Width: chartLeft + chartWidth + 20, Left: chartLeft, Right: chartLeft + chartWidth}
	if s.Budget.Budget > 0 {
		t.BudgetX, t.BudgetLabel = scale(s.Budget.Budget), round(s.Budget.Budget).String()
	}
	y := axisHeight
	for _, l := range s.Lanes {
		title := fmt.Sprintf("lane %s: +%s for %s", l.Name, round(l.Offset), round(l.Span))
		if len(l.IDs) > 0 {
			title += fmt.Sprintf(" (%v)", l.IDs)
		}
		t.Bars = append(t.Bars, bar{Label: clip("lane: " + l.Name), Title: title, Class: "lane-bar", Y: y, X: scale(l.Offset), W: width(l.Span)})
		y += rowHeight
	}
	for _, p := range s.Phases {
		class := "phase-bar"
		if p.Exceeded {
			class += " over"
		}
		title := fmt.Sprintf("phase %s: +%s for %s", p.Name, round(p.Offset), round(p.Duration))
		if p.Budget > 0 {
			title += fmt.Sprintf(", budget %s", p.Budget)
		}
		t.Bars = append(t.Bars, bar{Label: clip(p.Name), Title: title, Class: class, Y: y, X: scale(p.Offset), W: width(p.Duration)})
		y += rowHeight
	}
	t.AxisY = y + 4
	t.Height = y + 24
	t.Ticks = ticks(span, scale)
	return t
}

func drawProbes(probes []ProbeMeasurement) probeChart {
	var span time.Duration
	for _, p := range probes {
		span = max(span, p.Seed.Max, p.Measured)
		if p.Manifest != nil {
			span = max(span, p.Manifest.Max)
		}
	}
	span = max(time.Second, span+span/10)
	scale := func(d time.Duration) float64 { return chartLeft + chartWidth*float64(d)/float64(span) }
	width := func(w Window) float64 { return math.Max(2, scale(w.Max)-scale(w.Min)) }
	c := probeChart{Width: chartLeft + chartWidth + 20, Left: chartLeft, Right: chartLeft + chartWidth}
	y := axisHeight
	for _, p := range probes {
		row := probeRow{ProbeMeasurement: p, Y: y, SeedX: scale(p.Seed.Min), SeedW: width(p.Seed),
			Label: clip(p.ID + " " + p.Scenario), MeasuredText: p.measuredText(), ManifestText: p.manifestText()}
		row.MarkerClass = "probe-marker pass"
		if !p.Pass {
			row.MarkerClass = "probe-marker fail"
		}
		if p.Missing {
			// Never observed: the marker sits past the end of the axis.
			row.MarkX = chartLeft + chartWidth
			row.MarkerClass += " missing"
		} else {
			row.MarkX = scale(p.Measured)
		}
		if p.Manifest != nil {
			row.HasManifest, row.ManX, row.ManW = true, scale(p.Manifest.Min), width(*p.Manifest)
		}
		row.Title = fmt.Sprintf("%s %s: measured %s, seed window %s", p.ID, p.Scenario, p.measuredText(), p.Seed)
		if p.Manifest != nil {
			row.Title += ", manifest window " + p.Manifest.String()
		}
		if p.Note != "" {
			row.Title += "; " + p.Note
		}
		c.Rows = append(c.Rows, row)
		y += probeHeight
	}
	c.AxisY = y + 4
	c.Height = y + 10
	c.Ticks = ticks(span, scale)
	return c
}

// labelRunes is how much of a row label fits left of a chart; the bar's
// tooltip carries the whole text.
const labelRunes = 48

func clip(s string) string {
	r := []rune(s)
	if len(r) <= labelRunes {
		return s
	}
	return string(r[:labelRunes-1]) + "…"
}
