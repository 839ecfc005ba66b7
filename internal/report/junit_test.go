package report

import (
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/internal/junit"
)

// Each verdict is its own JUnit answer: FAIL a <failure>, ERROR an <error>,
// NOT RUN <skipped>, PASS none; the run header is the suite's properties.
func TestJUnitTellsFailFromError(t *testing.T) {
	clock := newClock()
	r := newAt(clock.now)
	r.Describe(func(h *Header) {
		h.SuiteRevision = "abc123"
		h.Manifests = append(h.Manifests, ManifestsUnderTest{Path: "manifests/base", Profile: "default", GitRevision: "abc123", Digest: "f00d", Objects: 7, Applied: true})
		h.ServerVersion, h.NodeImage, h.Topology = "v1.36.3", "kind-node:x", "5 nodes"
	})
	r.Start("L-APPLY")
	r.Measure("L-APPLY", "7/7 objects")
	clock.advance(1500 * time.Millisecond)
	r.Conclude("L-APPLY", Outcome{Steps: 1, Ran: 1})
	r.Start("L-DNS")
	r.Miss("L-DNS", Miss{Code: CodeSpec, Resource: "Service backend-service", Text: "expected 200, got 503"})
	r.Conclude("L-DNS", Outcome{Failed: true, Steps: 1, Ran: 1})
	r.Start("L-PVC")
	r.Miss("L-PVC", Miss{Code: CodeClusterGone, Resource: "cluster", Text: "the node containers are gone"})
	r.Conclude("L-PVC", Outcome{Failed: true, Steps: 1, Ran: 1})
	r.Start("L-LB")
	r.RunError("teardown", CodeTeardown, errors.New("deleting namespace scale-check: timeout"))

	path := filepath.Join(t.TempDir(), JUnitFile)
	require.NoError(t, r.WriteJUnit(path))
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var got junit.Suites
	require.NoError(t, xml.Unmarshal(raw, &got))
	require.Len(t, got.Suites, 1)
	s := got.Suites[0]
	cases := map[string]junit.Case{}
	for _, c := range s.Cases {
		cases[c.Name] = c
	}
	assert.Nil(t, cases["L-APPLY"].Failure)
	assert.Nil(t, cases["L-APPLY"].Error)
	assert.Equal(t, "1.500", cases["L-APPLY"].Time)
	require.NotNil(t, cases["L-DNS"].Failure, "FAIL is a <failure>")
	assert.Equal(t, "Service backend-service: expected 200, got 503", cases["L-DNS"].Failure.Message)
	assert.Equal(t, "spec", cases["L-DNS"].Failure.Type)
	require.NotNil(t, cases["L-PVC"].Error, "ERROR is an <error>")
	assert.Nil(t, cases["L-PVC"].Failure)
	assert.Equal(t, "cluster-gone", cases["L-PVC"].Error.Type)
	require.NotNil(t, cases["L-LB"].Skipped, "NOT RUN is <skipped>")
	var run *junit.Case
	for _, c := range s.Cases {
		if c.Classname == "conformance.run" {
			run = &c
		}
	}
	require.NotNil(t, run, "an error that ended the run is a testcase of its own")
	assert.NotNil(t, run.Error)
	assert.Equal(t, 1, s.Failures)
	assert.Equal(t, 2, s.Errors)
	assert.Equal(t, 1, s.Skipped)
	assert.Equal(t, len(s.Cases), s.Tests)
	props := map[string]string{}
	for _, p := range s.Properties {
		props[p.Name] = p.Value
	}
	assert.Equal(t, "abc123", props["suite.revision"])
	assert.Equal(t, "f00d", props["manifests.0.digest"])
	assert.Equal(t, "v1.36.3", props["kubernetes.serverVersion"])
	assert.Equal(t, "kind-node:x", props["kind.nodeImage"])
	assert.Equal(t, "2026-11-28T09:00:00Z", props["start"])
}
