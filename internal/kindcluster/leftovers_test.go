package kindcluster

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeHost records removals; locks and alive answer from maps.
type fakeHost struct {
	names   []string
	locks   map[string]Liveness
	alive   map[int]bool
	removed []string
	failOn  string
}

func (f *fakeHost) host(self int) host {
	return host{
		list:    func() ([]string, error) { return f.names, nil },
		inspect: func(name string) Leftover { return Leftover{Lock: f.locks[name]} },
		remove: func(l Leftover) error {
			if l.Name == f.failOn {
				return errors.New("docker said no")
			}
			f.removed = append(f.removed, l.Name)
			return nil
		},
		alive: func(pid int) bool { return f.alive[pid] },
		self:  self,
	}
}

func TestDeleteLeftoversDecidesByTheRunLock(t *testing.T) {
	f := &fakeHost{
		names: []string{"todoconf-4242-9c1e", "todoconf-5151-smoke", "todoconf-777-ab12", "todoconf-1a2b3c", "todoconf-31-held", "todo-dev", "kind"},
		locks: map[string]Liveness{
			"todoconf-4242-9c1e":  Free,    // its PID is alive here, but that process holds no lock: reused
			"todoconf-5151-smoke": Free,    // dead
			"todoconf-777-ab12":   Unknown, // no view of the lock; PID 777 is ourselves: reused
			"todoconf-1a2b3c":     Unknown, // no view, no PID in the name
			"todoconf-31-held":    Held,    // PID 31 is nobody here: a run in another PID namespace
		},
		alive: map[int]bool{4242: true, 777: true},
	}
	var log bytes.Buffer
	live, err := deleteLeftovers(&log, f.host(777))
	require.NoError(t, err)
	assert.Equal(t, []Leftover{{Name: "todoconf-31-held", PID: 31, Lock: Held}}, live, "a held lock is a live run whatever its PID says")
	assert.Equal(t, []string{"todoconf-4242-9c1e", "todoconf-5151-smoke", "todoconf-777-ab12", "todoconf-1a2b3c"}, f.removed,
		"a free lock is a gone run even with its PID alive (reused); without a view the PID decides")
	assert.Contains(t, log.String(), "leaving cluster todoconf-31-held (run pid 31) alone: its run holds its run lock")
	assert.Contains(t, log.String(), "removing cluster todoconf-4242-9c1e (run pid 4242) (run lock free), left by a run that is gone")
	assert.NotContains(t, log.String(), "todo-dev")
}

func TestDeleteLeftoversFallsBackToThePIDWithoutAView(t *testing.T) {
	f := &fakeHost{names: []string{"todoconf-4242-9c1e"}, locks: map[string]Liveness{"todoconf-4242-9c1e": Unknown}, alive: map[int]bool{4242: true}}
	live, err := deleteLeftovers(&bytes.Buffer{}, f.host(1))
	require.NoError(t, err)
	assert.Len(t, live, 1, "no lock view and the named PID alive: left alone")
	assert.Empty(t, f.removed)
}

func TestDeleteLeftoversReportsEveryFailure(t *testing.T) {
	f := &fakeHost{names: []string{"todoconf-1-a", "todoconf-2-b"}, failOn: "todoconf-1-a"}
	_, err := deleteLeftovers(&bytes.Buffer{}, f.host(99))
	assert.ErrorContains(t, err, "deleting leftover cluster todoconf-1-a: docker said no")
	assert.Equal(t, []string{"todoconf-2-b"}, f.removed, "one failure does not stop the rest")

	h := f.host(99)
	h.list = func() ([]string, error) { return nil, errors.New("docker is down") }
	_, err = deleteLeftovers(&bytes.Buffer{}, h)
	assert.ErrorContains(t, err, "listing kind clusters: docker is down")
}

// holdEnv makes this test binary a lock holder (TestMain): it prepares the
// data dir named in the variable, prints "held", and waits to be killed.
const holdEnv = "KINDCLUSTER_TEST_HOLD_DATA_DIR"

// holder starts another process that holds dir's run lock for name. Its PID
// is not the one the name carries (as for a run in another PID namespace,
// whose PIDs mean nothing here).
func holder(t *testing.T, dir, name, kubeconfig string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdEnv+"="+dir, "KINDCLUSTER_TEST_HOLD_NAME="+name, "KINDCLUSTER_TEST_HOLD_KUBECONFIG="+kubeconfig)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "held\n", line)
	return cmd
}

