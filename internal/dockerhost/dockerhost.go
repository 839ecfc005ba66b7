// Package dockerhost makes sure a Docker engine answers on this machine and
// can run the privileged containers kind needs. It is idempotent: where
// `docker info` already answers and no capability is missing it does nothing.
package dockerhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/puretasks/k8s-conformance/internal/hostcaps"
	"github.com/puretasks/k8s-conformance/internal/poll"
)

// Paths used on the host. The wrapper lives outside /usr/local/bin so it is
// never mistaken for a tool a person should run.
const (
	WrapperPath    = "/usr/local/libexec/k8s-conformance/runc-capdrop"
	WrapperRuntime = "runc-capdrop"
	DaemonJSON     = "/etc/docker/daemon.json"
	DaemonLog      = "/var/log/k8s-conformance-dockerd.log"
)

// Options controls Ensure.
type Options struct {
	// WrapperSource is the package path of the runc wrapper, built with the
	// go tool when the host needs it.
	WrapperSource string
	// ModuleDir is where `go build` runs (the repository root).
	ModuleDir string
	Log       io.Writer
}

// Ensure brings Docker up. It reports each step it takes on o.Log.
func Ensure(ctx context.Context, o Options) error {
	logf := func(format string, a ...any) { fmt.Fprintf(o.Log, "dockerhost: "+format+"\n", a...) }
	missing, err := hostcaps.MissingFromBounding()
	if err != nil {
		return fmt.Errorf("reading the capability bounding set: %w", err)
	}
	if Answers(ctx) && (len(missing) == 0 || wrapperConfigured()) {
		logf("Docker engine answers; nothing to do")
		return nil
	}
	if os.Geteuid() != 0 {
		return errors.New("the Docker engine does not answer and this is not root: start Docker yourself (or run as root so this can install and start it)")
	}
	if _, err := exec.LookPath("dockerd"); err != nil {
		if _, aptErr := exec.LookPath("apt-get"); aptErr != nil {
			return errors.New("no dockerd and no apt-get: install a Docker engine and start it")
		}
		logf("installing Debian's docker.io (apt-get)")
		if err := run(ctx, o.Log, "apt-get", "update", "-qq"); err != nil {
			return fmt.Errorf("apt-get update: %w", err)
		}
		if err := run(ctx, o.Log, "apt-get", "install", "-y", "-qq", "docker.io"); err != nil {
			return fmt.Errorf("apt-get install docker.io: %w", err)
		}
	}
	restart := false
	if len(missing) > 0 {
		logf("host bounding set lacks %v: privileged containers need a runc wrapper that drops them", missing)
		changed, err := installWrapper(ctx, o)
		if err != nil {
			return err
		}
		restart = changed
	}
	if Answers(ctx) && !restart {
		logf("Docker engine answers")
		return nil
	}
	if Answers(ctx) {
		logf("restarting dockerd to pick up the runtime configuration")
		if err := stopDaemon(ctx); err != nil {
			return err
		}
	}
	logf("starting dockerd (log: %s)", DaemonLog)
	if err := startDaemon(); err != nil {
		return err
	}
	start := time.Now()
	err = poll.Until(ctx, poll.DockerStart, func(ctx context.Context) (bool, error) { return Answers(ctx), nil })
	if err != nil {
		return fmt.Errorf("dockerd did not answer within %s (see %s): %w", poll.DockerStart.Timeout, DaemonLog, err)
	}
	logf("Docker engine answers after %s", time.Since(start).Round(100*time.Millisecond))
	return nil
}

// Answers reports whether `docker info` succeeds within a few seconds.
func Answers(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").Run() == nil
}

func wrapperConfigured() bool {
	cfg, err := readDaemonJSON()
	if err != nil {
		return false
	}
	return cfg["default-runtime"] == WrapperRuntime
}

func readDaemonJSON() (map[string]any, error) {
	cfg := map[string]any{}
	raw, err := os.ReadFile(DaemonJSON)
	if errors.Is(err, os.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return cfg, nil
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON: %w", DaemonJSON, err)
	}
	return cfg, nil
}

// installWrapper builds the wrapper and registers it as dockerd's default
// runtime, keeping any other daemon.json settings. It reports whether the
// daemon configuration changed.
func installWrapper(ctx context.Context, o Options) (bool, error) {
	if err := os.MkdirAll(filepath.Dir(WrapperPath), 0o755); err != nil {
		return false, err
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", WrapperPath, o.WrapperSource)
	build.Dir, build.Stdout, build.Stderr = o.ModuleDir, o.Log, o.Log
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if err := build.Run(); err != nil {
		return false, fmt.Errorf("building the runc wrapper: %w", err)
	}
	cfg, err := readDaemonJSON()
	if err != nil {
		return false, err
	}
	if cfg["default-runtime"] == WrapperRuntime {
		return false, nil
	}
	runtimes, _ := cfg["runtimes"].(map[string]any)
	if runtimes == nil {
		runtimes = map[string]any{}
	}
	runtimes[WrapperRuntime] = map[string]any{"path": WrapperPath}
	cfg["runtimes"] = runtimes
	cfg["default-runtime"] = WrapperRuntime
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(DaemonJSON), 0o755); err != nil {
		return false, err
	}
	return true, os.WriteFile(DaemonJSON, append(out, '\n'), 0o644)
}

func startDaemon() error {
	logFile, err := os.OpenFile(DaemonLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command("dockerd")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = detached()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting dockerd: %w", err)
	}
	return cmd.Process.Release()
}

func stopDaemon(ctx context.Context) error {
	if err := exec.CommandContext(ctx, "pkill", "-TERM", "-x", "dockerd").Run(); err != nil {
		return fmt.Errorf("stopping dockerd: %w", err)
	}
	return poll.Until(ctx, poll.DockerStop, func(ctx context.Context) (bool, error) {
		return exec.CommandContext(ctx, "pgrep", "-x", "dockerd").Run() != nil, nil
	})
}

func run(ctx context.Context, w io.Writer, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	return cmd.Run()
}
