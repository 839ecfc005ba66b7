// Command cisummary turns a run's artifacts into what a GitHub Actions job
// page shows: the live report's check table as Markdown for the job summary
// ($GITHUB_STEP_SUMMARY), and one error annotation per failed test from the
// JUnit files (workflow commands on stdout).
//
//	cisummary -report _artifacts/report.json -junit '_artifacts/*.xml'
//
// It reads only what the run already wrote to $ARTIFACTS, which make
// leakcheck has checked for the run's fake Secret values.
package main

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/puretasks/k8s-conformance/internal/junit"
	"github.com/puretasks/k8s-conformance/internal/report"
)

func main() {
	reportPath := flag.String("report", "", "report.json of a live run (optional: a summary line says when it is absent)")
	junit := flag.String("junit", "", "glob of JUnit files whose failed tests become error annotations")
	title := flag.String("title", "live conformance", "the summary's heading")
	flag.Parse()
	summary := io.Writer(os.Stdout)
	if p := os.Getenv("GITHUB_STEP_SUMMARY"); p != "" {
		f, err := os.OpenFile(p, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			fail(err)
		}
		defer f.Close()
		summary = f
	}
	if *reportPath != "" {
		if err := writeSummary(summary, *title, *reportPath); err != nil {
			fail(err)
		}
	}
	if *junit != "" {
		if err := annotateAll(os.Stdout, *junit); err != nil {
			fail(err)
		}
	}
}

// annotateAll annotates the failed tests of every JUnit file the glob
// matches, except the checks' own (report.JUnitFile): it says the same
// failures again, one annotation each is enough.
func annotateAll(w io.Writer, glob string) error {
	files, err := filepath.Glob(glob)
	if err != nil {
		return err
	}
	for _, f := range files {
		if filepath.Base(f) == report.JUnitFile {
			continue
		}
		if err := annotate(w, f); err != nil {
			return err
		}
	}
	return nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "cisummary:", err)
	os.Exit(1)
}

// runReport is the part of report.json the summary shows.
type runReport struct {
	Checks   []report.Check `json:"checks"`
	Warnings []string       `json:"warnings"`
	Notes    []string       `json:"notes"`
	Total    time.Duration  `json:"total"`
}

func writeSummary(w io.Writer, title, path string) error {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		_, err = fmt.Fprintf(w, "## %s\n\nNo report: the run ended before it wrote %s (see the step's log and the artifacts).\n", title, filepath.Base(path))
		return err
	}
	if err != nil {
		return err
	}
	var r runReport
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	count := map[string]int{}
	for _, c := range r.Checks {
		count[verdict(c)]++
	}
	// FAIL (the manifests broke a promise) and ERROR (the run could not
	// judge) are counted apart: whoever is paged looks at the manifests for
	// one and at the machine for the other.
	fmt.Fprintf(w, "## %s\n\n%d PASS, %d FAIL, %d ERROR, %d NOT RUN in %s\n\n", title,
		count[report.Pass], count[report.Fail], count[report.Error], count[report.NotRun], r.Total.Round(time.Second))
	fmt.Fprintln(w, "| ID | verdict | duration | measured / missed |")
	fmt.Fprintln(w, "| --- | --- | --- | --- |")
	for _, c := range r.Checks {
		detail := c.Measurements
		for _, m := range c.Misses {
			detail = append(detail, fmt.Sprintf("%s (%s): %s", m.Resource, m.Code, m.Text))
		}
		v := verdict(c)
		if c.Code != "" && v != report.Pass {
			v += " (" + string(c.Code) + ")"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", c.ID, v, c.Duration.Round(100*time.Millisecond), cell(strings.Join(detail, "; ")))
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "\n- %s", cell(n))
	}
	for _, n := range r.Warnings {
		fmt.Fprintf(w, "\n- WARN %s", cell(n))
	}
	_, err = fmt.Fprintln(w)
	return err
}

func verdict(c report.Check) string {
	if c.Verdict == "" {
		return report.NotRun
	}
	return c.Verdict
}

// cell keeps a value inside one Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.Join(strings.Fields(s), " ")
}

// annotate prints one ::error workflow command per failed test of a JUnit
// file, leaves only: a parent test fails because a subtest did, and the
// subtest's annotation says why.
func annotate(w io.Writer, path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var s junit.Suites
	if err := xml.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	failed := map[string]string{}
	for _, suite := range s.Suites {
		for _, c := range suite.Cases {
			if c.Failure != nil {
				failed[c.Classname+" "+c.Name] = strings.TrimSpace(c.Failure.Text)
			}
		}
	}
	var names []string
	for n := range failed {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		parent := false
		for _, other := range names {
			if strings.HasPrefix(other, n+"/") {
				parent = true
			}
		}
		if !parent {
			fmt.Fprintf(w, "::error title=%s::%s\n", escapeProperty(n), escapeData(lastLines(failed[n], 30)))
		}
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// escapeData and escapeProperty follow the workflow command syntax
// (actions/toolkit's command.ts).
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}
