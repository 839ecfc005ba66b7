// Package dockerhost makes sure a Docker engine answers on this machine and
// can run the privileged containers kind needs. It is idempotent: where
// `docker info` already answers and no capability is missing it does nothing.
//
// It may be run on someone else's machine (a developer's workstation with
// dockerd under systemd and containers of their own), so it changes as little
// as it can and says what before doing it:
//   - a dockerd managed by systemd is started and restarted through systemctl;
//   - /etc/docker/daemon.json is changed only where this host's capability
//     bounding set needs the runc wrapper, after a backup (Undo restores it);
//   - a dockerd it did not start is never stopped silently, and never while
//     it runs containers unless DOCKERHOST_RESTART=1 says so.
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
	"strconv"
	"strings"
	"syscall"
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
	// DaemonJSONBackup is daemon.json as it was before this tool first
	// changed it; empty when there was none.
	DaemonJSONBackup = DaemonJSON + ".before-k8s-conformance"
	DaemonLog        = "/var/log/k8s-conformance-dockerd.log"
	// PIDFile holds the PID of the dockerd this tool started (when systemd
	// does not manage Docker): the only dockerd it stops without asking.
	PIDFile = "/run/k8s-conformance-dockerd.pid"
	// EnvAllowRestart lets Ensure restart a dockerd it did not start while
	// that dockerd runs containers.
	EnvAllowRestart = "DOCKERHOST_RESTART"
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

// files are the host files Ensure and Undo touch; tests point them elsewhere.
type files struct {
	daemonJSON, backup, pidFile string
}

var hostFiles = files{daemonJSON: DaemonJSON, backup: DaemonJSONBackup, pidFile: PIDFile}

// Ensure brings Docker up. It reports each step it takes on o.Log, before
// taking it.
func Ensure(ctx context.Context, o Options) error {
	logf := func(format string, a ...any) { fmt.Fprintf(o.Log, "dockerhost: "+format+"\n", a...) }
	missing, err := hostcaps.MissingFromBounding()
	if err != nil {
		return fmt.Errorf("reading the capability bounding set: %w", err)
	}
	mgr := detectManager(ctx, hostFiles)
	if Answers(ctx) && (len(missing) == 0 || wrapperConfigured(hostFiles)) {
		logf("Docker engine answers (%s); nothing to do", mgr)
		return nil
	}
	if os.Geteuid() != 0 {
		if Answers(ctx) {
			return fmt.Errorf("this host's capability bounding set lacks %v, so kind's privileged containers need dockerd's runc wrapper, "+
				"which changes %s and restarts dockerd; that needs root: run `sudo make docker` once", missing, DaemonJSON)
		}
		return errors.New("the Docker engine does not answer and this is not root: start Docker yourself " +
			"(sudo systemctl start docker), or run `sudo make docker` once so this can install and start it; " +
			"then add yourself to the docker group")
	}
	if _, err := exec.LookPath("dockerd"); err != nil {
		if _, aptErr := exec.LookPath("apt-get"); aptErr != nil {
			return errors.New("no dockerd and no apt-get: install a Docker engine and start it")
		}
		logf("no Docker engine here: installing Debian's docker.io with apt-get (adds the docker group; under systemd, docker.service)")
		if err := run(ctx, o.Log, "apt-get", "update", "-qq"); err != nil {
			return fmt.Errorf("apt-get update: %w", err)
		}
		if err := run(ctx, o.Log, "apt-get", "install", "-y", "-qq", "docker.io"); err != nil {
			return fmt.Errorf("apt-get install docker.io: %w", err)
		}
		mgr = detectManager(ctx, hostFiles)
	}
	restart := false
	if len(missing) > 0 && !wrapperConfigured(hostFiles) {
		logf("this host's capability bounding set lacks %v: kind's privileged node containers fail (runc: unable to apply caps) "+
			"unless dockerd's default runtime drops them", missing)
		logf("so: building the runc wrapper into %s and making it dockerd's default-runtime in %s "+
			"(backup: %s; undo: make docker-undo)", WrapperPath, DaemonJSON, DaemonJSONBackup)
		if err := buildWrapper(ctx, o); err != nil {
			return err
		}
		if restart, err = configureRuntime(hostFiles); err != nil {
			return err
		}
	}
	if Answers(ctx) && restart {
		if err := stop(ctx, mgr, logf, "to pick up the runtime configuration"); err != nil {
			return err
		}
		mgr = detectManager(ctx, hostFiles)
	}
	if !Answers(ctx) {
		if err := start(ctx, mgr, logf); err != nil {
			return err
		}
	}
	begin := time.Now()
	err = poll.Until(ctx, poll.DockerStart, func(ctx context.Context) (bool, error) { return Answers(ctx), nil })
	if err != nil {
		return fmt.Errorf("dockerd did not answer within %s (%s): %w", poll.DockerStart.Timeout, mgr.logHint(), err)
	}
	logf("Docker engine answers after %s", time.Since(begin).Round(100*time.Millisecond))
	return nil
}

