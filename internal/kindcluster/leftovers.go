package kindcluster

import (
	"context"
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
)

// Leftover is a cluster with this project's name prefix and what is known
// about the run that owns it.
type Leftover struct {
	Name string
	// PID is the owning run's process as its name carries it; 0 when the
	// name carries none. It is a hint for people: liveness is decided by the
	// run lock (runlock.go), which holds across PID namespaces.
	PID int
	// Lock is what the run-lock check found.
	Lock Liveness
	// DataDir is the node-side data directory's host path (from the node
	// container's /mnt/data mount), "" when no node container shows one.
	DataDir string
	// Kubeconfig is the path the run record names, "" when unknown.
	Kubeconfig string
}

func (l Leftover) String() string {
	if l.PID == 0 {
		return l.Name + " (no owner PID in its name)"
	}
	return fmt.Sprintf("%s (run pid %d)", l.Name, l.PID)
}

// OwnerPID reads the PID a cluster name carries (todoconf-<pid>-<suffix>, see
// NameFor).
func OwnerPID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, NamePrefix)
	if !ok {
		return 0, false
	}
	pidText, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}

// host is what the janitor needs from the machine; tests replace it.
type host struct {
	list func() ([]string, error)
	// inspect finds the cluster's data dir and what its run lock says.
	inspect func(name string) Leftover
	// remove deletes the cluster, its kubeconfig and its data dir.
	remove func(l Leftover) error
	alive  func(pid int) bool
	self   int
}

func dockerHost() host {
	return host{
		list:    func() ([]string, error) { return provider().List() },
		inspect: inspectCluster,
		remove: func(l Leftover) error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			return Remove(ctx, l.Name, l.Kubeconfig, l.DataDir)
		},
		alive: processAlive,
		self:  os.Getpid(),
	}
}

// processAlive: signal 0 checks that the process exists without touching it;
// EPERM means it exists but belongs to someone else.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// DeleteLeftovers is the one path that removes clusters earlier runs left
// behind (crashed, killed, or kept with E2E_KEEP_CLUSTER): every kind cluster
// whose name has this project's prefix, with its kubeconfig and data
// directory, unless its run is alive. Those it leaves alone, says so on log,
// and returns, so a caller that needs the host to itself can refuse to go on.
//
// A run is alive while it holds its run lock (runlock.go): the kernel keeps
// an flock exactly as long as the holder lives, in whatever container or PID
// namespace it runs, so neither a PID reused by an unrelated process nor a
// run whose PIDs this janitor cannot see fool it. The lock is looked at
// through the node's mount (docker exec) and through the host path when this
// process can see it; held in either view is alive. Only when neither view
// can be had (no node container runs and the data dir is not here) does the
// PID in the name decide, as before.
func DeleteLeftovers(log io.Writer) (live []Leftover, err error) {
	return deleteLeftovers(log, dockerHost())
}

func deleteLeftovers(log io.Writer, h host) ([]Leftover, error) {
	names, err := h.list()
	if err != nil {
		return nil, fmt.Errorf("listing kind clusters: %w", err)
	}
	var live []Leftover
	var errs []error
	for _, name := range names {
		if !strings.HasPrefix(name, NamePrefix) {
			continue
		}
		l := h.inspect(name)
		l.Name = name
		l.PID, _ = OwnerPID(name)
		switch {
		case l.Lock == Held:
			fmt.Fprintf(log, "kindcluster: leaving cluster %s alone: its run holds its run lock\n", l)
			live = append(live, l)
			continue
		case l.Lock == Unknown && l.PID != 0 && l.PID != h.self && h.alive(l.PID):
			fmt.Fprintf(log, "kindcluster: leaving cluster %s alone: its run lock cannot be seen and pid %d is alive\n", l, l.PID)
			live = append(live, l)
			continue
		}
		fmt.Fprintf(log, "kindcluster: removing cluster %s (run lock %s), left by a run that is gone\n", l, l.Lock)
		if err := h.remove(l); err != nil {
			errs = append(errs, fmt.Errorf("deleting leftover cluster %s: %w", name, err))
		}
	}
	return live, errors.Join(errs...)
}

