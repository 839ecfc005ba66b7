package live

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
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
	refused := refusedDial(t)
	probe := func(context.Context) error {
		if calls.Add(1) <= 2 {
			return nil
		}
		return fmt.Errorf("API server /readyz: %w", refused)
	}
	start := time.Now()
	go Watch(ctx, 10*time.Millisecond, 50*time.Millisecond, 3, probe, cancel)

	// A wait with a 4-minute deadline, as a check would run.
	err := poll.Until(ctx, poll.Rollout, func(context.Context) (bool, error) { return false, nil })
	require.Error(t, err)
	assert.Less(t, time.Since(start), 2*time.Second)
	assert.Contains(t, err.Error(), "the cluster is gone: API server /readyz")
	assert.Contains(t, err.Error(), "connection refused")
	assert.Contains(t, err.Error(), "3 checks in a row found it gone")
	var gone ErrClusterGone
	assert.ErrorAs(t, context.Cause(ctx), &gone)
}

// refusedDial is a real "connection refused": a dial to a port nothing
// listens on any more, as to a kind API server whose container is gone.
func refusedDial(t *testing.T) error {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.Close()
		t.Skip("something took the port again")
	}
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	return err
}

// watchFor runs the watchdog with probe until it has probed n times or
// ended the run, and returns the cause it ended the run with (nil: it did not).
func watchFor(t *testing.T, n int32, probe func(call int32) error) error {
	t.Helper()
	ctx, cancel := context.WithCancelCause(context.Background())
	var calls atomic.Int32
	stop := make(chan struct{})
	go func() {
		Watch(ctx, time.Millisecond, 10*time.Millisecond, 3, func(context.Context) error { return probe(calls.Add(1)) }, cancel)
		close(stop)
	}()
	require.NoError(t, poll.Until(context.Background(), poll.StubHTTP, func(context.Context) (bool, error) {
		return calls.Load() >= n || ctx.Err() != nil, nil
	}))
	var cause error
	if ctx.Err() != nil {
		cause = context.Cause(ctx)
	}
	cancel(errors.New("test over"))
	<-stop
	return cause
}

// A busy machine: every probe slow or answered with an error, for far more
// than the strikes, proves nothing, and the run goes on.
func TestWatchdogNeverEndsARunOnSlowProbes(t *testing.T) {
	cause := watchFor(t, 40, func(int32) error {
		return fmt.Errorf("API server /readyz: %w", context.DeadlineExceeded)
	})
	assert.NoError(t, cause, "timeouts are no evidence the cluster is gone")
	cause = watchFor(t, 40, func(int32) error { return errors.New("listing node containers: signal: killed") })
	assert.NoError(t, cause, "a Docker CLI that did not answer in time is no evidence")
}

// Hard evidence interleaved with slow probes still ends the run: a slow
// probe neither counts nor resets the streak; an answer does reset it.
func TestWatchdogCountsOnlyHardEvidence(t *testing.T) {
	gone := ErrNodesGone{Cluster: "todoconf-1-a", Running: []string{"todoconf-1-a-worker"}, Want: 5}
	cause := watchFor(t, 40, func(call int32) error {
		if call%2 == 0 {
			return context.DeadlineExceeded
		}
		return gone
	})
	var goneCause ErrClusterGone
	require.ErrorAs(t, cause, &goneCause)
	assert.Contains(t, goneCause.Error(), "1 of 5 node containers of todoconf-1-a running")
	assert.Contains(t, goneCause.Error(), "3 checks in a row found it gone; 2 slow or unclear checks between")

	cause = watchFor(t, 40, func(call int32) error {
		if call%3 == 0 {
			return nil // the cluster answered: the streak starts again
		}
		return gone
	})
	assert.NoError(t, cause, "two hard failures between answers never reach three in a row")
}

func TestHardEvidence(t *testing.T) {
	assert.True(t, HardEvidence(fmt.Errorf("x: %w", ErrNodesGone{Want: 5})))
	assert.True(t, HardEvidence(fmt.Errorf("API server /readyz: %w", refusedDial(t))))
	assert.False(t, HardEvidence(context.DeadlineExceeded))
	assert.False(t, HardEvidence(errors.New("connection refused")), "words are not evidence: only the errno is")
	assert.False(t, HardEvidence(errors.New("the server is currently unable to handle the request")))
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
