package selftest

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/internal/junit"
)

func caughtRow(name string, ids ...string) MutantResult {
	r := MutantResult{Name: name, Live: true}
	for _, id := range ids {
		r.Cells = append(r.Cells, Cell{Tier: Live, ID: id, Expected: true, Observed: Caught})
	}
	return r
}

func TestJudgeGreenOnlyWhenEveryLiveIDCatchesSomething(t *testing.T) {
	var rows []MutantResult
	for _, id := range LiveIDs {
		rows = append(rows, caughtRow("m-"+id, id))
	}
	r := Result{Mode: string(Live), Mutants: rows}
	r.Judge(true)
	assert.True(t, r.Passed, r.Problems)

	last := LiveIDs[len(LiveIDs)-1]
	rows[len(rows)-1].Cells[0].Observed = Missed // the last ID blind
	r = Result{Mode: string(Live), Mutants: rows}
	r.Judge(true)
	assert.False(t, r.Passed)
	assert.Contains(t, strings.Join(r.Problems, "\n"), last+" caught no mutant")
	assert.Contains(t, strings.Join(r.Problems, "\n"), "m-"+last+": no live check caught")
}

func TestJudgeExtraCatchesAreNotFatal(t *testing.T) {
	row := caughtRow("a", "L-DNS")
	row.Cells = append(row.Cells, Cell{Tier: Live, ID: "L-READINESS", Observed: Caught}, Cell{Tier: Static, ID: "X-1", Observed: Caught})
	r := Result{Mode: string(Live), Mutants: []MutantResult{row}}
	r.Judge(false)
	assert.True(t, r.Passed, r.Problems)
	assert.Contains(t, Grid(r.Mutants), "+")

	// An extra catch does not stand in for an ID no named mutant caught.
	var rows []MutantResult
	for _, id := range LiveIDs[:len(LiveIDs)-1] {
		rows = append(rows, caughtRow("m-"+id, id))
	}
	last := LiveIDs[len(LiveIDs)-1]
	rows[0].Cells = append(rows[0].Cells, Cell{Tier: Live, ID: last, Observed: Caught})
	r = Result{Mode: string(Live), Mutants: rows}
	r.Judge(true)
	assert.Contains(t, strings.Join(r.Problems, "\n"), last+" caught no mutant")
}

func TestResultFiles(t *testing.T) {
	row := caughtRow("a", "L-DNS")
	row.Cells = append(row.Cells,
		Cell{Tier: Live, ID: "L-LB", Expected: true, Observed: Missed, Detail: "all 3 replicas answered"},
		Cell{Tier: Static, ID: "BS-1", Expected: true, Observed: Caught})
	r := Result{Mode: string(Live), Mutants: []MutantResult{row}}
	r.Judge(false)
	dir := t.TempDir()
	require.NoError(t, r.WriteFiles(dir))

	raw, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
	require.NoError(t, err)
	var doc junit.Suites
	require.NoError(t, xml.Unmarshal(raw, &doc))
	require.Len(t, doc.Suites, 1)
	s := doc.Suites[0]
	assert.Equal(t, 3, s.Tests)
	assert.Equal(t, 1, s.Failures)
	for _, c := range s.Cases {
		assert.Equal(t, c.Name == "a/L-LB", c.Failure != nil, c.Name)
	}
	matrix, err := os.ReadFile(filepath.Join(dir, "matrix.txt"))
	require.NoError(t, err)
	assert.Contains(t, string(matrix), "MISSED")
	assert.Contains(t, string(matrix), "self-test FAILED")
	_, err = os.Stat(filepath.Join(dir, "result.json"))
	require.NoError(t, err)
}

func TestCoverageMarkdownListsEveryLiveID(t *testing.T) {
	_, ms := loadRepoMutants(t)
	md := CoverageMarkdown(ms)
	for _, id := range LiveIDs {
		assert.Contains(t, md, "| "+id+" | ")
	}
	for _, m := range ms {
		assert.Contains(t, md, "`"+m.Name+"`")
	}
}

// The coverage matrix in docs/selftest.md is the fixtures' own (go run
// ./cmd/selftest -markdown): a mutant added, dropped or changed shows there.
func TestDocsCoverageMatrixIsCurrent(t *testing.T) {
	root, ms := loadRepoMutants(t)
	doc, err := os.ReadFile(filepath.Join(root, "docs", "selftest.md"))
	require.NoError(t, err)
	assert.Contains(t, string(doc), CoverageMarkdown(ms), "docs/selftest.md's coverage matrix is stale: paste `go run ./cmd/selftest -markdown`")
}
