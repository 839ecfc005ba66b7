package stubserver

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/spec"
)

// clock is a settable time source for the health state.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTest(t *testing.T, k Knobs) (*Server, *clock, *httptest.Server, *strings.Builder) {
	t.Helper()
	var logs strings.Builder
	s := New("backend", k, log.New(&logs, "", 0))
	c := &clock{t: time.Now()}
	s.h.now = c.now
	s.h.readyAt = c.now().Add(k.StartupDelay)
	if k.FailFor > 0 {
		s.h.setFail(k.FailAfter, k.FailFor)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, c, ts, &logs
}

func status(t *testing.T, method, url string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	assert.NotEmpty(t, resp.Header.Get(HeaderPod), "every response names the pod")
	return resp.StatusCode
}

func TestStartupDelay(t *testing.T) {
	_, c, ts, logs := newTest(t, Knobs{StartupDelay: 20 * time.Second})
	assert.Equal(t, http.StatusServiceUnavailable, status(t, "GET", ts.URL+spec.HealthPath))
	c.add(19 * time.Second)
	assert.Equal(t, http.StatusServiceUnavailable, status(t, "GET", ts.URL+spec.HealthPath))
	c.add(time.Second)
	assert.Equal(t, http.StatusOK, status(t, "GET", ts.URL+spec.HealthPath))
	assert.Contains(t, logs.String(), "state: starting -> healthy")
}

func TestFailForADuration(t *testing.T) {
	_, c, ts, logs := newTest(t, Knobs{})
	assert.Equal(t, http.StatusOK, status(t, "POST", ts.URL+"/stub/health/fail?for=15s"))
	assert.Equal(t, http.StatusInternalServerError, status(t, "GET", ts.URL+spec.HealthPath))
	c.add(15 * time.Second)
	assert.Equal(t, http.StatusOK, status(t, "GET", ts.URL+spec.HealthPath))
	assert.Contains(t, logs.String(), "knob: health fails (5xx) after 0s for 15s")
	assert.Contains(t, logs.String(), "state: failing -> healthy")
}

func TestFailUntilResetAndAfter(t *testing.T) {
	_, c, ts, _ := newTest(t, Knobs{})
	status(t, "POST", ts.URL+"/stub/health/fail?after=5s")
	assert.Equal(t, http.StatusOK, status(t, "GET", ts.URL+spec.HealthPath))
	c.add(5 * time.Second)
	assert.Equal(t, http.StatusInternalServerError, status(t, "GET", ts.URL+spec.HealthPath))
	c.add(24 * time.Hour)
	assert.Equal(t, http.StatusInternalServerError, status(t, "GET", ts.URL+spec.HealthPath), "until reset")
	status(t, "POST", ts.URL+"/stub/health/reset")
	assert.Equal(t, http.StatusOK, status(t, "GET", ts.URL+spec.HealthPath))
}

func TestFailFromEnvironment(t *testing.T) {
	k, err := KnobsFromEnv(env{EnvFailAfter: "10s", EnvFailFor: "forever", EnvStartupDelay: "1s"}.get)
	require.NoError(t, err)
	_, c, ts, _ := newTest(t, k)
	c.add(2 * time.Second)
	assert.Equal(t, http.StatusOK, status(t, "GET", ts.URL+spec.HealthPath))
	c.add(10 * time.Second)
	assert.Equal(t, http.StatusInternalServerError, status(t, "GET", ts.URL+spec.HealthPath))
}

type env map[string]string

func (e env) get(k string) string { return e[k] }

func TestHangHoldsTheRequestPastTheClientTimeout(t *testing.T) {
	_, _, ts, logs := newTest(t, Knobs{})
	status(t, "POST", ts.URL+"/stub/health/hang?for=1h")
	client := &http.Client{Timeout: 200 * time.Millisecond}
	_, err := client.Get(ts.URL + spec.HealthPath)
	require.Error(t, err, "a prober with a timeout sees no answer")
	assert.Contains(t, logs.String(), "-> hanging")
	status(t, "POST", ts.URL+"/stub/health/reset")
	assert.Equal(t, http.StatusOK, status(t, "GET", ts.URL+spec.HealthPath))
}

