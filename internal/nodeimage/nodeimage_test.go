package nodeimage

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestKindSystemdPrune(t *testing.T) {
	pruned := []string{
		"usr/lib/systemd/system/multi-user.target.wants/getty.target",
		"usr/lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service",
		"usr/lib/systemd/system/sockets.target.wants/systemd-udevd-control.socket",
		"etc/systemd/system/multi-user.target.wants/iscsi.service",
		"var/lib/apt/lists/deb.debian.org_dists",
	}
	kept := []string{
		"usr/lib/systemd/system/sysinit.target.wants/systemd-journald.service",
		"usr/lib/systemd/system/sockets.target.wants/systemd-journald.socket",
		"etc/systemd/system/iscsi.service",
		"usr/lib/systemd/system/multi-user.target.wants",
	}
	for _, p := range pruned {
		assert.True(t, kindSystemdPrune(p), p)
	}
	for _, p := range kept {
		assert.False(t, kindSystemdPrune(p), p)
	}
}

func TestContentKeyFollowsVersions(t *testing.T) {
	a := contentKey(Pinned)
	v := Pinned
	v.Kubernetes = "v1.36.4"
	assert.NotEqual(t, a, contentKey(v))
	assert.Equal(t, a, contentKey(Pinned))
	assert.Len(t, a, 12)
}

func TestImageNamesFollowKubeadmConventions(t *testing.T) {
	assert.Equal(t, "registry.k8s.io/etcd:3.6.8-0", Pinned.etcdImage())
	assert.Equal(t, "registry.k8s.io/kube-apiserver:v1.36.3", Pinned.controlPlaneImage("kube-apiserver"))
	assert.Equal(t, "v0.36.3", Pinned.stagingVersion())
	major, minor := Pinned.kubeMajorMinor()
	assert.Equal(t, []string{"1", "36"}, []string{major, minor})
}

func TestParseSource(t *testing.T) {
	for _, ok := range []string{"", "auto", "hermetic", "upstream"} {
		_, err := ParseSource(ok)
		assert.NoError(t, err, ok)
	}
	_, err := ParseSource("registry")
	assert.ErrorContains(t, err, "unknown node image source")
}
