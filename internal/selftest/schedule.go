package selftest

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"time"
)

// Interruption is when and how one run of the soak is interrupted.
type Interruption struct {
	Run    int            `json:"run"`
	At     time.Duration  `json:"at"` // after the run started
	Signal syscall.Signal `json:"signal"`
}

func (i Interruption) String() string {
	return fmt.Sprintf("run %02d: %s at %s", i.Run, SignalName(i.Signal), i.At.Round(100*time.Millisecond))
}

// SignalName is INT or TERM.
func SignalName(s syscall.Signal) string {
	if s == syscall.SIGTERM {
		return "TERM"
	}
	return "INT"
}

// ParseSignal reads INT, SIGINT, TERM or SIGTERM.
func ParseSignal(s string) (syscall.Signal, error) {
	switch s {
	case "INT", "SIGINT":
		return syscall.SIGINT, nil
	case "TERM", "SIGTERM":
		return syscall.SIGTERM, nil
	}
	return 0, fmt.Errorf("signal %q: want INT or TERM", s)
}

// Schedule draws each run's moment uniformly in [earliest, latest) and its
// signal (SIGINT as Ctrl-C, SIGTERM as CI's cancel) from a generator seeded
// with seed alone: the same seed replays the same moments.
func Schedule(seed uint64, runs int, earliest, latest time.Duration) ([]Interruption, error) {
	if runs < 1 {
		return nil, fmt.Errorf("runs %d: want at least 1", runs)
	}
	if earliest < 0 || latest <= earliest {
		return nil, fmt.Errorf("interruption window [%s, %s) is empty", earliest, latest)
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]Interruption, runs)
	for i := range out {
		at := earliest + time.Duration(rng.Int64N(int64(latest-earliest)))
		sig := syscall.SIGINT
		if rng.IntN(2) == 1 {
			sig = syscall.SIGTERM
		}
		out[i] = Interruption{Run: i + 1, At: at.Round(100 * time.Millisecond), Signal: sig}
	}
	return out, nil
}
