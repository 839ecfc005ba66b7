package traffic

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRunCountsPodsAndFailures(t *testing.T) {
	var n atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		w.Header().Set(PodHeader, []string{"pod-a", "pod-b"}[i%2])
		if i%5 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer ts.Close()
	s := Run(context.Background(), Options{URL: ts.URL, Interval: time.Millisecond, Count: 20, Timeout: time.Second})
	assert.Equal(t, 20, s.Sent)
	assert.Equal(t, 4, s.Failed)
	assert.Equal(t, 16, s.Pods["pod-a"]+s.Pods["pod-b"])
	assert.Len(t, s.Pods, 2)
	assert.NotZero(t, s.MaxMs)
}

func TestRunReportsTransportErrors(t *testing.T) {
	s := Run(context.Background(), Options{URL: "http://127.0.0.1:1/", Interval: time.Millisecond, Count: 3, Timeout: time.Second})
	assert.Equal(t, 3, s.Failed)
	assert.Len(t, s.Errors, 1)
}

func TestRunStopsWithContext(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	s := Run(ctx, Options{URL: ts.URL, Interval: 5 * time.Millisecond, Timeout: time.Second})
	assert.Positive(t, s.Sent)
	assert.Zero(t, s.Failed)
}

// A "rollout": pod-a answers first, then pod-b takes over; the run ends by
// itself a short while after pod-a went silent.
func TestRunUntilReplaced(t *testing.T) {
	start := time.Now()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pod := "pod-a"
		if time.Since(start) > 1500*time.Millisecond {
			pod = "pod-b"
		}
		w.Header().Set(PodHeader, pod)
	}))
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := Run(ctx, Options{URL: ts.URL, Interval: 10 * time.Millisecond, Timeout: time.Second, UntilReplaced: 300 * time.Millisecond})
	assert.True(t, s.Replaced)
	assert.Positive(t, s.Pods["pod-a"])
	assert.Positive(t, s.Pods["pod-b"])
	assert.Less(t, time.Since(start), 5*time.Second, "stopped soon after the replacement, not at the deadline")
}

func TestRunUntilReplacedGivesUpWithoutAnyAnswer(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	s := Run(ctx, Options{URL: ts.URL, Interval: 20 * time.Millisecond, Timeout: time.Second, UntilReplaced: time.Second, NoBaselineAfter: 300 * time.Millisecond})
	assert.False(t, s.Replaced)
	assert.Equal(t, s.Sent, s.Failed)
	assert.Contains(t, s.Errors, "no successful answer within 300ms")
	assert.Less(t, time.Since(start), 5*time.Second)
}

// D10: once a port answers, n requests in a row must all succeed; a single
// failure among them is reported, not retried away.
func TestConsecutiveFailsOnOneIntermittentFailure(t *testing.T) {
	var n atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(PodHeader, "frontend-1")
		if n.Add(1) == 13 {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer ts.Close()
	s, err := Consecutive(context.Background(), ts.URL, 20, time.Millisecond, time.Second)
	assert.ErrorContains(t, err, "expected 20 requests in a row to answer 200, 1 of them failed")
	assert.ErrorContains(t, err, "HTTP 502 from frontend-1")
	assert.Equal(t, 20, s.Sent)

	_, err = Consecutive(context.Background(), ts.URL, 20, time.Millisecond, time.Second)
	assert.NoError(t, err, "20 clean answers in a row pass")
}

// A run cut short has not shown n successes: an error, not a pass.
func TestConsecutiveCutShortIsAnError(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	_, err := Consecutive(ctx, ts.URL, 1000, 10*time.Millisecond, time.Second)
	assert.ErrorContains(t, err, "only")
	assert.ErrorContains(t, err, "were sent before the run ended")
}
