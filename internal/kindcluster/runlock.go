package kindcluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// A cluster's data directory (mounted at /mnt/data in every node) carries
// two files that tell a janitor whose cluster it is and whether that run is
// still alive, wherever the janitor runs:
//
//   - RunLockFile: the run holds an exclusive flock on it for as long as it
//     lives; the kernel drops the lock when the process ends, however it ends
//     (SIGKILL included). A janitor in the same mount sees the lock on the
//     host path; one in another container or PID namespace sees it through
//     the node's bind mount (docker exec ... flock), because a flock belongs
//     to the file, not to a PID namespace.
//   - RunRecordFile: the cluster name and the kubeconfig path, so whoever
//     removes the cluster also removes its kubeconfig and this directory.
const (
	RunLockFile   = ".todoconf-run.lock"
	RunRecordFile = ".todoconf-run.json"
	// NodeDataDir is where every node mounts the data directory.
	NodeDataDir = "/mnt/data"
	// UploadsDir is the seed PV's hostPath under NodeDataDir; the stubs run
	// as non-root, so it is world-writable.
	UploadsDir = "uploads"
)

// RunRecord is what RunRecordFile holds.
type RunRecord struct {
	Cluster    string `json:"cluster"`
	Kubeconfig string `json:"kubeconfig"`
}

// RunLock is the owning run's hold on its cluster's data directory.
type RunLock struct{ f *os.File }

// PrepareDataDir makes the data directory every creation path needs (the
// uploads directory writable by the stubs' non-root user, whatever the
// umask), takes the run lock and writes the run record. It fails if another
// live run holds the directory's lock.
func PrepareDataDir(dataDir string, rec RunRecord) (*RunLock, error) {
	uploads := filepath.Join(dataDir, UploadsDir)
	if err := os.MkdirAll(uploads, 0o777); err != nil {
		return nil, err
	}
	// MkdirAll applies the umask: make the mode what the PV needs.
	if err := os.Chmod(uploads, 0o777); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dataDir, RunLockFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data dir %s is held by another live run", dataDir)
		}
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	raw, err := json.Marshal(rec)
	if err == nil {
		err = os.WriteFile(filepath.Join(dataDir, RunRecordFile), raw, 0o644)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &RunLock{f: f}, nil
}

// Release drops the lock. Safe on nil and twice.
func (l *RunLock) Release() {
	if l == nil || l.f == nil {
		return
	}
	l.f.Close() // closing the only descriptor releases the flock
	l.f = nil
}

// Liveness is what a lock check learned about a cluster's run.
type Liveness int

const (
	// Unknown: the lock could not be looked at.
	Unknown Liveness = iota
	// Held: a live process holds the run lock.
	Held
	// Free: nobody holds it (or there is none: a run that never took it).
	Free
)

func (l Liveness) String() string {
	return [...]string{"unknown", "held", "free"}[l]
}

// LockState tests the run lock at path without waiting: a shared lock
// conflicts with the run's exclusive one, and two janitors testing at once
// do not conflict with each other. A missing file is Free.
func LockState(path string) (Liveness, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return Free, nil
	}
	if err != nil {
		return Unknown, err
	}
	defer f.Close()
	switch err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); {
	case err == nil:
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return Free, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		return Held, nil
	default:
		return Unknown, fmt.Errorf("flock %s: %w", path, err)
	}
}

// ReadRunRecord reads a data directory's run record.
func ReadRunRecord(dataDir string) (RunRecord, error) {
	var rec RunRecord
	raw, err := os.ReadFile(filepath.Join(dataDir, RunRecordFile))
	if err != nil {
		return rec, err
	}
	return rec, json.Unmarshal(raw, &rec)
}
