package report

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestReportTablesAndVerdicts(t *testing.T) {
	r := New()
	r.Start("L-APPLY")
	r.Measure("L-APPLY", "7/7 objects")
	r.End("L-APPLY", "PASS")
	r.Start("L-DNS")
	r.Measure("L-DNS", "MISS Service backend-service: no answer")
	r.End("L-DNS", "FAIL")
	r.Start("L-LB")
	r.Phase("cluster create", 40*time.Second, 0)
	r.Phase("teardown", 5*time.Second, time.Second)
	r.Note("node image x")
	var out bytes.Buffer
	r.Print(&out)
	s := out.String()
	assert.Equal(t, []string{"L-DNS"}, r.Failed())
	assert.Regexp(t, `L-APPLY +PASS`, s)
	assert.Contains(t, s, "MISS Service backend-service")
	assert.Regexp(t, `L-LB +NOT RUN`, s)
	assert.Contains(t, s, "1s EXCEEDED")
	assert.Contains(t, s, "FAILED: L-DNS")
	floor, parts := r.Floor(10 * time.Second)
	assert.Equal(t, 55*time.Second, floor)
	assert.Len(t, parts, 2)
}
