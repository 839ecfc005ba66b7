package poll

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// A wait ended from outside says why (the watchdog's "the cluster is gone"),
// not "context canceled".
func TestUntilCarriesTheCauseOfACancelledRun(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("the cluster is gone: API server /readyz: connection refused"))
	err := Until(ctx, Rollout, func(context.Context) (bool, error) { return false, nil })
	assert.ErrorContains(t, err, "rollout-complete: stopped: the cluster is gone")
}

// A deadline names the wait and its deadline.
func TestUntilNamesTheWaitOnTimeout(t *testing.T) {
	err := Until(context.Background(), Interval{"unit", 20 * time.Millisecond, 5 * time.Millisecond}, func(context.Context) (bool, error) { return false, nil })
	assert.ErrorContains(t, err, "unit (deadline 20ms)")
}

// A terminal error ends the wait at once and is returned.
func TestUntilStopsOnATerminalError(t *testing.T) {
	boom := errors.New("ErrImageNeverPull")
	err := Until(context.Background(), Rollout, func(context.Context) (bool, error) { return false, boom })
	assert.ErrorIs(t, err, boom)
}
