package live

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The pipe: "done" means the run cleaned up; the end of the pipe without it
// means the run died, with what it had announced.
func TestReadReaperPipe(t *testing.T) {
	st, clean := ReadReaperPipe(strings.NewReader("cluster\ttodoconf-1-ab\t/k\t/d\nnamespace\ttodo-app\ndone\n"))
	assert.False(t, clean)
	assert.Equal(t, "todoconf-1-ab", st.Cluster)

	st, clean = ReadReaperPipe(strings.NewReader("existing\t/kc\nnamespace\ttodo-app\nnamespace\tscale-check\npv\tbackend-uploads-pv\n"))
	assert.True(t, clean, "EOF without done: the run died")
	assert.Equal(t, ReaperState{Existing: "/kc", Namespaces: []string{"todo-app", "scale-check"}, PVs: []string{"backend-uploads-pv"}}, st)

	st, _ = ReadReaperPipe(strings.NewReader("existing\t/kc\tkind-dev\n"))
	assert.Equal(t, ReaperState{Existing: "/kc", Context: "kind-dev"}, st, "the --context of the run is the reaper's too")
}

// D17: the reaper is a real process that outlives the run. Told "done", it
// exits and removes nothing.
func TestReaperToldDoneRemovesNothing(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	require.NoError(t, os.Mkdir(data, 0o755))
	r, err := StartReaper()
	require.NoError(t, err)
	r.Cluster("todoconf-0-unit", filepath.Join(dir, "kubeconfig"), data)
	require.NoError(t, r.Done())
	assert.DirExists(t, data)
}

// D17: when the run's end of the pipe closes without "done" (what any death
// of the run looks like to the reaper), the reaper deletes the cluster, its
// kubeconfig and its data dir. Needs Docker (kind's delete lists containers).
func TestReaperCleansUpAfterARunThatDied(t *testing.T) {
	if exec.Command("docker", "version").Run() != nil {
		t.Skip("no Docker engine here: the reaper's kind delete needs one (covered by the live run's kill -9 proof)")
	}
	dir := t.TempDir()
	data, kubeconfig := filepath.Join(dir, "data"), filepath.Join(dir, "kubeconfig")
	require.NoError(t, os.MkdirAll(filepath.Join(data, "uploads"), 0o755))
	require.NoError(t, os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600))
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), ReaperEnv+"=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	w, err := cmd.StdinPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	_, err = w.Write([]byte("cluster\ttodoconf-0-unit\t" + kubeconfig + "\t" + data + "\n"))
	require.NoError(t, err)
	require.NoError(t, w.Close()) // the run "dies"
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, out.String())
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("reaper did not finish: %s", out.String())
	}
	assert.NoDirExists(t, data)
	assert.NoFileExists(t, kubeconfig)
	assert.Contains(t, out.String(), "ended without cleaning up")
	assert.Contains(t, out.String(), "cleanup complete")
}

// A run that died before it created anything leaves the reaper nothing to do.
func TestReaperWithNothingAnnounced(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.CommandContext(context.Background(), exe)
	cmd.Env = append(os.Environ(), ReaperEnv+"=1")
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err)
	assert.Contains(t, string(out), "nothing to remove")
}
