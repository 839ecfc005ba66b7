// Package stubserver is the shared core of the stub backend and frontend: an
// HTTP server whose /api/health a test can make slow to start, failing or
// hanging, at start (environment) or at run time (a control API under
// /stub/ that no probe hits). Every response names the pod, every state
// change is one log line, and SIGTERM drains before exiting so rolling
// updates can be zero-failure.
package stubserver

import (
	"fmt"
	"os"
	"sync"
	"time"
)

// Environment knobs read at start.
const (
	EnvStartupDelay = "STUB_STARTUP_DELAY" // /api/health answers 503 until this has passed
	EnvFailFor      = "STUB_HEALTH_FAIL_FOR"
	EnvFailAfter    = "STUB_HEALTH_FAIL_AFTER" // with FAIL_FOR: fail later, for that long
	EnvHangFor      = "STUB_HEALTH_HANG_FOR"
	EnvHangAfter    = "STUB_HEALTH_HANG_AFTER"
	EnvDrain        = "STUB_DRAIN" // how long to keep answering after SIGTERM
)

// DefaultDrain covers kube-proxy removing a terminating pod's endpoints on
// every node before the server stops accepting connections.
const DefaultDrain = 3 * time.Second

// Forever stands for "until reset".
const Forever = time.Duration(1<<63 - 1)

// health is the state behind /api/health.
type health struct {
	mu        sync.Mutex
	now       func() time.Time
	readyAt   time.Time // start-up delay ends
	failFrom  time.Time
	failUntil time.Time
	hangFrom  time.Time
	hangUntil time.Time
	draining  bool
}

// Mode is what /api/health does at a moment.
type Mode string

const (
	ModeStarting Mode = "starting"
	ModeHealthy  Mode = "healthy"
	ModeFailing  Mode = "failing"
	ModeHanging  Mode = "hanging"
	ModeDraining Mode = "draining"
)

func (h *health) mode() Mode {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.now()
	switch {
	case h.draining:
		return ModeDraining
	case t.Before(h.readyAt):
		return ModeStarting
	case !t.Before(h.hangFrom) && t.Before(h.hangUntil):
		return ModeHanging
	case !t.Before(h.failFrom) && t.Before(h.failUntil):
		return ModeFailing
	}
	return ModeHealthy
}

// hangEnd is when a hang that is on now ends.
func (h *health) hangEnd() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hangUntil
}

func until(from time.Time, d time.Duration) time.Time {
	if d == Forever {
		return time.Unix(1<<62, 0)
	}
	return from.Add(d)
}

func (h *health) setFail(after, d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failFrom = h.now().Add(after)
	h.failUntil = until(h.failFrom, d)
}

func (h *health) setHang(after, d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hangFrom = h.now().Add(after)
	h.hangUntil = until(h.hangFrom, d)
}

func (h *health) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failFrom, h.failUntil, h.hangFrom, h.hangUntil = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	h.readyAt = time.Time{}
}

// Knobs are the start-time settings, parsed from the environment.
type Knobs struct {
	StartupDelay       time.Duration
	FailAfter, FailFor time.Duration
	HangAfter, HangFor time.Duration
	Drain              time.Duration
}

// KnobsFromEnv parses the STUB_* variables; a malformed one is an error that
// names it, so a scenario never runs with a knob silently ignored.
func KnobsFromEnv(getenv func(string) string) (Knobs, error) {
	k := Knobs{Drain: DefaultDrain}
	for _, f := range []struct {
		name string
		dst  *time.Duration
	}{
		{EnvStartupDelay, &k.StartupDelay}, {EnvFailFor, &k.FailFor}, {EnvFailAfter, &k.FailAfter},
		{EnvHangFor, &k.HangFor}, {EnvHangAfter, &k.HangAfter}, {EnvDrain, &k.Drain},
	} {
		v := getenv(f.name)
		if v == "" {
			continue
		}
		d, err := ParseDuration(v)
		if err != nil {
			return Knobs{}, fmt.Errorf("%s=%q: %w", f.name, v, err)
		}
		*f.dst = d
	}
	return k, nil
}

// ParseDuration accepts Go durations and "forever".
func ParseDuration(s string) (time.Duration, error) {
	if s == "forever" || s == "until-reset" {
		return Forever, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration")
	}
	return d, nil
}

// Hostname is the pod's name inside Kubernetes.
func Hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "unknown"
	}
	return h
}
