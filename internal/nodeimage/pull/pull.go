// Package pull pulls an image with the docker CLI and tells two failures
// apart that ask for opposite answers:
//
//   - no registry: the registry's name does not resolve, or its address
//     refuses, cannot be routed to or never answers the connection. Nothing
//     will come; the caller falls back at once.
//   - a slow registry: it answers, layers arrive slowly. The pull goes on, and
//     says every heartbeat how far it got, for as long as the caller's context
//     allows.
//
// The pull goes through dockerd, so its proxy and mirror settings apply; the
// classification reads dockerd's own error.
//
// It lives outside package nodeimage on purpose: every .go file of nodeimage
// is hashed into the node image's content key.
package pull

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Heartbeat is how often a running pull reports its progress.
const Heartbeat = 30 * time.Second

// NoRegistryError says no registry answered: falling back is the only way on.
type NoRegistryError struct {
	Ref   string
	Cause string // dockerd's words, e.g. "lookup registry-1.docker.io ...: no such host"
}

func (e *NoRegistryError) Error() string {
	return fmt.Sprintf("no registry answers for %s: %s", e.Ref, e.Cause)
}

// IsNoRegistry reports whether err says no registry answered.
func IsNoRegistry(err error) bool {
	var nr *NoRegistryError
	return errors.As(err, &nr)
}

// noRegistry are the failures of reaching a registry at all, as Go's net
// package (and so dockerd) words them: name resolution, a refused, unroutable
// or unanswered connection. A registry that answers and refuses (manifest
// unknown, toomanyrequests, unauthorized) is not among them.
var noRegistry = regexp.MustCompile(`no such host|server misbehaving|[Tt]emporary failure in name resolution|` +
	`connection refused|network is unreachable|no route to host|dial tcp[^\n]*i/o timeout|` +
	`TLS handshake timeout`)

// NoRegistryCause returns the part of docker's output that says no registry
// answered, or "" when the output says something else.
func NoRegistryCause(output string) string {
	for _, line := range strings.Split(output, "\n") {
		if noRegistry.MatchString(line) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// Options is how Pull runs.
type Options struct {
	Docker    string        // the docker CLI; "" is "docker"
	Log       io.Writer     // progress lines
	Heartbeat time.Duration // 0 is Heartbeat
}

// Pull runs `docker pull ref` until it succeeds, fails, or ctx ends. While it
// runs it reports, every heartbeat, the time so far and how many layers are
// downloaded and extracted. A failure that means no registry answered is a
// *NoRegistryError.
func Pull(ctx context.Context, ref string, o Options) error {
	bin := o.Docker
	if bin == "" {
		bin = "docker"
	}
	every := o.Heartbeat
	if every <= 0 {
		every = Heartbeat
	}
	logf := func(format string, a ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, "nodeimage: "+format+"\n", a...)
		}
	}
	cmd := exec.CommandContext(ctx, bin, "pull", ref)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("docker pull %s: %w", ref, err)
	}
	waited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		pw.Close()
		waited <- err
	}()

	var mu sync.Mutex
	layers := newLayerCount()
	var out strings.Builder
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			mu.Lock()
			layers.see(sc.Text())
			if out.Len() < 64<<10 {
				out.WriteString(sc.Text() + "\n")
			}
			mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, pr)
	}()

	start := time.Now()
	tick := time.NewTicker(every)
	defer tick.Stop()
	var err error
wait:
	for {
		select {
		case err = <-waited:
			break wait
		case <-tick.C:
			mu.Lock()
			logf("pulling %s: %s so far, %s", ref, time.Since(start).Round(time.Second), layers)
			mu.Unlock()
		}
	}
	<-read
	if err == nil {
		logf("pulled %s in %s", ref, time.Since(start).Round(time.Second))
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("docker pull %s: stopped after %s (%s): %w", ref, time.Since(start).Round(time.Second), layers, ctx.Err())
	}
	text := strings.TrimSpace(out.String())
	if cause := NoRegistryCause(text); cause != "" {
		return &NoRegistryError{Ref: ref, Cause: cause}
	}
	return fmt.Errorf("docker pull %s: %w: %s", ref, err, lastLines(text, 5))
}

// layerCount follows docker pull's plain (non-terminal) status lines:
// "<id>: Pulling fs layer", "<id>: Download complete", "<id>: Pull complete",
// "<id>: Already exists".
type layerCount struct {
	state map[string]string
}

func newLayerCount() *layerCount { return &layerCount{state: map[string]string{}} }

var statusLine = regexp.MustCompile(`^([0-9a-f]{12,64}): (Pulling fs layer|Waiting|Downloading|Verifying Checksum|Download complete|Extracting|Pull complete|Already exists)`)

func (l *layerCount) see(line string) {
	m := statusLine.FindStringSubmatch(strings.TrimSpace(line))
	if m == nil {
		return
	}
	id, status := m[1], m[2]
	rank := map[string]int{"Pulling fs layer": 0, "Waiting": 0, "Downloading": 1, "Verifying Checksum": 2,
		"Download complete": 2, "Extracting": 2, "Pull complete": 3, "Already exists": 3}
	if old, ok := l.state[id]; ok && rank[old] > rank[status] {
		return
	}
	l.state[id] = status
}

func (l *layerCount) String() string {
	if len(l.state) == 0 {
		return "no layer started yet"
	}
	downloaded, extracted := 0, 0
	for _, s := range l.state {
		switch s {
		case "Verifying Checksum", "Download complete", "Extracting":
			downloaded++
		case "Pull complete", "Already exists":
			downloaded++
			extracted++
		}
	}
	return fmt.Sprintf("%d/%d layers downloaded, %d extracted", downloaded, len(l.state), extracted)
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
