// Command selftest proves the suite can fail: it runs every mutant under
// fixtures/mutants through the static tier and then, in ONE kind cluster
// reused for all of them, through the live checks each mutant names, and
// prints the detection matrix (expected vs observed per mutant and ID).
//
//	go run ./cmd/selftest               # static half, then the live half (make selftest)
//	go run ./cmd/selftest -static       # static half only (seconds; also in go test ./...)
//	go run ./cmd/selftest -dry-run      # the live plan, one command per mutant; no cluster
//	go run ./cmd/selftest -mutants a,b  # only these mutants (MUTANTS=a,b)
//	go run ./cmd/selftest -slow         # also the slow mutants, live (SLOW=1)
//	go run ./cmd/selftest -markdown     # the coverage matrix of docs/selftest.md
//
// With E2E_KUBECONFIG the mutants run in that cluster (not created, not
// deleted; it must hold the stub images). Otherwise a cluster is created the
// way the live tier creates its own and deleted at the end, also on Ctrl-C.
// Results: $ARTIFACTS/selftest/{matrix.txt,result.json,junit.xml} and one
// folder per mutant with its run's report.json and output.log.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/selftest"
)

func main() {
	// This binary is also its own reaper (live.StartReaper re-executes it):
	// it removes the shared cluster if the self-test dies without doing so.
	if live.IsReaper() {
		os.Exit(live.RunReaper())
	}
	staticOnly := flag.Bool("static", false, "run the static half only")
	dryRun := flag.Bool("dry-run", false, "print the live plan and exit; creates nothing")
	markdown := flag.Bool("markdown", false, "print the coverage matrix (mutant x ID) as Markdown and exit")
	only := flag.String("mutants", os.Getenv("MUTANTS"), "comma-separated mutant names (default: all)")
	timeout := flag.Duration("timeout", 12*time.Minute, "bound on one mutant's live run")
	slow := flag.Bool("slow", os.Getenv("SLOW") == "1", "also run the slow mutants live (SLOW=1)")
	control := flag.Bool("control", true, "first run every live check on the repository's own manifests; a check that fails there catches nothing")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, options{static: *staticOnly, dryRun: *dryRun, markdown: *markdown, slow: *slow, control: *control, only: *only, timeout: *timeout})
	if err != nil {
		fmt.Fprintln(os.Stderr, "selftest:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

type options struct {
	static, dryRun, markdown, slow, control bool
	only                                    string
	timeout                                 time.Duration
}

func run(ctx context.Context, o options) (int, error) {
	root, err := manifests.ModuleRoot()
	if err != nil {
		return 1, err
	}
	ms, err := selftest.LoadMutants(filepath.Join(root, selftest.MutantsDir))
	if err != nil {
		return 1, err
	}
	if o.markdown {
		fmt.Print(selftest.CoverageMarkdown(ms))
		return 0, nil
	}
	all := o.only == ""
	if !all {
		if ms, err = filter(ms, o.only); err != nil {
			return 1, err
		}
	}
	artifacts := filepath.Join(envOr("ARTIFACTS", filepath.Join(root, "_artifacts")), "selftest")
	started := time.Now()
	rows, err := staticRows(ms)
	if err != nil {
		return 1, err
	}
	mode := selftest.Live
	if o.static {
		mode = selftest.Static
	}
	// Slow mutants run live only when asked; named explicitly, they run.
	live, skipped := ms, []selftest.MutantResult(nil)
	if !o.slow && all {
		live = nil
		for _, m := range ms {
			if m.Slow == "" || len(m.Live) == 0 {
				live = append(live, m)
				continue
			}
			row := selftest.MutantResult{Name: m.Name, Why: m.Why}
			for _, id := range m.Live {
				row.Cells = append(row.Cells, selftest.Cell{Tier: selftest.Live, ID: id, Expected: true, Observed: selftest.Skipped,
					Detail: "slow mutant (" + m.Slow + "): run with SLOW=1 or -slow"})
			}
			skipped = append(skipped, row)
		}
	}
	if o.dryRun {
		if o.control {
			c := selftest.PlanControl(filepath.Join(root, "manifests"), artifacts, "<kubeconfig>", o.timeout)
			fmt.Printf("# control: %s\n%s\n", c.Mutant.Why, c.Command())
		}
		for _, p := range selftest.PlanLive(live, artifacts, "<kubeconfig>", o.timeout) {
			fmt.Printf("# %s: %s\n%s\n", p.Mutant.Name, p.Mutant.Why, p.Command())
		}
		for _, r := range skipped {
			fmt.Printf("# %s: skipped: %s\n", r.Name, r.Cells[0].Detail)
		}
		return 0, nil
	}
	var control *selftest.ControlResult
	var timings []selftest.Timing
	if !o.static {
		cr, liveRows, t, err := runLive(ctx, root, artifacts, live, o.timeout, o.control)
		timings = t
		if err != nil {
			return 1, err
		}
		control = cr
		rows = merge(merge(rows, liveRows), skipped)
	}
	r := selftest.Result{Started: started, Duration: time.Since(started), Mode: string(mode), Mutants: rows, Control: control, Timings: timings}
	r.Judge(all)
	r.PrintMatrix(os.Stdout)
	if err := r.WriteFiles(artifacts); err != nil {
		return 1, err
	}
	fmt.Printf("results in %s\n", artifacts)
	if !r.Passed {
		return 1, nil
	}
	return 0, nil
}

func filter(ms []selftest.Mutant, only string) ([]selftest.Mutant, error) {
	var out []selftest.Mutant
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
	}
	for _, n := range strings.Split(only, ",") {
		n = strings.TrimSpace(n)
		i := slices.Index(names, n)
		if i < 0 {
			return nil, fmt.Errorf("no mutant %q (have %s)", n, strings.Join(names, ", "))
		}
		out = append(out, ms[i])
	}
	return out, nil
}

// staticRows runs the static half: each mutant's named static IDs, caught
// or missed, and any other ID that failed.
func staticRows(ms []selftest.Mutant) ([]selftest.MutantResult, error) {
	var rows []selftest.MutantResult
	for _, m := range ms {
		out, err := selftest.RunStatic(m)
		if err != nil {
			return nil, err
		}
		row := selftest.MutantResult{Name: m.Name, Why: m.Why}
		for _, id := range m.Static {
			c := selftest.Cell{Tier: selftest.Static, ID: id, Expected: true, Observed: selftest.Missed, Detail: "no finding"}
			if fs := out.Findings[id]; len(fs) > 0 {
				c.Observed, c.Detail = selftest.Caught, selftest.Brief(fs[0])
			}
			row.Cells = append(row.Cells, c)
		}
		for _, id := range out.Extra {
			row.Cells = append(row.Cells, selftest.Cell{Tier: selftest.Static, ID: id, Observed: selftest.Caught, Detail: selftest.Brief(out.Findings[id][0])})
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// merge adds the live rows' cells (and run details) to the static rows.
func merge(rows, live []selftest.MutantResult) []selftest.MutantResult {
	for i := range rows {
		for _, l := range live {
			if l.Name == rows[i].Name {
				cells := append(rows[i].Cells, l.Cells...)
				rows[i] = l
				rows[i].Cells = cells
			}
		}
	}
	return rows
}

// runLive builds the e2e test binary once, brings up (or adopts) the shared
// cluster, and runs every mutant that names live IDs in it.
func runLive(ctx context.Context, root, artifacts string, ms []selftest.Mutant, timeout time.Duration, withControl bool) (cr *selftest.ControlResult, rows []selftest.MutantResult, timings []selftest.Timing, err error) {
	step := time.Now()
	took := func(name string) {
		timings = append(timings, selftest.Timing{Step: name, Duration: time.Since(step)})
		step = time.Now()
	}
	bin := filepath.Join(root, "_build", "selftest", "e2e.test")
	fmt.Fprintf(os.Stderr, "selftest: building the live tier (go test -c -tags e2e ./e2e)\n")
	build := exec.CommandContext(ctx, "go", "test", "-c", "-tags", "e2e", "-o", bin, "./e2e")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return nil, nil, nil, fmt.Errorf("building the e2e test binary: %w", err)
	}
	took("build e2e.test")
	kubeconfig := os.Getenv("E2E_KUBECONFIG")
	if kubeconfig == "" {
		start := time.Now()
		// The reaper outlives a killed self-test and removes the cluster
		// then; without one (it could not start) the deferred delete below
		// still runs on every way out but SIGKILL.
		reaper, rerr := live.StartReaper()
		if rerr != nil {
			fmt.Fprintf(os.Stderr, "selftest: no reaper (%v): a killed self-test would leave its cluster to `make cluster-clean`\n", rerr)
		}
		var sc *sharedCluster
		sc, err = createCluster(ctx, root, reaper, os.Stderr)
		// Deleted on every way out, Ctrl-C included (the signal only cancels ctx).
		defer func() {
			del := time.Now()
			derr := sc.delete(context.WithoutCancel(ctx))
			fmt.Fprintf(os.Stderr, "selftest: shared cluster deleted in %s\n", time.Since(del).Round(time.Second))
			if derr != nil {
				fmt.Fprintf(os.Stderr, "selftest: deleting the cluster: %v\n", derr)
				if err == nil {
					err = derr
				}
				return // the reaper, not told "done", tries again
			}
			if rerr := reaper.Done(); rerr != nil {
				fmt.Fprintf(os.Stderr, "selftest: reaper: %v\n", rerr)
			}
		}()
		if err != nil {
			return nil, nil, timings, fmt.Errorf("creating the shared cluster: %w", err)
		}
		fmt.Fprintf(os.Stderr, "selftest: cluster ready in %s\n", time.Since(start).Round(time.Second))
		took("cluster create")
		kubeconfig = sc.kubeconfig
	}
	cs, err := clientset(kubeconfig)
	if err != nil {
		return nil, nil, timings, err
	}
	base, err := selftest.Snapshot(ctx, cs)
	if err != nil {
		return nil, nil, timings, err
	}
	d := selftest.Driver{
		Runner:   selftest.BinaryRunner{Binary: bin, Dir: filepath.Join(root, "e2e"), Grace: selftest.RunExit.Timeout, ModuleRoot: root},
		Restorer: selftest.ClusterRestorer{Client: cs, Base: base, Wait: selftest.ClusterRestored},
		Log:      os.Stderr,
	}
	var control *selftest.LiveRun
	if withControl {
		c := selftest.PlanControl(filepath.Join(root, "manifests"), artifacts, kubeconfig, timeout)
		control = &c
	}
	cr, rows = d.RunLive(ctx, control, selftest.PlanLive(ms, artifacts, kubeconfig, timeout))
	if cr != nil {
		timings = append(timings, selftest.Timing{Step: "control run", Duration: cr.Duration})
	}
	var sum time.Duration
	for _, r := range rows {
		sum += r.Duration
	}
	timings = append(timings, selftest.Timing{Step: fmt.Sprintf("%d mutant runs", len(rows)), Duration: sum})
	return cr, rows, timings, nil
}

func clientset(kubeconfig string) (kubernetes.Interface, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
	}
	return kubernetes.NewForConfig(rc)
}
