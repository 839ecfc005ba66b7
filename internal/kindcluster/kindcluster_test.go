package kindcluster

import (
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/internal/manifests"
)

func fixture(t *testing.T, name string) string {
	root, err := manifests.ModuleRoot()
	require.NoError(t, err)
	return filepath.Join(root, "fixtures", "kind", name)
}

func TestFixtureConfigs(t *testing.T) {
	for _, tc := range []struct {
		file  string
		nodes int
	}{{"single-node.yaml", 1}, {"multi-node.yaml", 5}} {
		t.Run(tc.file, func(t *testing.T) {
			cfg, err := LoadConfig(fixture(t, tc.file), "/data/run-1")
			require.NoError(t, err)
			require.Len(t, cfg.Nodes, tc.nodes)
			assert.Equal(t, []string{"127.0.0.1:30000"}, HostPorts(cfg), "NodePort 30000 on loopback only")
			for _, n := range cfg.Nodes {
				var paths []string
				for _, m := range n.ExtraMounts {
					paths = append(paths, m.HostPath+"->"+m.ContainerPath)
					assert.True(t, filepath.IsAbs(m.HostPath), m.HostPath)
				}
				assert.Contains(t, paths, "/data/run-1->/mnt/data", "the PV's hostPath is backed by the run's host directory")
			}
			joined := strings.Join(cfg.KubeadmConfigPatches, "\n")
			assert.Contains(t, joined, "failCgroupV1: false")
			assert.Contains(t, joined, "directory: /kind/kubeadm-patches")
			patches := cfg.Nodes[0].ExtraMounts[1].HostPath
			assert.FileExists(t, filepath.Join(patches, "kube-apiserver+json.yaml"))
		})
	}
	_, err := LoadConfig(fixture(t, "missing.yaml"), "/x")
	assert.Error(t, err)
}

func TestPreflightPortsNamesTheTakenPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	cfg, err := LoadConfig(fixture(t, "single-node.yaml"), "/x")
	require.NoError(t, err)
	_, port, _ := net.SplitHostPort(l.Addr().String())
	var p int32
	for _, c := range port {
		p = p*10 + int32(c-'0')
	}
	cfg.Nodes[0].ExtraPortMappings[0].HostPort = p
	err = PreflightPorts(cfg)
	assert.ErrorContains(t, err, "host port 127.0.0.1:"+port+" is already in use")
}
