package spec

import (
	"fmt"
	"time"
)

// Probe is an HTTP probe of the seed (initialDelay/period/failureThreshold/timeout).
type Probe struct {
	Path                string
	Port                int32
	InitialDelaySeconds int32
	PeriodSeconds       int32
	FailureThreshold    int32
	TimeoutSeconds      int32
}

func (p Probe) String() string {
	return fmt.Sprintf("%s:%d %d/%d/%d/%d", p.Path, p.Port, p.InitialDelaySeconds, p.PeriodSeconds, p.FailureThreshold, p.TimeoutSeconds)
}

func seconds(n int32) time.Duration { return time.Duration(n) * time.Second }

// Budget is the seed's prose number for the probe: failureThreshold × period
// ("60s total (6 failures × 10s period)").
func (p Probe) Budget() time.Duration { return seconds(p.FailureThreshold * p.PeriodSeconds) }

// KubeletSlack is the allowance, on each side of a window, for the kubelet's
// prober scheduling, container runtime latency and (for endpoints) the
// EndpointSlice controller. Measured figures on this machine stay within it.
const KubeletSlack = 3 * time.Second

// Window is the earliest and latest moment an outcome may be observed.
type Window struct {
	Earliest, Latest time.Duration
}

func (w Window) String() string {
	return fmt.Sprintf("[%s, %s]", w.Earliest.Round(100*time.Millisecond), w.Latest.Round(100*time.Millisecond))
}

// Contains reports whether d lies inside the window.
func (w Window) Contains(d time.Duration) bool { return d >= w.Earliest && d <= w.Latest }

// DetectionWindow is when the kubelet acts after a probe that used to pass
// starts failing at t=0 (liveness restart, readiness removal). The prober ticks
// on its own phase: the first failing probe lands within one period, and the
// action follows the failureThreshold-th consecutive failure, each of which
// may take up to the timeout when the endpoint hangs.
func (p Probe) DetectionWindow(hang bool) Window {
	earliest := seconds((p.FailureThreshold - 1) * p.PeriodSeconds)
	latest := seconds(p.FailureThreshold * p.PeriodSeconds)
	if hang {
		latest += seconds(p.TimeoutSeconds)
	}
	return Window{Earliest: max(0, earliest-KubeletSlack), Latest: latest + KubeletSlack}
}

// KillWindow is when the kubelet kills a container whose probe never passes,
// measured from the container's start (startup probe): about initialDelay +
// (failureThreshold − 1) × period to initialDelay + failureThreshold × period
// + timeout. (Measured once here for the backend's 0/10/6/5: killed 59 s after start.)
func (p Probe) KillWindow() Window {
	earliest := seconds(p.InitialDelaySeconds + (p.FailureThreshold-1)*p.PeriodSeconds)
	latest := seconds(p.InitialDelaySeconds+p.FailureThreshold*p.PeriodSeconds) + seconds(p.TimeoutSeconds)
	return Window{Earliest: max(0, earliest-KubeletSlack), Latest: latest + KubeletSlack}
}

// GuaranteedStartup is the longest cold start the startup probe tolerates
// for certain: a container must answer before the earliest possible kill.
// The seed's prose says "allows 60s"; its numbers guarantee less, because the
// last allowed failure can land a period early.
func (p Probe) GuaranteedStartup() time.Duration {
	return seconds(p.InitialDelaySeconds + (p.FailureThreshold-1)*p.PeriodSeconds)
}

// LongestWindow is the latest moment any probe outcome of the seed may be
// observed: the floor of a probe block that runs every scenario at once.
func (a App) LongestWindow() time.Duration {
	var longest time.Duration
	for _, c := range []ContainerSpec{a.Backend.Deployment.Container, a.Frontend.Deployment.Container} {
		longest = max(longest, c.Startup.KillWindow().Latest, c.Liveness.DetectionWindow(true).Latest+seconds(c.Liveness.InitialDelaySeconds))
	}
	return longest
}
