package dockerhost

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func tempFiles(t *testing.T) files {
	dir := t.TempDir()
	return files{daemonJSON: filepath.Join(dir, "daemon.json"), backup: filepath.Join(dir, "daemon.json.before"), pidFile: filepath.Join(dir, "pid")}
}

// The wrapper is added beside the owner's settings, the owner's file is kept
// as it was, and Undo brings it back byte for byte.
func TestConfigureRuntimeKeepsABackupAndUndoRestoresIt(t *testing.T) {
	f := tempFiles(t)
	orig := []byte("{\n  \"log-driver\": \"journald\",\n  \"runtimes\": {\"nvidia\": {\"path\": \"nvidia-container-runtime\"}}\n}\n")
	require.NoError(t, os.WriteFile(f.daemonJSON, orig, 0o644))

	changed, err := configureRuntime(f)
	require.NoError(t, err)
	assert.True(t, changed)
	assert.True(t, wrapperConfigured(f))
	cfg, err := readDaemonJSON(f.daemonJSON)
	require.NoError(t, err)
	assert.Equal(t, "journald", cfg["log-driver"])
	assert.Contains(t, cfg["runtimes"], "nvidia")
	assert.Contains(t, cfg["runtimes"], WrapperRuntime)
	backup, err := os.ReadFile(f.backup)
	require.NoError(t, err)
	assert.Equal(t, orig, backup)

	changed, err = configureRuntime(f)
	require.NoError(t, err)
	assert.False(t, changed, "already configured: no change, no restart")

	restored, err := restoreRuntime(f)
	require.NoError(t, err)
	assert.True(t, restored)
	now, err := os.ReadFile(f.daemonJSON)
	require.NoError(t, err)
	assert.Equal(t, orig, now)
	assert.NoFileExists(t, f.backup)

	restored, err = restoreRuntime(f)
	require.NoError(t, err)
	assert.False(t, restored, "nothing left to undo")
}

// Where there was no daemon.json, Undo removes the one Ensure wrote.
func TestUndoRemovesADaemonJSONThatWasNotThere(t *testing.T) {
	f := tempFiles(t)
	_, err := configureRuntime(f)
	require.NoError(t, err)
	assert.FileExists(t, f.daemonJSON)
	restored, err := restoreRuntime(f)
	require.NoError(t, err)
	assert.True(t, restored)
	assert.NoFileExists(t, f.daemonJSON)
}

func TestConfigureRuntimeRefusesABrokenDaemonJSON(t *testing.T) {
	f := tempFiles(t)
	require.NoError(t, os.WriteFile(f.daemonJSON, []byte("{broken"), 0o644))
	_, err := configureRuntime(f)
	assert.ErrorContains(t, err, "is not valid JSON")
	assert.NoFileExists(t, f.backup)
}

func TestStopPlan(t *testing.T) {
	how, say, err := stopPlan(manager{systemd: true, pid: 10, containers: 3}, false, "to pick up the runtime configuration")
	require.NoError(t, err)
	assert.Equal(t, "systemctl", how)
	assert.Contains(t, say, "restarting docker.service through systemd to pick up the runtime configuration; its 3 running containers stop")

	how, say, err = stopPlan(manager{pid: 10, ours: true, containers: 3}, false, "x")
	require.NoError(t, err)
	assert.Equal(t, "signal", how)
	assert.Contains(t, say, "the dockerd this tool started (pid 10)")

	_, _, err = stopPlan(manager{pid: 10, containers: 2}, false, "to pick up the runtime configuration")
	assert.ErrorContains(t, err, "dockerd (pid 10) was not started by k8s-conformance and runs 2 containers")
	assert.ErrorContains(t, err, "DOCKERHOST_RESTART=1 make docker")

	how, say, err = stopPlan(manager{pid: 10, containers: 2}, true, "x")
	require.NoError(t, err)
	assert.Equal(t, "signal", how)
	assert.Contains(t, say, "stopping dockerd pid 10, which k8s-conformance did not start (2 containers running)")

	_, _, err = stopPlan(manager{pid: 10, containers: -1}, false, "x")
	assert.ErrorContains(t, err, "docker ps could not say which containers it runs", "an unknown count is not an idle dockerd")

	how, say, err = stopPlan(manager{pid: 10}, false, "x")
	require.NoError(t, err, "an idle foreign dockerd is restarted, saying so")
	assert.Equal(t, "signal", how)
	assert.Contains(t, say, "which k8s-conformance did not start (0 containers running)")

	how, _, err = stopPlan(manager{}, false, "x")
	require.NoError(t, err)
	assert.Empty(t, how, "nothing running, nothing to stop")
}
