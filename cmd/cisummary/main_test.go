package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/internal/report"
)

func TestSummaryTable(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "report.json")
	require.NoError(t, os.WriteFile(p, []byte(`{"checks":[
	 {"id":"L-DNS","verdict":"PASS","measurements":["short name | FQDN resolve"],"duration":1500000000},
	 {"id":"L-PVC","verdict":"FAIL","code":"spec","misses":[{"code":"spec","resource":"PersistentVolume backend-uploads-pv","text":"expected Retain, got Delete"}],"measurements":["bound in 2s"],"duration":2000000000},
	 {"id":"L-LB","verdict":"ERROR","code":"api","misses":[{"code":"api","resource":"Service scale-check/backend-service","text":"GET through the proxy: 503"}],"measurements":null,"duration":0},
	 {"id":"L-QOS","verdict":"","measurements":null,"duration":0}],
	 "warnings":["run took 5m over its budget"],"notes":["node image x (auto: present)"],"total":200000000000}`), 0o644))
	var out bytes.Buffer
	require.NoError(t, writeSummary(&out, "live conformance", p))
	assert.Contains(t, out.String(), "## live conformance\n\n1 PASS, 1 FAIL, 1 ERROR, 1 NOT RUN in 3m20s\n")
	assert.Contains(t, out.String(), "| L-DNS | PASS | 1.5s | short name \\| FQDN resolve |\n")
	assert.Contains(t, out.String(), "| L-PVC | FAIL (spec) | 2s | bound in 2s; PersistentVolume backend-uploads-pv (spec): expected Retain, got Delete |\n")
	assert.Contains(t, out.String(), "| L-LB | ERROR (api) | 0s | Service scale-check/backend-service (api): GET through the proxy: 503 |\n")
	assert.Contains(t, out.String(), "| L-QOS | NOT RUN | 0s |  |\n")
	assert.Contains(t, out.String(), "- WARN run took 5m over its budget")

	out.Reset()
	require.NoError(t, writeSummary(&out, "live conformance", filepath.Join(dir, "absent.json")))
	assert.Contains(t, out.String(), "No report: the run ended before it wrote absent.json")

	require.NoError(t, os.WriteFile(p, []byte(`{"checks": [`), 0o644))
	assert.Error(t, writeSummary(&out, "x", p), "a broken report is an error, not an empty table")
}

// Only the leaves are annotated: the parent fails because its subtest did.
func TestAnnotations(t *testing.T) {
	p := filepath.Join(t.TempDir(), "junit.xml")
	require.NoError(t, os.WriteFile(p, []byte(`<?xml version="1.0" encoding="UTF-8"?>
<testsuites><testsuite name="e2e" tests="3" failures="2">
 <testcase classname="e2e" name="TestTodoApp" time="10"><failure message="Failed" type="">=== RUN TestTodoApp</failure></testcase>
 <testcase classname="e2e" name="TestTodoApp/L-DNS" time="3"><failure message="Failed" type="">L-DNS svc: expected 200, got 503&#xA;100% sure, a:b</failure></testcase>
 <testcase classname="e2e" name="TestScaleCopy" time="3"></testcase>
</testsuite></testsuites>`), 0o644))
	var out bytes.Buffer
	require.NoError(t, annotate(&out, p))
	assert.Equal(t, "::error title=e2e TestTodoApp/L-DNS::L-DNS svc: expected 200, got 503%0A100%25 sure, a:b\n", out.String())
}

// The checks' JUnit says the same failures as go test's: not annotated twice.
func TestAnnotateAllSkipsTheChecksJUnit(t *testing.T) {
	dir := t.TempDir()
	doc := []byte(`<testsuites><testsuite name="e2e"><testcase classname="e2e" name="TestTodoApp/L-DNS"><failure message="Failed">L-DNS: no answer</failure></testcase></testsuite></testsuites>`)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "junit.xml"), doc, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, report.JUnitFile), doc, 0o644))
	var out bytes.Buffer
	require.NoError(t, annotateAll(&out, filepath.Join(dir, "*.xml")))
	assert.Equal(t, 1, strings.Count(out.String(), "::error"), out.String())
}
