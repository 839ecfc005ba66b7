package kindcluster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Leftover is a cluster with this project's name prefix and the run that
// owns it, read from its name.
type Leftover struct {
	Name string
	// PID is the owning run's process; 0 when the name carries none (such a
	// cluster is treated as ownerless).
	PID int
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

// host is what the guard needs from the machine; tests replace it.
type host struct {
	list   func() ([]string, error)
	delete func(name string) error
	alive  func(pid int) bool
	self   int
}

func dockerHost() host {
	return host{
		list:   func() ([]string, error) { return provider().List() },
		delete: func(name string) error { return provider().Delete(name, "") },
		alive:  processAlive,
		self:   os.Getpid(),
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
// whose name has this project's prefix, unless the run whose PID its name
// carries is still alive. Those it leaves alone, says so on log, and returns,
// so a caller that needs the host to itself can refuse to go on.
//
// A cluster carrying this process's own PID counts as a leftover: that PID
// belonged to a run that is gone before it was reused for us, so call this
// before creating your own cluster. A name without a PID (older runs) is
// ownerless and removed. The guard is only as good as the PID: a dead run's
// PID reused by an unrelated process keeps its cluster until that exits.
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
		l := Leftover{Name: name}
		l.PID, _ = OwnerPID(name)
		if l.PID != 0 && l.PID != h.self && h.alive(l.PID) {
			fmt.Fprintf(log, "kindcluster: leaving cluster %s alone: its run (pid %d) is alive\n", name, l.PID)
			live = append(live, l)
			continue
		}
		fmt.Fprintf(log, "kindcluster: removing cluster %s, left by a run that is gone\n", l)
		if err := h.delete(name); err != nil {
			errs = append(errs, fmt.Errorf("deleting leftover cluster %s: %w", name, err))
		}
	}
	return live, errors.Join(errs...)
}
