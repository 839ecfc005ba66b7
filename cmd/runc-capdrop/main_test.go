package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSubcommandSkipsGlobalFlags(t *testing.T) {
	cmd, rest := subcommand([]string{"--root", "/run/runc", "--log", "/x.log", "--log-format", "json", "--systemd-cgroup", "create", "--bundle", "/b", "id"})
	assert.Equal(t, "create", cmd)
	assert.Equal(t, "/b", flagValue(rest, "bundle", "b"))
	_, rest = subcommand([]string{"exec", "--process=/p.json", "id"})
	assert.Equal(t, "/p.json", flagValue(rest, "process", "p"))
}

func TestDropFromFileKeepsEverythingElse(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.json")
	in := `{"ociVersion":"1.0","process":{"args":["sh"],"capabilities":{"bounding":["CAP_CHOWN","CAP_SYS_RESOURCE"],"effective":["CAP_SYS_RESOURCE"]}}}`
	require.NoError(t, os.WriteFile(p, []byte(in), 0o600))
	require.NoError(t, dropFromFile(p, []string{"CAP_SYS_RESOURCE"}, true))
	var out struct {
		OCIVersion string `json:"ociVersion"`
		Process    struct {
			Args []string            `json:"args"`
			Caps map[string][]string `json:"capabilities"`
		} `json:"process"`
	}
	raw, err := os.ReadFile(p)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &out))
	assert.Equal(t, "1.0", out.OCIVersion)
	assert.Equal(t, []string{"sh"}, out.Process.Args)
	assert.Equal(t, []string{"CAP_CHOWN"}, out.Process.Caps["bounding"])
	assert.Empty(t, out.Process.Caps["effective"])
}
