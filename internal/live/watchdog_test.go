package live

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/internal/poll"
)

// D16: a cluster whose API server stops answering ends the run's context
// within strikes x every, with a cause that says the cluster is gone; every
// wait on that context then stops at once and says why.
func TestWatchdogEndsTheRunWhenTheClusterIsGone(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var calls atomic.Int32
	probe := func(context.Context) error {
		if calls.Add(1) <= 2 {
			return nil
		}
		return errors.New("API server /readyz: dial tcp 127.0.0.1:41234: connect: connection refused")
	}
	start := time.Now()
	go Watch(ctx, 10*time.Millisecond, 50*time.Millisecond, 3, probe, cancel)

	// A wait with a 4-minute deadline, as a check would run.
	err := poll.Until(ctx, poll.Rollout, func(context.Context) (bool, error) { return false, nil })
	require.Error(t, err)
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Contains(t, err.Error(), "the cluster is gone: API server /readyz")
	assert.Contains(t, err.Error(), "3 checks in a row")
	var gone ErrClusterGone
	assert.ErrorAs(t, context.Cause(ctx), &gone)
}

// A probe that fails now and then (one slow answer) does not end the run.
func TestWatchdogToleratesIsolatedFailures(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	var calls atomic.Int32
	probe := func(context.Context) error {
		if calls.Add(1)%2 == 0 {
			return errors.New("timeout")
		}
		return nil
	}
	stop := make(chan struct{})
	go func() { Watch(ctx, time.Millisecond, 10*time.Millisecond, 3, probe, cancel); close(stop) }()
	// Let it probe many times; the run must survive all of them.
	require.NoError(t, poll.Until(context.Background(), poll.StubHTTP, func(context.Context) (bool, error) { return calls.Load() >= 40, nil }))
	assert.NoError(t, ctx.Err(), "alternating failures must not end the run")
	cancel(errors.New("test over"))
	<-stop
}

// Suite.Gone reports the watchdog's cause, and nothing for a run that ended
// normally.
func TestSuiteGone(t *testing.T) {
	s := &Suite{}
	assert.NoError(t, s.Gone())
	ctx, cancel := context.WithCancelCause(context.Background())
	s.runCtx = ctx
	cancel(errors.New("run finished"))
	assert.NoError(t, s.Gone())
	ctx2, cancel2 := context.WithCancelCause(context.Background())
	s.runCtx = ctx2
	cancel2(ErrClusterGone{Last: "2 of 5 node containers running"})
	assert.EqualError(t, s.Gone(), "the cluster is gone: 2 of 5 node containers running")
}