// inspectCluster finds a cluster's data dir through its node containers'
// mounts and asks its run lock, through the node and through the host path.
func inspectCluster(name string) Leftover {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := Leftover{Name: name}
	var views []Liveness
	nodes, err := nodeContainers(ctx, name, false)
	if err != nil {
		// Docker could not say which nodes the cluster has: its run cannot be
		// judged gone, so it counts as live and is left alone.
		views = append(views, Held)
	}
	for _, n := range nodes {
		if l.DataDir == "" {
			l.DataDir = mountSource(ctx, n, NodeDataDir)
		}
	}
	running, err := nodeContainers(ctx, name, true)
	switch {
	case err != nil:
		views = append(views, Held)
	case len(running) > 0:
		views = append(views, nodeLockState(ctx, running[0]))
	}
	if l.DataDir != "" {
		var local Liveness
		l.DataDir, l.Kubeconfig, local = localView(name, l.DataDir)
		views = append(views, local)
	}
	l.Lock = combine(views)
	return l
}

// localView reads a cluster's data dir through this process's file system:
// the dir and kubeconfig to remove with the cluster, and the run lock's state.
// The host path counts only when its record names this cluster: a path this
// process cannot see, or one that is another directory here (another
// container's file system), says nothing (Unknown), and is not ours to remove.
func localView(name, dataDir string) (dir, kubeconfig string, lock Liveness) {
	rec, err := ReadRunRecord(dataDir)
	if err != nil || rec.Cluster != name {
		return "", "", Unknown
	}
	lock, _ = LockState(filepath.Join(dataDir, RunLockFile))
	// Only a kubeconfig file by its usual name is removed on the record's word.
	if filepath.IsAbs(rec.Kubeconfig) && strings.HasPrefix(filepath.Base(rec.Kubeconfig), "kubeconfig") {
		kubeconfig = rec.Kubeconfig
	}
	return dataDir, kubeconfig, lock
}

// combine merges the views of one lock: held in any view is held (a view
// through a filesystem that does not pass locks on says free); free needs
// every view that answered to say so.
func combine(views []Liveness) Liveness {
	out := Unknown
	for _, v := range views {
		switch v {
		case Held:
			return Held
		case Free:
			out = Free
		}
	}
	return out
}

// nodeLockState asks a node container whether the run lock on its
// /mnt/data is held: flock(1) exits 75 (-E) when it is, 0 when it is not.
func nodeLockState(ctx context.Context, container string) Liveness {
	const conflict = 75
	err := exec.CommandContext(ctx, "docker", "exec", container,
		"flock", "-n", "-s", "-E", strconv.Itoa(conflict), NodeDataDir+"/"+RunLockFile, "true").Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return Free
	case errors.As(err, &ee) && ee.ExitCode() == conflict:
		return Held
	default:
		return Unknown
	}
}

// nodeContainers lists a kind cluster's node containers (running only, or all).
func nodeContainers(ctx context.Context, cluster string, running bool) ([]string, error) {
	args := []string{"ps", "-a", "--filter", "label=" + ClusterLabel + "=" + cluster, "--format", "{{.Names}}"}
	if running {
		args = append(args, "--filter", "status=running")
	}
	out, err := exec.CommandContext(ctx, "docker", args...).Output()
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(out)), nil
}

// mountSource is the host path mounted at dest in a container, or "".
func mountSource(ctx context.Context, container, dest string) string {
	out, err := exec.CommandContext(ctx, "docker", "inspect", "--format",
		`{{range .Mounts}}{{if eq .Destination "`+dest+`"}}{{.Source}}{{end}}{{end}}`, container).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// ClusterLabel is the label kind puts on every node container.
const ClusterLabel = "io.x-k8s.kind.cluster"
