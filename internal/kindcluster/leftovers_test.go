package kindcluster

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeHost records deletions; alive answers from a set of PIDs.
type fakeHost struct {
	names   []string
	alive   map[int]bool
	deleted []string
	failOn  string
}

func (f *fakeHost) host(self int) host {
	return host{
		list: func() ([]string, error) { return f.names, nil },
		delete: func(name string) error {
			if name == f.failOn {
				return errors.New("docker said no")
			}
			f.deleted = append(f.deleted, name)
			return nil
		},
		alive: func(pid int) bool { return f.alive[pid] },
		self:  self,
	}
}

func TestDeleteLeftoversSparesLiveRuns(t *testing.T) {
	f := &fakeHost{
		names: []string{"todoconf-4242-9c1e", "todoconf-5151-smoke", "todoconf-777-ab12", "todoconf-1a2b3c", "todo-dev", "kind"},
		alive: map[int]bool{4242: true, 777: true},
	}
	var log bytes.Buffer
	live, err := deleteLeftovers(&log, f.host(777))
	require.NoError(t, err)
	assert.Equal(t, []Leftover{{Name: "todoconf-4242-9c1e", PID: 4242}}, live, "a live run's cluster is left alone and returned")
	assert.Equal(t, []string{"todoconf-5151-smoke", "todoconf-777-ab12", "todoconf-1a2b3c"}, f.deleted,
		"dead run, our own (reused) PID and a name without a PID are removed; other clusters untouched")
	assert.Contains(t, log.String(), "leaving cluster todoconf-4242-9c1e alone: its run (pid 4242) is alive")
	assert.Contains(t, log.String(), "removing cluster todoconf-5151-smoke (run pid 5151), left by a run that is gone")
	assert.NotContains(t, log.String(), "todo-dev")
}

func TestDeleteLeftoversReportsEveryFailure(t *testing.T) {
	f := &fakeHost{names: []string{"todoconf-1-a", "todoconf-2-b"}, failOn: "todoconf-1-a"}
	_, err := deleteLeftovers(&bytes.Buffer{}, f.host(99))
	assert.ErrorContains(t, err, "deleting leftover cluster todoconf-1-a: docker said no")
	assert.Equal(t, []string{"todoconf-2-b"}, f.deleted, "one failure does not stop the rest")

	h := f.host(99)
	h.list = func() ([]string, error) { return nil, errors.New("docker is down") }
	_, err = deleteLeftovers(&bytes.Buffer{}, h)
	assert.ErrorContains(t, err, "listing kind clusters: docker is down")
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
