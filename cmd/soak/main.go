// Command soak measures the live tier's flake rate and leaks: RUNS full live
// runs back to back (each `go test ./e2e -tags e2e -count=1 -v`, from one
// compiled test binary), then the pass rate and, per phase, check and probe
// measurement of each run's report.json, min/median/max.
//
//	go run ./cmd/soak -runs 20                     # RUNS=20 make soak
//	go run ./cmd/soak -runs 10 -interrupt -seed 42 # INTERRUPT=1 SEED=42 RUNS=10 make soak
//	go run ./cmd/soak -interrupt -at 87.2s -signal TERM   # replay one moment
//	go run ./cmd/soak -summarise '_artifacts/run-*'      # spreads of runs made elsewhere
//
// Interruption mode sends SIGINT or SIGTERM to each run's process group at a
// moment drawn from the seed (printed, so it can be replayed), waits for the
// run to exit, and then asserts that it left nothing behind: no kind node
// container, no `kind` Docker network or Docker volume that was not there
// before, no process of the test binary (the run's reaper) still alive, no
// kubeconfig or data directory under _build, and (with E2E_KUBECONFIG) none
// of the suite's namespaces, Jobs or PVs. One uninterrupted run follows,
// which must start cleanly and pass.
//
// Each run's output.log, report.json and (on failure) evidence stay in
// $ARTIFACTS/soak/run-NN; soak.json holds the summary.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/selftest"
)