func TestHangThatEndsAnswers(t *testing.T) {
	s, _, ts, _ := newTest(t, Knobs{})
	s.h.now = time.Now // real time: the hang must end by itself
	status(t, "POST", ts.URL+"/stub/health/hang?for=150ms")
	start := time.Now()
	assert.Equal(t, http.StatusOK, status(t, "GET", ts.URL+spec.HealthPath))
	assert.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
}

func TestBadKnobs(t *testing.T) {
	_, _, ts, _ := newTest(t, Knobs{})
	assert.Equal(t, http.StatusBadRequest, status(t, "POST", ts.URL+"/stub/health/fail?for=soon"))
	assert.Equal(t, http.StatusBadRequest, status(t, "POST", ts.URL+"/stub/health/hang?after=-1s"))
	assert.Equal(t, http.StatusMethodNotAllowed, status(t, "GET", ts.URL+"/stub/health/fail"), "control is POST only")
	_, err := KnobsFromEnv(env{EnvStartupDelay: "ten seconds"}.get)
	assert.ErrorContains(t, err, EnvStartupDelay)
}

func TestRootAndState(t *testing.T) {
	_, _, ts, _ := newTest(t, Knobs{})
	assert.Equal(t, http.StatusOK, status(t, "GET", ts.URL+"/"))
	assert.Equal(t, http.StatusOK, status(t, "GET", ts.URL+"/stub/state"))
	assert.Equal(t, http.StatusNotFound, status(t, "GET", ts.URL+"/nope"))
}

// serve runs s on a loopback port until the returned cancel (SIGTERM) and
// waits until it answers; done yields Serve's result.
func serve(t *testing.T, s *Server) (url string, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url = "http://" + l.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(ctx, l) }()
	require.NoError(t, poll.Until(context.Background(), poll.StubHTTP, func(context.Context) (bool, error) {
		resp, err := http.Get(url + "/")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil, nil
	}))
	return url, cancel, errc
}

// TestDrainKeepsAnsweringThenStops: after SIGTERM (ctx cancelled) the stub
// still answers normally during the drain window, then returns.
func TestDrainKeepsAnsweringThenStops(t *testing.T) {
	var logs strings.Builder
	s := New("frontend", Knobs{Drain: 300 * time.Millisecond}, log.New(&logs, "", 0))
	url, cancel, done := serve(t, s)
	cancel()
	require.NoError(t, poll.Until(context.Background(), poll.StubHTTP, func(context.Context) (bool, error) {
		return s.Mode() == ModeDraining, nil
	}))
	assert.Equal(t, http.StatusOK, status(t, "GET", url+"/"), "still answering while draining")
	assert.Equal(t, http.StatusOK, status(t, "GET", url+spec.HealthPath), "health keeps passing: requests routed here must not fail")
	require.NoError(t, <-done)
	assert.Contains(t, logs.String(), "SIGTERM: answering for 300ms more")
	assert.Contains(t, logs.String(), "stopped")
	_, err := http.Get(url + "/")
	assert.Error(t, err, "closed after the drain")
}

// A hung health request must not hold the process past SIGTERM: the kubelet
// kills the container and expects it gone.
func TestHangEndsOnSIGTERM(t *testing.T) {
	var logs strings.Builder
	s := New("backend", Knobs{Drain: 0}, log.New(&logs, "", 0))
	url, cancel, done := serve(t, s)
	resp, err := http.Post(url+"/stub/health/hang", "", nil)
	require.NoError(t, err)
	resp.Body.Close()
	hung := make(chan int, 1)
	go func() {
		resp, err := http.Get(url + spec.HealthPath)
		if err != nil {
			hung <- 0
			return
		}
		resp.Body.Close()
		hung <- resp.StatusCode
	}()
	require.NoError(t, poll.Until(context.Background(), poll.StubHTTP, func(context.Context) (bool, error) {
		return s.held.Load() == 1, nil
	}))
	start := time.Now()
	cancel()
	require.NoError(t, <-done)
	assert.Less(t, time.Since(start), 2*time.Second, "shutdown does not wait for the hung request")
	assert.Equal(t, http.StatusServiceUnavailable, <-hung)
}
