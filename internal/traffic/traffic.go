// Package traffic sends a steady stream of HTTP requests and summarises what
// happened: requests sent and failed, failure reasons, which pods answered
// (from the stubs' X-Stub-Pod header), and latency percentiles. The in-cluster
// probe client and the host side of the live tier share it.
package traffic

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/puretasks/k8s-conformance/stubs/stubserver"
)

// PodHeader is the stubs' response header naming the answering pod.
const PodHeader = stubserver.HeaderPod

// Options shape a run.
type Options struct {
	URL      string
	Interval time.Duration // between request starts
	Count    int           // stop after this many (0: until ctx ends)
	Timeout  time.Duration // per request
	// UntilReplaced, when set, ends the run once every pod that answered in
	// the FirstWindow after the first success has been silent this long while another pod
	// answers: the pods were replaced (a rollout is over), and the traffic
	// covered it from start to end.
	UntilReplaced time.Duration
	// Baseline, if set, is closed once the first window has passed with at
	// least one pod answering: the caller may now start the rollout.
	Baseline chan<- struct{}
	// NoBaselineAfter overrides DefaultNoBaselineAfter.
	NoBaselineAfter time.Duration
}

// FirstWindow is how long the pods answering at the start are collected.
const FirstWindow = time.Second

// DefaultNoBaselineAfter ends an UntilReplaced run that has had no
// successful answer this long: there is no running service whose rollout it
// could span.
const DefaultNoBaselineAfter = 10 * time.Second

// Summary is the outcome of a run.
type Summary struct {
	URL      string         `json:"url"`
	Sent     int            `json:"sent"`
	Failed   int            `json:"failed"`
	Errors   map[string]int `json:"errors,omitempty"`
	Pods     map[string]int `json:"pods"`
	P50Ms    float64        `json:"p50Ms"`
	P99Ms    float64        `json:"p99Ms"`
	MaxMs    float64        `json:"maxMs"`
	Duration string         `json:"duration"`
	Replaced bool           `json:"replaced"`
}

// Run sends requests one after another, each on a new connection so every
// request goes through the Service's load balancing, until ctx ends or Count
// is reached. A request fails on a transport error or a non-200 answer.
func Run(ctx context.Context, o Options) Summary {
	client := &http.Client{
		Timeout:   o.Timeout,
		Transport: &http.Transport{DisableKeepAlives: true},
	}
	s := Summary{URL: o.URL, Errors: map[string]int{}, Pods: map[string]int{}}
	if o.NoBaselineAfter == 0 {
		o.NoBaselineAfter = DefaultNoBaselineAfter
	}
	var lat []time.Duration
	start := time.Now()
	first := map[string]bool{} // pods answering in the first window after the first success
	var firstAt time.Time
	lastSeen := map[string]time.Time{}
	tick := time.NewTicker(o.Interval)
	defer tick.Stop()
	for o.Count == 0 || s.Sent < o.Count {
		t0 := time.Now()
		status, pod, err := get(ctx, client, o.URL)
		if ctx.Err() != nil && err != nil {
			break // the run ended mid-request: not a failure of the target
		}
		s.Sent++
		lat = append(lat, time.Since(t0))
		switch {
		case err != nil:
			s.Failed++
			s.Errors[err.Error()]++
		case status != http.StatusOK:
			s.Failed++
			s.Errors[fmt.Sprintf("HTTP %d from %s", status, pod)]++
		default:
			s.Pods[pod]++
			lastSeen[pod] = time.Now()
			if firstAt.IsZero() {
				firstAt = time.Now()
			}
			if time.Since(firstAt) < FirstWindow {
				first[pod] = true
			}
		}
		if o.Baseline != nil && !firstAt.IsZero() && time.Since(firstAt) >= FirstWindow {
			close(o.Baseline)
			o.Baseline = nil
		}
		if o.UntilReplaced > 0 && firstAt.IsZero() && time.Since(start) > o.NoBaselineAfter {
			s.Errors["no successful answer within "+o.NoBaselineAfter.String()]++
			break
		}
		if o.UntilReplaced > 0 && replaced(first, lastSeen, o.UntilReplaced) {
			s.Replaced = true
			break
		}
		select {
		case <-ctx.Done():
			return s.finish(lat, start)
		case <-tick.C:
		}
	}
	return s.finish(lat, start)
}

// replaced: every first pod silent for d, and some other pod answering.
func replaced(first map[string]bool, lastSeen map[string]time.Time, d time.Duration) bool {
	if len(first) == 0 {
		return false
	}
	other := false
	for pod, t := range lastSeen {
		if first[pod] {
			if time.Since(t) < d {
				return false
			}
		} else if time.Since(t) < d {
			other = true
		}
	}
	return other
}

// Get is one GET on a new connection (so it goes through the Service's
// balancing), bounded by timeout: the status and the answering pod.
func Get(ctx context.Context, url string, timeout time.Duration) (int, string, error) {
	return get(ctx, &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}, url)
}

func get(ctx context.Context, c *http.Client, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return resp.StatusCode, resp.Header.Get(PodHeader), fmt.Errorf("reading the answer: %w", err)
	}
	return resp.StatusCode, resp.Header.Get(PodHeader), nil
}

func (s Summary) finish(lat []time.Duration, start time.Time) Summary {
	s.Duration = time.Since(start).Round(time.Millisecond).String()
	if len(lat) == 0 {
		return s
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	s.P50Ms = ms(lat[len(lat)/2])
	s.P99Ms = ms(lat[min(len(lat)-1, len(lat)*99/100)])
	s.MaxMs = ms(lat[len(lat)-1])
	return s
}

// Consecutive sends n requests in a row, each on a new connection, and is
// nil only if all n were sent and every one answered 200: one intermittent
// failure among them is an error that names it.
func Consecutive(ctx context.Context, url string, n int, interval, timeout time.Duration) (Summary, error) {
	s := Run(ctx, Options{URL: url, Interval: interval, Timeout: timeout, Count: n})
	switch {
	case s.Sent < n:
		return s, fmt.Errorf("expected %d requests in a row, only %d were sent before the run ended (%v): %d failed %v", n, s.Sent, ctx.Err(), s.Failed, s.Errors)
	case s.Failed > 0:
		return s, fmt.Errorf("expected %d requests in a row to answer 200, %d of them failed: %v", n, s.Failed, s.Errors)
	}
	return s, nil
}
