package report

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClock is a report clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)} }

func TestReportTablesAndVerdicts(t *testing.T) {
	clock := newClock()
	r := newAt(clock.now)
	r.Describe(func(h *Header) {
		h.SuiteRevision = "abc123"
		h.Manifests = append(h.Manifests, ManifestsUnderTest{Path: "manifests/base", Profile: "default", GitRevision: "abc123+dirty", Digest: "f00d", Objects: 7, Applied: true})
		h.ServerVersion, h.NodeImage, h.Topology = "v1.33.1", "kindest/node:x", "5 nodes (1 control plane, 4 workers)"
	})
	r.Start("L-DNS")
	r.Miss("L-DNS", Miss{Code: CodeSpec, Resource: "Service backend-service", Text: "no answer"})
	r.Conclude("L-DNS", Outcome{Failed: true, Steps: 1, Ran: 1})
	r.Start("L-APPLY")
	r.Measure("L-APPLY", "7/7 objects")
	clock.advance(1500 * time.Millisecond)
	r.Conclude("L-APPLY", Outcome{Steps: 1, Ran: 1})
	r.Start("L-LB")
	r.Phase("cluster create", 40*time.Second)
	r.Phase("teardown", 5*time.Second)
	r.Note("node image x")
	var out bytes.Buffer
	r.Print(&out)
	s := out.String()
	assert.Equal(t, []string{"L-APPLY", "L-DNS", "L-LB"}, ids(r.Checks()), "catalogue order, not start order")
	assert.Equal(t, []string{"L-DNS", "L-LB"}, r.NotPassed())
	assert.Regexp(t, `(?s)^\n=== live conformance report ===\nstarted 2026-11-28T09:00:00Z, suite abc123\nmanifests manifests/base: default set, 7 objects, git abc123\+dirty, sha256 f00d\ncluster: Kubernetes v1.33.1, node image kindest/node:x, 5 nodes`, s)
	assert.Regexp(t, `L-APPLY +PASS +- +1.5s +7/7 objects`, s)
	assert.Regexp(t, `L-DNS +FAIL +spec +\S+ +MISS Service backend-service: no answer`, s)
	assert.Regexp(t, `L-LB +NOT RUN`, s)
	assert.Regexp(t, `teardown +5s +in floor +30s\n`, s)
	assert.Contains(t, s, "NOT PASSED: L-DNS FAIL, L-LB NOT RUN")
	floor, parts := r.floorLocked()
	assert.Equal(t, 45*time.Second, floor)
	assert.Len(t, parts, 2)
}

func ids(cs []Check) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

// runOf builds a report whose floor is 100 s (cluster create 60 s + a 40 s
// probe window) and whose run took total.
func runOf(t *testing.T, total time.Duration) *Report {
	t.Helper()
	clock := newClock()
	r := newAt(clock.now)
	clock.advance(60 * time.Second)
	r.Phase("cluster create", 60*time.Second)
	r.FloorAlso("longest probe window", 40*time.Second)
	clock.advance(total - 60*time.Second)
	return r
}

func TestRunOverBudgetWarnsAndRecords(t *testing.T) {
	r := runOf(t, 131*time.Second) // budget 1.3 x 100 s = 130 s
	var out bytes.Buffer
	r.Print(&out)
	assert.Regexp(t, `(?m)^WARN: run took 2m11s, over its budget 1.3 x floor 1m40s = 2m10s \(floor = cluster create 1m0s \+ longest probe window 40s\)$`, out.String())
	assert.Regexp(t, `total +2m11s +floor 1m40s +1.3 x floor = 2m10s EXCEEDED`, out.String())

	path := filepath.Join(t.TempDir(), "report.json")
	require.NoError(t, r.WriteJSON(path))
	var doc struct {
		Warnings []string
		Budget   RunBudget
		Phases   []Phase
	}
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &doc))
	require.Len(t, doc.Warnings, 1)
	assert.Contains(t, doc.Warnings[0], "over its budget")
	assert.True(t, doc.Budget.Over)
	assert.Equal(t, 100*time.Second, doc.Budget.Floor)
	assert.Equal(t, 130*time.Second, doc.Budget.Budget)
	assert.Equal(t, 131*time.Second, doc.Budget.Total)
	require.Len(t, doc.Phases, 1)
	assert.True(t, doc.Phases[0].InFloor)
	assert.Equal(t, 60*time.Second, doc.Phases[0].Duration)
}

func TestRunWithinBudgetHasNoWarning(t *testing.T) {
	r := runOf(t, 130*time.Second)
	var out bytes.Buffer
	r.Print(&out)
	assert.NotContains(t, out.String(), "WARN")
	assert.Contains(t, out.String(), "= 2m10s within")
	assert.Empty(t, r.snapshot().Warnings)
	assert.False(t, r.snapshot().Budget.Over)
}