// Undo restores daemon.json from the backup Ensure made (removing it if there
// was none before) and restarts dockerd so it takes effect, saying so first.
func Undo(ctx context.Context, log io.Writer) error {
	logf := func(format string, a ...any) { fmt.Fprintf(log, "dockerhost: "+format+"\n", a...) }
	restored, err := restoreRuntime(hostFiles)
	if err != nil {
		return err
	}
	if !restored {
		logf("no backup at %s: this tool has not changed %s here; nothing to undo", DaemonJSONBackup, DaemonJSON)
		return nil
	}
	logf("restored %s as it was before k8s-conformance changed it", DaemonJSON)
	_ = os.Remove(WrapperPath)
	mgr := detectManager(ctx, hostFiles)
	if !Answers(ctx) {
		logf("dockerd is not running; it reads the restored configuration when it next starts")
		return nil
	}
	if err := stop(ctx, mgr, logf, "to drop the runc wrapper"); err != nil {
		return err
	}
	if err := start(ctx, detectManager(ctx, hostFiles), logf); err != nil {
		return err
	}
	return poll.Until(ctx, poll.DockerStart, func(ctx context.Context) (bool, error) { return Answers(ctx), nil })
}

// Answers reports whether `docker info` succeeds within a few seconds.
func Answers(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}").Run() == nil
}

func wrapperConfigured(f files) bool {
	cfg, err := readDaemonJSON(f.daemonJSON)
	if err != nil {
		return false
	}
	return cfg["default-runtime"] == WrapperRuntime
}

func readDaemonJSON(path string) (map[string]any, error) {
	cfg := map[string]any{}
	raw, err := os.ReadFile(path)
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
		return nil, fmt.Errorf("%s is not valid JSON: %w", path, err)
	}
	return cfg, nil
}

func buildWrapper(ctx context.Context, o Options) error {
	if err := os.MkdirAll(filepath.Dir(WrapperPath), 0o755); err != nil {
		return err
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", WrapperPath, o.WrapperSource)
	build.Dir, build.Stdout, build.Stderr = o.ModuleDir, o.Log, o.Log
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if err := build.Run(); err != nil {
		return fmt.Errorf("building the runc wrapper: %w", err)
	}
	return nil
}

// configureRuntime registers the wrapper as dockerd's default runtime,
// keeping every other daemon.json setting, after backing the file up (once:
// the backup is always the state before this tool's first change). It
// reports whether the configuration changed.
func configureRuntime(f files) (bool, error) {
	cfg, err := readDaemonJSON(f.daemonJSON)
	if err != nil {
		return false, err
	}
	if cfg["default-runtime"] == WrapperRuntime {
		return false, nil
	}
	if _, err := os.Stat(f.backup); errors.Is(err, os.ErrNotExist) {
		orig, err := os.ReadFile(f.daemonJSON)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, err
		}
		if err := os.MkdirAll(filepath.Dir(f.backup), 0o755); err != nil {
			return false, err
		}
		if err := os.WriteFile(f.backup, orig, 0o644); err != nil {
			return false, fmt.Errorf("backing up %s: %w", f.daemonJSON, err)
		}
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
	return true, os.WriteFile(f.daemonJSON, append(out, '\n'), 0o644)
}

// restoreRuntime puts daemon.json back as the backup has it (an empty backup:
// there was none) and removes the backup. It reports whether there was one.
func restoreRuntime(f files) (bool, error) {
	orig, err := os.ReadFile(f.backup)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if len(orig) == 0 {
		err = os.Remove(f.daemonJSON)
		if errors.Is(err, os.ErrNotExist) {
			err = nil
		}
	} else {
		err = os.WriteFile(f.daemonJSON, orig, 0o644)
	}
	if err != nil {
		return false, err
	}
	return true, os.Remove(f.backup)
}

// manager is who runs dockerd here.
type manager struct {
	systemd    bool // docker.service is a loaded systemd unit and systemd is PID 1
	pid        int  // the running dockerd, 0 if none
	ours       bool // pid is the dockerd this tool started (PIDFile)
	containers int  // containers running on it; -1 when docker ps could not say
}

func (m manager) String() string {
	switch {
	case m.systemd:
		return "dockerd managed by systemd (docker.service)"
	case m.pid == 0:
		return "no dockerd running"
	case m.ours:
		return fmt.Sprintf("dockerd pid %d, started by k8s-conformance", m.pid)
	}
	return fmt.Sprintf("dockerd pid %d, not started by k8s-conformance", m.pid)
}

func (m manager) logHint() string {
	if m.systemd {
		return "see journalctl -u docker.service"
	}
	return "see " + DaemonLog
}

func detectManager(ctx context.Context, f files) manager {
	var m manager
	if _, err := os.Stat("/run/systemd/system"); err == nil {
		out, err := exec.CommandContext(ctx, "systemctl", "show", "--property=LoadState", "--value", "docker.service").Output()
		m.systemd = err == nil && strings.TrimSpace(string(out)) == "loaded"
	}
	m.pid = runningDockerd()
	if raw, err := os.ReadFile(f.pidFile); err == nil && m.pid != 0 {
		m.ours = strings.TrimSpace(string(raw)) == strconv.Itoa(m.pid)
	}
	if m.pid != 0 {
		out, err := exec.CommandContext(ctx, "docker", "ps", "-q").Output()
		m.containers = len(strings.Fields(string(out)))
		if err != nil {
			m.containers = -1 // unknown is not "none": it may run someone's containers
		}
	}
	return m
}

// runningDockerd finds a dockerd process by its command name in /proc.
func runningDockerd() int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err == nil && strings.TrimSpace(string(comm)) == "dockerd" {
			return pid
		}
	}
	return 0
}