type options struct {
	runs             int
	interrupt        bool
	seed             uint64
	earliest, latest time.Duration
	at               time.Duration
	signal           string
	final            bool
	timeout          time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", envInt("RUNS", 1), "number of runs (RUNS)")
	flag.BoolVar(&o.interrupt, "interrupt", os.Getenv("INTERRUPT") == "1", "interrupt each run at a seeded moment (INTERRUPT=1)")
	flag.Uint64Var(&o.seed, "seed", uint64(envInt("SEED", int(time.Now().UnixNano()%1_000_000))), "seed of the interruption schedule (SEED)")
	flag.DurationVar(&o.earliest, "earliest", 2*time.Second, "earliest interruption moment after a run starts")
	flag.DurationVar(&o.latest, "latest", 180*time.Second, "latest interruption moment (a full run takes 3-4 min; a moment after its end interrupts nothing)")
	flag.DurationVar(&o.at, "at", 0, "replay: interrupt one run at exactly this moment")
	flag.StringVar(&o.signal, "signal", "INT", "replay: the signal for -at (INT or TERM)")
	flag.BoolVar(&o.final, "final-run", true, "after interrupted runs, one full run that must start cleanly and pass")
	flag.DurationVar(&o.timeout, "timeout", 45*time.Minute, "bound on one run (go test -timeout)")
	summarise := flag.String("summarise", "", "run nothing: print the spread of existing runs' report.json (comma-separated ARTIFACTS dirs or globs)")
	flag.Parse()
	if *summarise != "" {
		if err := summariseDirs(*summarise); err != nil {
			fmt.Fprintln(os.Stderr, "soak:", err)
			os.Exit(1)
		}
		return
	}
	if o.runs < 1 && o.at == 0 {
		fmt.Fprintf(os.Stderr, "soak: RUNS=%d: at least one run is needed (zero runs prove nothing)\n", o.runs)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

// summariseDirs prints the soak statistics of runs made elsewhere (make
// conformance, CI): a run passed when its setup did not fail and every live
// ID has a PASS. Any run that did not pass makes it fail.
func summariseDirs(list string) error {
	var runs []selftest.RunOutcome
	for _, pat := range strings.Split(list, ",") {
		dirs, err := filepath.Glob(strings.TrimSpace(pat))
		if err != nil {
			return err
		}
		for _, d := range dirs {
			if st, err := os.Stat(d); err != nil || !st.IsDir() {
				continue
			}
			rep, err := selftest.ReadRunReport(d)
			if err != nil {
				return err
			}
			// The same judgement as a soak's own runs: every live ID PASS.
			out := selftest.RunOutcome{Run: len(runs) + 1, Artifacts: d, Report: rep, Wall: rep.Total, Failed: rep.NotPassed()}
			out.Passed = !rep.SetupFailed() && len(out.Failed) == 0
			runs = append(runs, out)
		}
	}
	if len(runs) == 0 {
		return fmt.Errorf("no report.json under %s", list)
	}
	sum := selftest.Summarise(runs)
	sum.Print(os.Stdout)
	if sum.Passed != sum.Runs {
		return fmt.Errorf("%d of %d runs did not pass", sum.Runs-sum.Passed, sum.Runs)
	}
	return nil
}

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil {
		return v
	}
	return def
}

func run(ctx context.Context, o options) (bool, error) {
	root, err := manifests.ModuleRoot()
	if err != nil {
		return false, err
	}
	artifacts := os.Getenv("ARTIFACTS")
	if artifacts == "" {
		artifacts = filepath.Join(root, "_artifacts")
	}
	artifacts = filepath.Join(artifacts, "soak")
	var schedule []selftest.Interruption
	if o.at > 0 {
		sig, err := selftest.ParseSignal(o.signal)
		if err != nil {
			return false, err
		}
		o.interrupt, o.runs = true, 1
		schedule = []selftest.Interruption{{Run: 1, At: o.at, Signal: sig}}
	} else if o.interrupt {
		if schedule, err = selftest.Schedule(o.seed, o.runs, o.earliest, o.latest); err != nil {
			return false, err
		}
		fmt.Printf("soak: interruption schedule, seed %d (replay all: INTERRUPT=1 SEED=%d RUNS=%d make soak):\n", o.seed, o.seed, o.runs)
		for _, s := range schedule {
			fmt.Printf("  %s   (replay: go run ./cmd/soak -at %s -signal %s)\n", s, s.At, selftest.SignalName(s.Signal))
		}
	}
	bin := filepath.Join(root, "_build", "soak", "e2e.test")
	build := exec.CommandContext(ctx, "go", "test", "-c", "-tags", "e2e", "-o", bin, "./e2e")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return false, fmt.Errorf("building the e2e test binary: %w", err)
	}
	lister := selftest.HostLister{Binary: bin}
	if kc := os.Getenv("E2E_KUBECONFIG"); kc != "" {
		rc, err := clientcmd.BuildConfigFromFlags("", kc)
		if err != nil {
			return false, err
		}
		if lister.Client, err = kubernetes.NewForConfig(rc); err != nil {
			return false, err
		}
	}
	before, err := selftest.Observe(ctx, lister, root)
	if err != nil {
		return false, err
	}
	r := runner{bin: bin, dir: filepath.Join(root, "e2e"), root: root, timeout: o.timeout, grace: selftest.RunExit.Timeout, lister: lister, before: before}
	var full, interrupted []selftest.RunOutcome
	total := o.runs
	if o.interrupt && o.final {
		total++
	}
	for i := 1; i <= total && ctx.Err() == nil; i++ {
		var in *selftest.Interruption
		if o.interrupt && i <= len(schedule) {
			in = &schedule[i-1]
		}
		out := r.one(ctx, i, filepath.Join(artifacts, fmt.Sprintf("run-%02d", i)), in)
		if in != nil {
			interrupted = append(interrupted, out)
		} else {
			full = append(full, out)
		}
	}
	sum := selftest.Summarise(full)
	ok := ctx.Err() == nil && sum.Passed == sum.Runs
	// The last run has no next run to find its traces: look once more.
	var left selftest.Traces
	if end, err := selftest.Observe(context.WithoutCancel(ctx), r.lister, r.root); err != nil {
		left, ok = selftest.Traces{"(could not list: " + err.Error() + ")"}, false
	} else if left = end.Since(before); len(left) > 0 {
		ok = false
	}
	for _, x := range append(append([]selftest.RunOutcome(nil), interrupted...), full...) {
		if len(x.StartTraces) > 0 {
			ok = false
			fmt.Printf("soak: run %02d did NOT start cleanly: %v\n", x.Run, x.StartTraces)
		}
	}
	if len(full) > 0 {
		sum.Print(os.Stdout)
	}
	if len(interrupted) > 0 {
		fmt.Printf("\n=== interrupted runs (seed %d) ===\n", o.seed)
		hit := 0
		for _, x := range interrupted {
			in := x.Interrupt
			var verdict string
			switch {
			case in.EndedFirst && x.Passed && len(in.Leftovers) == 0:
				verdict = "NOT INTERRUPTED: the run ended before its moment (it passed and left nothing)"
			case in.EndedFirst:
				verdict, ok = fmt.Sprintf("NOT INTERRUPTED, and the run FAILED %v %s", x.Failed, x.Err), false
			case in.Clean():
				verdict = "clean"
				hit++
			default:
				verdict, ok = "NOT CLEAN", false
				if in.Killed {
					verdict += ", KILLED (no exit within " + selftest.RunExit.Timeout.String() + ")"
				}
				if in.ExitedZero {
					verdict += ", exited 0 after the signal (it had no effect)"
				}
				if in.SignalErr != "" {
					verdict += ", " + in.SignalErr
				}
				if len(in.Leftovers) > 0 {
					verdict += ", LEFT TRACES"
				}
			}
			fmt.Printf("%s: exit %d after %s: %s %v\n    last line before the signal: %s\n", in.Interruption, in.ExitCode, in.ExitAfter.Round(100*time.Millisecond), verdict, in.Leftovers, in.LastLine)
		}
		fmt.Printf("%d of %d runs interrupted as scheduled and clean\n", hit, len(interrupted))
	}
	if len(left) > 0 {
		fmt.Printf("soak: NOT CLEAN at the end: traces the runs left: %v\n", left)
	}
	raw, err := json.MarshalIndent(struct {
		Seed        uint64                `json:"seed,omitempty"`
		Summary     selftest.SoakSummary  `json:"summary"`
		Interrupted []selftest.RunOutcome `json:"interrupted,omitempty"`
		Left        selftest.Traces       `json:"leftAtTheEnd,omitempty"`
		Passed      bool                  `json:"passed"`
	}{o.seed, sum, interrupted, left, ok}, "", "  ")
	if err != nil {
		return false, err
	}
	if err := os.WriteFile(filepath.Join(artifacts, "soak.json"), raw, 0o644); err != nil {
		return false, err
	}
	fmt.Printf("soak: results in %s\n", artifacts)
	return ok, nil
}

