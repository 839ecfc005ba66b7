package spec

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestProseBudgetsMatchProbeNumbers(t *testing.T) {
	b, f := Seed.Backend.Deployment.Container, Seed.Frontend.Deployment.Container
	// "Startup: 60s total (6 failures × 10s period)", frontend "30s total (6 failures × 5s period)".
	assert.Equal(t, 60*time.Second, b.Startup.Budget())
	assert.Equal(t, 30*time.Second, f.Startup.Budget())
	// "Restarts pod if unhealthy for 30s", "Removes from service if unhealthy for 10s".
	assert.Equal(t, 30*time.Second, b.Liveness.Budget())
	assert.Equal(t, 30*time.Second, f.Liveness.Budget())
	assert.Equal(t, 10*time.Second, b.Readiness.Budget())
	assert.Equal(t, 10*time.Second, f.Readiness.Budget())
}

func TestKillWindowHoldsTheMeasuredStartupKill(t *testing.T) {
	w := Seed.Backend.Deployment.Container.Startup.KillWindow()
	// 0 + 5×10 − slack .. 0 + 6×10 + 5 + slack
	assert.Equal(t, Window{Earliest: 47 * time.Second, Latest: 68 * time.Second}, w)
	assert.True(t, w.Contains(59*time.Second), "the kill measured on this machine (59 s) lies in the window")
	assert.False(t, w.Contains(30*time.Second))
	assert.Equal(t, 50*time.Second, Seed.Backend.Deployment.Container.Startup.GuaranteedStartup(),
		"the seed says 60 s; the numbers guarantee 50 s")
}

func TestDetectionWindows(t *testing.T) {
	live := Seed.Backend.Deployment.Container.Liveness
	assert.Equal(t, Window{17 * time.Second, 33 * time.Second}, live.DetectionWindow(false))
	assert.Equal(t, Window{17 * time.Second, 38 * time.Second}, live.DetectionWindow(true))
	ready := Seed.Frontend.Deployment.Container.Readiness
	assert.Equal(t, Window{2 * time.Second, 13 * time.Second}, ready.DetectionWindow(false))
	// A drifted readiness period moves the window: the live tier catches it.
	drifted := ready
	drifted.PeriodSeconds = 10
	assert.False(t, ready.DetectionWindow(false).Contains(drifted.DetectionWindow(false).Latest))
}

func TestSeedCounts(t *testing.T) {
	assert.Len(t, Seed.ConfigMap.Data, 11)
	assert.Len(t, Seed.Secret.Keys, 12)
	assert.Equal(t, "http://backend-service:8000", Seed.ProxyURL())
}

func TestLongestWindow(t *testing.T) {
	// backend startup kill: 0 + 6×10 + 5 + 3 = 68 s; backend liveness hang after its 30 s delay: 30 + 38 = 68 s.
	assert.Equal(t, 68*time.Second, Seed.LongestWindow())
}