// stopPlan says how a running dockerd is stopped, and refuses where it is not
// ours to stop: a dockerd neither systemd nor this tool started, running
// containers, without DOCKERHOST_RESTART=1.
func stopPlan(m manager, allow bool, why string) (how, say string, err error) {
	switch {
	case m.systemd:
		return "systemctl", fmt.Sprintf("restarting docker.service through systemd %s; its %d running containers stop "+
			"(those with a restart policy come back)", why, m.containers), nil
	case m.pid == 0:
		return "", "", nil
	case m.ours:
		return "signal", fmt.Sprintf("restarting the dockerd this tool started (pid %d) %s", m.pid, why), nil
	case m.containers < 0 && !allow:
		return "", "", fmt.Errorf("dockerd (pid %d) was not started by k8s-conformance and docker ps could not say which containers it runs; it must restart %s. "+
			"Restart it yourself, or let this do it: %s=1 make docker", m.pid, why, EnvAllowRestart)
	case m.containers > 0 && !allow:
		return "", "", fmt.Errorf("dockerd (pid %d) was not started by k8s-conformance and runs %d containers; it must restart %s. "+
			"Restart it yourself, or let this do it: %s=1 make docker", m.pid, m.containers, why, EnvAllowRestart)
	}
	return "signal", fmt.Sprintf("stopping dockerd pid %d, which k8s-conformance did not start (%d containers running), %s; "+
		"it comes back as a dockerd of this tool's (log: %s)", m.pid, m.containers, why, DaemonLog), nil
}

func stop(ctx context.Context, m manager, logf func(string, ...any), why string) error {
	how, say, err := stopPlan(m, os.Getenv(EnvAllowRestart) == "1", why)
	if err != nil {
		return err
	}
	if how == "" {
		return nil
	}
	logf("%s", say)
	if how == "systemctl" {
		// A restart is a stop then a start; start() then finds it running.
		return run(ctx, io.Discard, "systemctl", "restart", "docker.service")
	}
	if err := syscall.Kill(m.pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stopping dockerd pid %d: %w", m.pid, err)
	}
	return poll.Until(ctx, poll.DockerStop, func(ctx context.Context) (bool, error) {
		return syscall.Kill(m.pid, 0) != nil, nil
	})
}

func start(ctx context.Context, m manager, logf func(string, ...any)) error {
	if m.systemd {
		logf("starting docker.service through systemd (log: journalctl -u docker.service)")
		return run(ctx, io.Discard, "systemctl", "start", "docker.service")
	}
	logf("starting dockerd (log: %s; PID in %s)", DaemonLog, PIDFile)
	return startDaemon(hostFiles)
}

func startDaemon(f files) error {
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
	if err := os.WriteFile(f.pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		return err
	}
	return cmd.Process.Release()
}

func run(ctx context.Context, w io.Writer, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}