type runner struct {
	bin, dir, root string
	timeout        time.Duration
	grace          time.Duration // to exit after a signal
	lister         selftest.Lister
	before         selftest.Traces
}

// one runs the live tier once, in its own process group (as a terminal's
// Ctrl-C reaches a whole `go test` process group), and interrupts it if told.
func (r runner) one(ctx context.Context, n int, art string, in *selftest.Interruption) selftest.RunOutcome {
	out := selftest.RunOutcome{Run: n, Artifacts: art, ExitCode: -1}
	if in != nil {
		out.Interrupt = &selftest.InterruptOutcome{Interruption: *in}
	}
	fail := func(err error) selftest.RunOutcome {
		out.Err = err.Error()
		if out.Interrupt != nil {
			out.Interrupt.SignalErr = "the run never started: " + err.Error()
		}
		fmt.Printf("soak: run %02d: %v\n", n, err)
		return out
	}
	// An earlier soak's report in this folder must never stand in for a run
	// that writes none.
	if err := os.RemoveAll(art); err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(art, 0o755); err != nil {
		return fail(err)
	}
	pre, err := selftest.Observe(ctx, r.lister, r.root)
	if err != nil {
		return fail(err)
	}
	if out.StartTraces = pre.Since(r.before); len(out.StartTraces) > 0 {
		fmt.Printf("soak: run %02d does not start cleanly: traces of earlier runs: %v\n", n, out.StartTraces)
	}
	logf, err := os.Create(filepath.Join(art, "output.log"))
	if err != nil {
		return fail(err)
	}
	defer logf.Close()
	last := &lastLine{}
	cmd := exec.Command(r.bin, "-test.v", "-test.count=1", "-test.timeout="+r.timeout.String())
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "ARTIFACTS="+art)
	cmd.Stdout = io.MultiWriter(logf, last)
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return fail(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	group := -cmd.Process.Pid
	var at <-chan time.Time
	if in != nil {
		at = time.After(in.At)
	}
	var waitErr error
	var signalled time.Time
	for waiting := true; waiting; {
		select {
		case waitErr = <-done:
			waiting = false
		case <-at:
			at = nil
			signalled = time.Now()
			out.Interrupt.LastLine = last.get()
			fmt.Printf("soak: run %02d: sending SIG%s at %s (last line: %s)\n", n, selftest.SignalName(in.Signal), time.Since(start).Round(100*time.Millisecond), out.Interrupt.LastLine)
			gone, msg := signalGroup(group, in.Signal)
			if gone {
				// The run's process had exited; only its output was still
				// draining. It ended before its moment.
				signalled = time.Time{}
			}
			out.Interrupt.SignalErr = msg
			waitErr = r.waitExit(done, group, out.Interrupt)
			waiting = false
		case <-ctx.Done():
			fmt.Printf("soak: interrupted: stopping run %02d\n", n)
			if _, msg := signalGroup(group, syscall.SIGINT); msg != "" {
				fmt.Printf("soak: run %02d: %s\n", n, msg)
			}
			waitErr = r.waitExit(done, group, &selftest.InterruptOutcome{})
			waiting = false
		}
	}
	out.Wall = time.Since(start)
	var exit *exec.ExitError
	switch {
	case waitErr == nil:
		out.ExitCode = 0
	case errors.As(waitErr, &exit):
		out.ExitCode = exit.ExitCode()
	default:
		out.Err = waitErr.Error()
	}
	if rep, err := selftest.ReadRunReport(art); err == nil {
		out.Report = rep
		out.Failed = rep.NotPassed()
	} else if in == nil || signalled.IsZero() {
		out.Err = strings.TrimPrefix(out.Err+"; no report.json: "+err.Error(), "; ")
	}
	// A full run passes when it exits 0 and its report has a PASS for every
	// live ID: a check that vanished from the suite is no pass.
	out.Passed = out.ExitCode == 0 && out.Report != nil && len(out.Failed) == 0 && (in == nil || signalled.IsZero())
	if in != nil {
		out.Interrupt.ExitCode = out.ExitCode
		if signalled.IsZero() {
			out.Interrupt.EndedFirst = true
		} else {
			out.Interrupt.ExitAfter = time.Since(signalled)
			out.Interrupt.ExitedZero = out.ExitCode == 0
		}
		post, err := selftest.Observe(context.WithoutCancel(ctx), r.lister, r.root)
		if err != nil {
			out.Interrupt.Leftovers = selftest.Traces{"(could not list: " + err.Error() + ")"}
		} else {
			out.Interrupt.Leftovers = post.Since(pre)
		}
	}
	verdict := "PASS"
	switch {
	case in != nil && out.Interrupt.EndedFirst:
		verdict = fmt.Sprintf("ended before its moment (%s), not interrupted; passed %v, left %v", in.At, out.Passed, out.Interrupt.Leftovers)
	case in != nil && out.Interrupt.Clean():
		verdict = "interrupted, clean"
	case in != nil:
		verdict = fmt.Sprintf("interrupted, NOT CLEAN: killed %v, exited 0 %v, signal error %q, left %v", out.Interrupt.Killed, out.Interrupt.ExitedZero, out.Interrupt.SignalErr, out.Interrupt.Leftovers)
	case !out.Passed:
		verdict = fmt.Sprintf("FAIL %v %s", out.Failed, out.Err)
	}
	fmt.Printf("soak: run %02d: %s in %s (exit %d), %s\n", n, verdict, out.Wall.Round(time.Second), out.ExitCode, art)
	return out
}