func TestPhaseOverItsOwnBudgetWarns(t *testing.T) {
	b, ok := budgetFor("teardown")
	require.True(t, ok)
	r := runOf(t, 100*time.Second)
	r.Phase("teardown", b.Budget+time.Second)
	r.Phase("image load", time.Hour) // no budget of its own: only the run's
	var out bytes.Buffer
	r.Print(&out)
	assert.Contains(t, out.String(), b.Budget.String()+" EXCEEDED")
	assert.Contains(t, out.String(), `WARN: phase "teardown" took 31s, over its budget 30s`)
	assert.NotContains(t, out.String(), `WARN: phase "image load"`)
}

func TestEveryPhaseBudgetIsRealAndExplained(t *testing.T) {
	for _, b := range PhaseBudgets {
		assert.Positive(t, b.Budget, b.Phase)
		assert.NotEmpty(t, b.Why, b.Phase)
	}
	b, _ := budgetFor("apply -> Available")
	assert.Equal(t, 68*time.Second, b.Budget, "backend startup 0/10/6/5: 60 s + 5 s timeout + 3 s slack")
}

func TestClosedReportKeepsItsTotal(t *testing.T) {
	clock := newClock()
	r := newAt(clock.now)
	clock.advance(time.Minute)
	first := r.snapshot().Budget
	clock.advance(time.Hour)
	assert.Equal(t, first, r.snapshot().Budget)
	assert.Equal(t, time.Minute, first.Total)
}

func TestConcurrentRecording(t *testing.T) {
	r := New()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			id := string(rune('A' + i))
			r.Start(id)
			r.Measure(id, "m %d", i)
			r.Probe(ProbeMeasurement{ID: id, Seed: Window{Max: time.Second}})
			r.Lane(id, time.Now(), time.Now(), id)
			r.Phase(id, time.Millisecond)
			r.Conclude(id, Outcome{Steps: 1, Ran: 1})
		})
	}
	wg.Wait()
	assert.Len(t, r.Checks(), 8)
	var out bytes.Buffer
	require.NoError(t, r.renderHTML(&out))
}

func TestLanesAndProbesArePrinted(t *testing.T) {
	clock := newClock()
	r := newAt(clock.now)
	t0 := clock.now()
	r.Lane("probe scenarios", t0.Add(82*time.Second), t0.Add(177*time.Second), "L-STARTUP", "L-LIVENESS")
	r.Lane("todo-app checks", t0.Add(80*time.Second), t0.Add(181*time.Second), "L-APPLY")
	own := Window{Min: 27 * time.Second, Max: 51 * time.Second}
	r.Probe(ProbeMeasurement{ID: "L-LIVENESS", Scenario: "liveness-hang frontend", Measured: 47200 * time.Millisecond,
		Seed: Window{Min: 17 * time.Second, Max: 36 * time.Second}, Manifest: &own})
	r.Probe(ProbeMeasurement{ID: "L-LIVENESS", Scenario: "liveness-fail frontend", Missing: true, Seed: Window{Min: 17 * time.Second, Max: 33 * time.Second}})
	r.Probe(ProbeMeasurement{ID: "L-READINESS", Scenario: "readiness backend", Measured: 7400 * time.Millisecond, Seed: Window{Min: 2 * time.Second, Max: 13 * time.Second}, Pass: true})
	own.Max = time.Hour // the report keeps its own copy
	var out bytes.Buffer
	r.Print(&out)
	s := out.String()
	assert.Regexp(t, `(?s)todo-app checks +\+1m20s +1m41s +L-APPLY\n.*probe scenarios +\+1m22s +1m35s +L-STARTUP L-LIVENESS`, s, "lanes in start order")
	assert.Regexp(t, `L-LIVENESS +liveness-hang frontend +47.2s +\[17s, 36s\] +\[27s, 51s\] +FAIL`, s)
	assert.Regexp(t, `L-LIVENESS +liveness-fail frontend +never observed +\[17s, 33s\] +- +FAIL`, s)
	assert.Regexp(t, `L-READINESS +readiness backend +7.4s +\[2s, 13s\] +- +PASS`, s)
}

func TestNoFloorNoBudget(t *testing.T) {
	r := New()
	r.Phase("preflight", time.Second)
	var out bytes.Buffer
	r.Print(&out)
	assert.Regexp(t, `total +\S+ +no floor phase ran +no run budget`, out.String())
	assert.NotContains(t, out.String(), "WARN")
}
