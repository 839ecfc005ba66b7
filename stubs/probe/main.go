// Command probe is the client shipped inside the stub images (scratch images
// have no shell, nslookup or curl). Each command prints JSON lines (one per
// name, request or load) and the exit status is non-zero on any failure, so
// it works as an in-cluster Job or through exec:
//
//	probe resolve backend-service backend-service.todo-app.svc.cluster.local
//	probe get [-method POST] [-expect 200] http://backend-service:8000/api/health
//	probe load [-duration 40s] [-interval 50ms] [-count N] [-until-replaced 3s] http://backend-service:8000/api/health
//
// Commands joined by "then" run one after another in one process (so in one
// pod, with one scheduling and start): every one runs whatever the one
// before answered, and the exit status is non-zero if any failed.
//
//	probe resolve backend-service then get http://backend-service:8000/api/health
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/puretasks/k8s-conformance/internal/traffic"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmds, err := commands(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		usage()
	}
	ok := true
	for _, cmd := range cmds {
		ok = runCommand(ctx, cmd) && ok
	}
	if !ok {
		os.Exit(1)
	}
}

// then joins commands run in sequence.
const then = "then"

// commands splits args at each "then"; an empty command (nothing, a
// leading, trailing or doubled "then") is an error.
func commands(args []string) ([][]string, error) {
	var out [][]string
	start := 0
	for i := 0; i <= len(args); i++ {
		if i < len(args) && args[i] != then {
			continue
		}
		if i == start {
			switch {
			case len(args) == 0:
				return nil, fmt.Errorf("no command")
			case i == len(args):
				return nil, fmt.Errorf("nothing after the last %q in %q", then, args)
			default:
				return nil, fmt.Errorf("nothing before %q (argument %d) in %q", then, i+1, args)
			}
		}
		out = append(out, args[start:i])
		start = i + 1
	}
	return out, nil
}

func runCommand(ctx context.Context, cmd []string) bool {
	switch cmd[0] {
	case "resolve":
		return resolve(ctx, cmd[1:])
	case "get":
		return get(ctx, cmd[1:])
	case "load":
		return load(ctx, cmd[1:])
	}
	usage()
	return false
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: probe resolve NAME... | probe get [-method M] [-expect CODE] [-body S] URL | probe load [-duration D] [-interval D] [-count N] URL; commands joined by \"then\" run in sequence")
	os.Exit(2)
}

func emit(v any) {
	_ = json.NewEncoder(os.Stdout).Encode(v)
}

// Resolved is the result of `probe resolve`.
type Resolved struct {
	Op    string   `json:"op"`
	Name  string   `json:"name"`
	Addrs []string `json:"addrs,omitempty"`
	Error string   `json:"error,omitempty"`
	OK    bool     `json:"ok"`
}

func resolve(ctx context.Context, names []string) bool {
	if len(names) == 0 {
		usage()
	}
	all := true
	for _, n := range names {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		addrs, err := net.DefaultResolver.LookupHost(ctx, n)
		cancel()
		r := Resolved{Op: "resolve", Name: n, Addrs: addrs, OK: err == nil && len(addrs) > 0}
		if err != nil {
			r.Error = err.Error()
		}
		all = all && r.OK
		emit(r)
	}
	return all
}

// Got is the result of `probe get`.
type Got struct {
	Op        string `json:"op"`
	URL       string `json:"url"`
	Status    int    `json:"status"`
	Pod       string `json:"pod,omitempty"`
	Body      string `json:"body,omitempty"`
	Error     string `json:"error,omitempty"`
	LatencyMs int64  `json:"latencyMs"`
	OK        bool   `json:"ok"`
}

func get(ctx context.Context, args []string) bool {
	fs := flag.NewFlagSet("get", flag.ExitOnError)
	method := fs.String("method", http.MethodGet, "HTTP method")
	expect := fs.Int("expect", http.StatusOK, "expected status")
	body := fs.String("body", "", "request body")
	timeout := fs.Duration("timeout", 5*time.Second, "request timeout")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		usage()
	}
	g := Got{Op: "get", URL: fs.Arg(0)}
	req, err := http.NewRequestWithContext(ctx, *method, g.URL, strings.NewReader(*body))
	if err != nil {
		g.Error = err.Error()
		emit(g)
		return false
	}
	start := time.Now()
	resp, err := (&http.Client{Timeout: *timeout}).Do(req)
	g.LatencyMs = time.Since(start).Milliseconds()
	if err != nil {
		g.Error = err.Error()
		emit(g)
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	g.Status, g.Pod, g.Body = resp.StatusCode, resp.Header.Get(traffic.PodHeader), strings.TrimSpace(string(b))
	g.OK = g.Status == *expect
	emit(g)
	return g.OK
}

// Loaded is the result of `probe load`.
type Loaded struct {
	Op string `json:"op"`
	traffic.Summary
	OK bool `json:"ok"`
}

func load(ctx context.Context, args []string) bool {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	duration := fs.Duration("duration", 30*time.Second, "how long to send (0 with -count)")
	interval := fs.Duration("interval", 50*time.Millisecond, "between request starts")
	count := fs.Int("count", 0, "stop after this many requests")
	timeout := fs.Duration("timeout", 2*time.Second, "per request")
	untilReplaced := fs.Duration("until-replaced", 0, "stop once the first pods have been silent this long (a rollout is over)")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		usage()
	}
	if *duration > 0 && *count == 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	s := traffic.Run(ctx, traffic.Options{URL: fs.Arg(0), Interval: *interval, Count: *count, Timeout: *timeout, UntilReplaced: *untilReplaced})
	l := Loaded{Op: "load", Summary: s, OK: s.Failed == 0 && s.Sent > 0}
	emit(l)
	return l.OK
}
