// Package progress is how the hermetic node image build talks while it runs:
// each stage says "stage n/N", how long the last cold build of that stage
// took on this machine, and, while it runs, how much of that is left. The
// durations are kept in the build cache (stage-timings.json), so a second
// cold build on the same machine gives an ETA instead of "still running".
//
// It lives outside package nodeimage on purpose: every .go file of nodeimage
// is hashed into the node image's content key, and how the build reports
// itself does not change what the image holds.
package progress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// FileName is the history's file in the cache directory.
const FileName = "stage-timings.json"

// Heartbeat is how often a running stage says it is still alive.
const Heartbeat = 30 * time.Second

// History is the duration of the last cold (cache-miss) run of each stage on
// this machine.
type History struct {
	path   string
	mu     sync.Mutex
	Stages map[string]Record `json:"stages"`
}

// Record is one stage's last cold run.
type Record struct {
	Seconds float64   `json:"seconds"`
	At      time.Time `json:"at"`
}

// Duration is the record's duration.
func (r Record) Duration() time.Duration { return time.Duration(r.Seconds * float64(time.Second)) }

// Load reads the history kept in cacheDir. A missing or unreadable file is an
// empty history: the build still runs, it only cannot say how long it takes.
func Load(cacheDir string) *History {
	h := &History{path: filepath.Join(cacheDir, FileName), Stages: map[string]Record{}}
	raw, err := os.ReadFile(h.path)
	if err != nil {
		return h
	}
	var onDisk History
	if json.Unmarshal(raw, &onDisk) == nil && onDisk.Stages != nil {
		h.Stages = onDisk.Stages
	}
	return h
}

// Last is how long the stage's last cold run took here.
func (h *History) Last(stage string) (time.Duration, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r, ok := h.Stages[stage]
	return r.Duration(), ok
}

// Total is the sum of the recorded stages among names, and whether every one
// of them has a record.
func (h *History) Total(names []string) (time.Duration, bool) {
	var sum time.Duration
	all := true
	for _, n := range names {
		d, ok := h.Last(n)
		sum += d
		all = all && ok
	}
	return sum, all
}

// Save records a cold run of stage and writes the history (atomically: an
// interrupted write never leaves half a file).
func (h *History) Save(stage string, d time.Duration, at time.Time) error {
	h.mu.Lock()
	h.Stages[stage] = Record{Seconds: d.Round(time.Second).Seconds(), At: at.UTC().Truncate(time.Second)}
	raw, err := json.MarshalIndent(h, "", "  ")
	h.mu.Unlock()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(h.path), 0o755); err != nil {
		return err
	}
	tmp := h.path + ".tmp"
	if err := os.WriteFile(tmp, append(raw, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, h.path)
}

// Reporter prints a build's stages to Log.
type Reporter struct {
	Log       io.Writer
	History   *History
	Stages    []string      // every stage of the build, in order
	Heartbeat time.Duration // 0 means Heartbeat
	Now       func() time.Time
}

func (r *Reporter) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reporter) logf(format string, a ...any) {
	fmt.Fprintf(r.Log, "nodeimage: "+format+"\n", a...)
}

// Begin announces a build: how many stages and, when every stage has been
// built cold here before, how long that took.
func (r *Reporter) Begin() {
	total, all := r.History.Total(r.Stages)
	switch {
	case all:
		r.logf("%d stages; the last cold build of each on this machine adds up to %s (cached stages take seconds)", len(r.Stages), round(total))
	default:
		r.logf("%d stages; no complete cold build recorded on this machine (%s): a cold build took 34 min on the project's 2-core machine", len(r.Stages), r.History.path)
	}
}

// Stage announces stage name and keeps saying it is alive every heartbeat,
// with the time left against its last cold run, until the returned function
// is called with whether the stage's cache answered and its error. A cold run
// that succeeds is recorded for the next build's ETA.
func (r *Reporter) Stage(ctx context.Context, name string) (done func(hit bool, err error)) {
	n := 0
	for i, s := range r.Stages {
		if s == name {
			n = i + 1
		}
	}
	label := fmt.Sprintf("stage %d/%d %s", n, len(r.Stages), name)
	last, known := r.History.Last(name)
	if known {
		r.logf("%s: start (its last cold build here took %s)", label, round(last))
	} else {
		r.logf("%s: start (no cold build of this stage recorded here yet)", label)
	}
	start := r.now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		every := r.Heartbeat
		if every <= 0 {
			every = Heartbeat
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				r.logf("%s: still running (%s)", label, Remaining(r.now().Sub(start), last, known))
			}
		}
	}()
	return func(hit bool, err error) {
		close(stop)
		wg.Wait()
		d := r.now().Sub(start)
		if err != nil {
			r.logf("%s: FAILED after %s: %v", label, d.Round(100*time.Millisecond), err)
			return
		}
		if hit {
			r.logf("%s: done in %s (cache hit)", label, d.Round(100*time.Millisecond))
			return
		}
		r.logf("%s: done in %s (built)", label, d.Round(100*time.Millisecond))
		if err := r.History.Save(name, d, r.now()); err != nil && !errors.Is(err, context.Canceled) {
			r.logf("%s: could not record its duration for the next ETA: %v", label, err)
		}
	}
}

// Remaining says how far a stage is against its last cold run:
// "12m0s of about 24m0s, about 12m0s left", or "26m0s, 2m0s longer than the
// last cold build's 24m0s", or only the elapsed time when nothing is known.
func Remaining(elapsed, last time.Duration, known bool) string {
	elapsed = round(elapsed)
	if !known {
		return elapsed.String()
	}
	last = round(last)
	if elapsed <= last {
		return fmt.Sprintf("%s of about %s, about %s left", elapsed, last, last-elapsed)
	}
	return fmt.Sprintf("%s, %s longer than the last cold build's %s", elapsed, elapsed-last, last)
}

// round keeps minutes-long durations readable: whole seconds.
func round(d time.Duration) time.Duration { return d.Round(time.Second) }