// signalGroup signals a run's process group (group is the negative pgid)
// and says why it could not. A group already gone (ESRCH) is no failure but
// no delivery either: the run had ended on its own (gone).
func signalGroup(group int, sig syscall.Signal) (gone bool, msg string) {
	err := syscall.Kill(group, sig)
	switch {
	case err == nil:
		return false, ""
	case errors.Is(err, syscall.ESRCH):
		return true, ""
	default:
		return false, fmt.Sprintf("could not send %s to process group %d: %v", sig, -group, err)
	}
}

// waitExit gives a signalled run its grace to tear down, then kills its group.
func (r runner) waitExit(done <-chan error, group int, o *selftest.InterruptOutcome) error {
	select {
	case err := <-done:
		return err
	case <-time.After(r.grace):
		o.Killed = true
		if _, msg := signalGroup(group, syscall.SIGKILL); msg != "" {
			o.SignalErr = msg
		}
		return <-done
	}
}

// lastLine remembers the last complete line written to it.
type lastLine struct {
	mu      sync.Mutex
	partial []byte
	line    string
}

func (l *lastLine) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	if i := strings.LastIndexByte(string(l.partial), '\n'); i >= 0 {
		lines := strings.Split(strings.TrimRight(string(l.partial[:i]), "\n"), "\n")
		if s := strings.TrimSpace(lines[len(lines)-1]); s != "" {
			l.line = s
		}
		l.partial = append([]byte(nil), l.partial[i+1:]...)
	}
	return len(p), nil
}

func (l *lastLine) get() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.line
}
