package junit

import (
	"encoding/xml"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMarshalCountsAndRoundTrips(t *testing.T) {
	raw, err := Marshal(Suite{Name: "s", Time: Seconds(1500 * time.Millisecond), Properties: []Property{{Name: "k", Value: "v"}}, Cases: []Case{
		{Name: "pass"},
		{Name: "fail", Failure: &Message{Message: "m", Type: "spec", Text: "body"}},
		{Name: "error", Error: &Message{Message: "e"}},
		{Name: "skip", Skipped: &Message{Message: "NOT RUN"}},
	}})
	require.NoError(t, err)
	assert.Contains(t, string(raw), `<?xml version="1.0" encoding="UTF-8"?>`)
	var got Suites
	require.NoError(t, xml.Unmarshal(raw, &got))
	require.Len(t, got.Suites, 1)
	s := got.Suites[0]
	assert.Equal(t, []int{4, 1, 1, 1}, []int{s.Tests, s.Failures, s.Errors, s.Skipped})
	assert.Equal(t, "1.500", s.Time)
	assert.Equal(t, []Property{{Name: "k", Value: "v"}}, s.Properties)
	assert.Equal(t, "body", s.Cases[1].Failure.Text)
}
