package progress

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRemaining(t *testing.T) {
	assert.Equal(t, "12m0s", Remaining(12*time.Minute, 0, false))
	assert.Equal(t, "12m0s of about 24m10s, about 12m10s left", Remaining(12*time.Minute, 24*time.Minute+10*time.Second, true))
	assert.Equal(t, "26m0s, 2m0s longer than the last cold build's 24m0s", Remaining(26*time.Minute, 24*time.Minute, true))
}

// A cold stage is recorded; the next build of it gives its ETA; a cache hit
// and a failure record nothing.
func TestStagesRecordColdRunsForTheNextETA(t *testing.T) {
	dir := t.TempDir()
	var log bytes.Buffer
	now := time.Date(2026, 12, 4, 19, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	r := &Reporter{Log: &log, History: Load(dir), Stages: []string{"debian", "go-binaries", "node-image"}, Now: clock}
	r.Begin()
	assert.Contains(t, log.String(), "nodeimage: 3 stages; no complete cold build recorded on this machine")

	done := r.Stage(context.Background(), "go-binaries")
	now = now.Add(24*time.Minute + 10*time.Second)
	done(false, nil)
	assert.Contains(t, log.String(), "nodeimage: stage 2/3 go-binaries: start (no cold build of this stage recorded here yet)\n")
	assert.Contains(t, log.String(), "nodeimage: stage 2/3 go-binaries: done in 24m10s (built)\n")

	done = r.Stage(context.Background(), "debian")
	done(true, nil)
	done = r.Stage(context.Background(), "node-image")
	done(false, errors.New("disk full"))
	assert.Contains(t, log.String(), "nodeimage: stage 3/3 node-image: FAILED after 0s: disk full\n")

	raw, err := os.ReadFile(filepath.Join(dir, FileName))
	require.NoError(t, err)
	assert.JSONEq(t, `{"stages":{"go-binaries":{"seconds":1450,"at":"2026-12-04T19:24:10Z"}}}`, string(raw))

	log.Reset()
	next := &Reporter{Log: &log, History: Load(dir), Stages: []string{"go-binaries"}, Now: clock}
	next.Begin()
	next.Stage(context.Background(), "go-binaries")(true, nil)
	assert.Contains(t, log.String(), "nodeimage: 1 stages; the last cold build of each on this machine adds up to 24m10s")
	assert.Contains(t, log.String(), "nodeimage: stage 1/1 go-binaries: start (its last cold build here took 24m10s)\n")
}

// While a stage runs, each heartbeat says how much of its last cold run is left.
func TestHeartbeatGivesTheTimeLeft(t *testing.T) {
	dir := t.TempDir()
	h := Load(dir)
	require.NoError(t, h.Save("go-binaries", 10*time.Minute, time.Now()))
	var log syncBuffer
	start := time.Now()
	r := &Reporter{Log: &log, History: Load(dir), Stages: []string{"go-binaries"}, Heartbeat: 10 * time.Millisecond,
		Now: func() time.Time { return start.Add(time.Since(start) * 60000) }} // 10 ms of test is 10 min of build
	done := r.Stage(context.Background(), "go-binaries")
	require.Eventually(t, func() bool { return bytes.Contains(log.Bytes(), []byte("still running")) }, 5*time.Second, 5*time.Millisecond)
	done(true, nil)
	assert.Regexp(t, `stage 1/1 go-binaries: still running \(\S+( of about 10m0s, about \S+ left|, \S+ longer than the last cold build's 10m0s)\)`, log.String())
}

func TestACorruptHistoryIsEmpty(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, FileName), []byte("{not json"), 0o644))
	_, ok := Load(dir).Last("go-binaries")
	assert.False(t, ok)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}

func (b *syncBuffer) String() string { return string(b.Bytes()) }