func TestMain(m *testing.M) {
	if dir := os.Getenv(holdEnv); dir != "" {
		if _, err := PrepareDataDir(dir, RunRecord{Cluster: os.Getenv("KINDCLUSTER_TEST_HOLD_NAME"), Kubeconfig: os.Getenv("KINDCLUSTER_TEST_HOLD_KUBECONFIG")}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("held")
		select {} // until killed
	}
	os.Exit(m.Run())
}

// TestJanitorSparesALockHeldByAnotherProcess runs the real local view on a
// real lock: held by another process whose PID is not in the cluster's name
// (the name's PID is one no process here has) the cluster is live; once that
// process is SIGKILLed the lock is free, and removal takes the cluster's
// kubeconfig and data directory with it.
func TestJanitorSparesALockHeldByAnotherProcess(t *testing.T) {
	build := t.TempDir()
	name := NameFor(1<<22+1, "other-ns") // above pid_max's default: nobody here
	dataDir := filepath.Join(build, name+"-data")
	kubeconfig := filepath.Join(build, "kubeconfig-"+name)
	require.NoError(t, os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600))
	proc := holder(t, dataDir, name, kubeconfig)
	require.NoError(t, os.WriteFile(filepath.Join(dataDir, UploadsDir, "a-file"), []byte("x"), 0o644))

	var removed []Leftover
	h := host{
		list: func() ([]string, error) { return []string{name}, nil },
		inspect: func(n string) Leftover {
			var l Leftover
			l.DataDir, l.Kubeconfig, l.Lock = localView(n, dataDir)
			return l
		},
		remove: func(l Leftover) error { removed = append(removed, l); return removeFiles(l.Kubeconfig, l.DataDir) },
		alive:  processAlive,
		self:   os.Getpid(),
	}
	_, err := PrepareDataDir(dataDir, RunRecord{Cluster: name, Kubeconfig: kubeconfig})
	assert.ErrorContains(t, err, "held by another live run", "a second run cannot take a held data dir")

	live, err := deleteLeftovers(&bytes.Buffer{}, h)
	require.NoError(t, err)
	require.Len(t, live, 1)
	assert.Equal(t, Held, live[0].Lock)
	assert.Empty(t, removed, "a lock held by a live process in any PID namespace keeps the cluster")
	assert.DirExists(t, dataDir)

	require.NoError(t, proc.Process.Kill()) // SIGKILL: no cleanup of its own
	_ = proc.Wait()
	live, err = deleteLeftovers(&bytes.Buffer{}, h)
	require.NoError(t, err)
	assert.Empty(t, live)
	require.Len(t, removed, 1)
	assert.Equal(t, Leftover{Name: name, PID: 1<<22 + 1, Lock: Free, DataDir: dataDir, Kubeconfig: kubeconfig}, removed[0])
	assert.NoDirExists(t, dataDir, "the leftover's data dir goes with it")
	assert.NoFileExists(t, kubeconfig, "the leftover's kubeconfig goes with it")
}

func TestLocalViewIgnoresADirOfAnotherCluster(t *testing.T) {
	dir := t.TempDir()
	lock, err := PrepareDataDir(dir, RunRecord{Cluster: "todoconf-1-a", Kubeconfig: "/etc/passwd"})
	require.NoError(t, err)
	defer lock.Release()
	d, k, st := localView("todoconf-2-b", dir)
	assert.Equal(t, "", d, "another cluster's dir is not removed with this one")
	assert.Equal(t, "", k)
	assert.Equal(t, Unknown, st)
	d, k, st = localView("todoconf-1-a", dir)
	assert.Equal(t, dir, d)
	assert.Equal(t, "", k, "a record naming a file that is no kubeconfig is not followed")
	assert.Equal(t, Held, st, "our own open lock is a separate open file: seen as held")
	lock.Release()
	_, _, st = localView("todoconf-1-a", dir)
	assert.Equal(t, Free, st)
}

func TestPrepareDataDirMakesUploadsWritable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	lock, err := PrepareDataDir(dir, RunRecord{Cluster: "todoconf-1-a"})
	require.NoError(t, err)
	defer lock.Release()
	fi, err := os.Stat(filepath.Join(dir, UploadsDir))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o777), fi.Mode().Perm(), "the stubs' non-root user writes the PV's hostPath whatever the umask")
}

func TestCombineViews(t *testing.T) {
	assert.Equal(t, Unknown, combine(nil))
	assert.Equal(t, Free, combine([]Liveness{Unknown, Free}))
	assert.Equal(t, Held, combine([]Liveness{Free, Held}), "held in any view is held (a bind mount that does not pass locks on says free)")
}

// TestRemoveTakesFilesOfAClusterWithNoContainers uses docker: Remove on a
// cluster without containers still removes its kubeconfig and data dir.
func TestRemoveTakesFilesOfAClusterWithNoContainers(t *testing.T) {
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Skip("no Docker engine here")
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	kc := filepath.Join(dir, "kubeconfig-x")
	require.NoError(t, os.MkdirAll(filepath.Join(data, UploadsDir), 0o755))
	require.NoError(t, os.WriteFile(kc, []byte("x"), 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, Remove(ctx, NameFor(1<<22+2, "none"), kc, data))
	assert.NoDirExists(t, data)
	assert.NoFileExists(t, kc)
}

// TestProcessAliveWithRealProcesses uses this process and a child that has
// exited and been reaped.
func TestProcessAliveWithRealProcesses(t *testing.T) {
	assert.True(t, processAlive(os.Getpid()))
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	assert.False(t, processAlive(cmd.Process.Pid), "a reaped child is gone")
}

func TestNamesCarryTheOwnerPID(t *testing.T) {
	name := NewName()
	assert.True(t, strings.HasPrefix(name, NamePrefix))
	pid, ok := OwnerPID(name)
	assert.True(t, ok)
	assert.Equal(t, os.Getpid(), pid)
	for name, want := range map[string]int{"todoconf-12-smoke": 12, "todoconf-12-ab-cd": 12, "todoconf-abc": 0, "todoconf-x-1": 0, "todo-dev": 0, "todoconf--1": 0} {
		got, _ := OwnerPID(name)
		assert.Equal(t, want, got, name)
	}
}
