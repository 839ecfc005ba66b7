package report

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/puretasks/k8s-conformance/internal/junit"
)

// JUnitFile is the checks' own JUnit file in $ARTIFACTS, beside go test's
// junit.xml: one testcase per catalogue ID, with the verdict as JUnit says
// it (FAIL a <failure>, ERROR an <error>, NOT RUN <skipped>) and the run
// header as the suite's properties, so a CI's test view tells "look at the
// manifests" from "look at the machine" and a report read later stands
// alone. make ci-summary annotates from junit.xml, not from this file (one
// annotation per failure, not two).
const JUnitFile = "report-junit.xml"

// JUnit renders the report's checks as JUnit XML.
func (r *Report) JUnit() ([]byte, error) {
	s := r.snapshot()
	h := s.Header
	suite := junit.Suite{Name: "todo-app conformance checks", Time: junit.Seconds(s.Total)}
	if !h.Start.IsZero() {
		suite.Timestamp = h.Start.UTC().Format(time.RFC3339)
	}
	prop := func(name, value string) {
		if value != "" {
			suite.Properties = append(suite.Properties, junit.Property{Name: name, Value: value})
		}
	}
	if !h.Start.IsZero() {
		prop("start", h.Start.UTC().Format(time.RFC3339))
	}
	prop("suite.revision", h.SuiteRevision)
	for i, m := range h.Manifests {
		p := fmt.Sprintf("manifests.%d.", i)
		prop(p+"path", m.Path)
		prop(p+"profile", m.Profile)
		prop(p+"gitRevision", m.GitRevision)
		prop(p+"digest", m.Digest)
		prop(p+"objects", fmt.Sprint(m.Objects))
		prop(p+"applied", fmt.Sprint(m.Applied))
	}
	prop("kubernetes.serverVersion", h.ServerVersion)
	prop("kind.nodeImage", h.NodeImage)
	prop("topology", h.Topology)
	for _, c := range s.Checks {
		tc := junit.Case{Name: c.ID, Classname: "conformance", Time: junit.Seconds(c.Duration), SystemOut: strings.Join(c.Measurements, "\n")}
		if c.RunError {
			tc.Classname = "conformance.run"
		}
		miss := junit.Message{Type: string(c.Code)}
		if len(c.Misses) > 0 {
			last := c.Misses[len(c.Misses)-1]
			miss.Message = last.Resource + ": " + last.Text
			var lines []string
			for _, m := range c.Misses {
				lines = append(lines, fmt.Sprintf("[%s] %s: %s", m.Code, m.Resource, m.Text))
			}
			miss.Text = strings.Join(lines, "\n")
		}
		switch verdictText(c.Verdict) {
		case Pass:
		case Fail:
			tc.Failure = &miss
		case Error:
			tc.Error = &miss
		default: // NOT RUN: not a pass, not a judgement either
			if miss.Message == "" {
				miss.Message = NotRun
			}
			tc.Skipped = &miss
		}
		suite.Cases = append(suite.Cases, tc)
	}
	return junit.Marshal(suite)
}

// WriteJUnit saves JUnit for CI artifacts.
func (r *Report) WriteJUnit(path string) error {
	raw, err := r.JUnit()
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		return fmt.Errorf("write junit: %w", err)
	}
	return nil
}
