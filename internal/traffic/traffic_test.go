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
