// Package nodeimage builds a kind node image entirely from source: a Debian
// root filesystem from debootstrap, kind's base files, and every binary and
// container image compiled from the Go module proxy, named exactly as kubeadm
// and kind expect so that creating a cluster pulls nothing.
//
// The build runs in stages (Debian trees, Go binaries, component images, node
// image), each cached by a content key, and the final image is tagged with the
// key of the whole recipe: a second build with nothing changed is a lookup.
package nodeimage

import (
	"fmt"
	"strings"

	"github.com/puretasks/k8s-conformance/internal/kubeversion"
)

// Versions pins every upstream piece of the hermetic node image. This is the
// only place these versions live; image tags below are derived from them.
type Versions struct {
	Kubernetes string // k8s.io/kubernetes; staging modules use the matching v0.x.y
	Containerd string // github.com/containerd/containerd/v2 (kind v0.33.0's own pin)
	CriTools   string // sigs.k8s.io/cri-tools (crictl)
	CNIPlugins string // github.com/containernetworking/plugins
	Etcd       string // go.etcd.io/etcd/server/v3
	CoreDNS    string // github.com/coredns/coredns
	KubeRouter string // github.com/cloudnativelabs/kube-router/v2 (pod network; kindnetd is not served)

	// EtcdImageRevision is kubeadm's suffix on the etcd image tag ("3.6.8-0").
	EtcdImageRevision string
	// PauseTags are the pause image tags needed: kind's containerd
	// sandbox_image and the one kubeadm lists.
	PauseTags []string

	DebianSuite  string
	DebianMirror string
}

// Pinned is the recipe's version set.
var Pinned = Versions{
	Kubernetes:        kubeversion.Default.Version,
	Containerd:        "v2.3.4",
	CriTools:          "v1.36.0",
	CNIPlugins:        "v1.9.1",
	Etcd:              "v3.6.8",
	CoreDNS:           "v1.14.2",
	KubeRouter:        "v2.1.0",
	EtcdImageRevision: "0",
	PauseTags:         []string{"3.10", "3.10.2"},
	DebianSuite:       "bookworm",
	DebianMirror:      "http://deb.debian.org/debian",
}

// UpstreamNode is the published kind node image on the same Kubernetes minor,
// tried when a pull succeeds quickly.
var UpstreamNode = kubeversion.Default.Upstream

// recipeRevision changes whenever the build steps change in a way the
// versions do not show; it is part of the image's content key.
const recipeRevision = "7"

// ImageRepo is the repository of hermetic node images; the tag carries the
// Kubernetes version and the recipe's content key.
const ImageRepo = "k8s-conformance.local/kind-node"

// stagingVersion maps v1.36.3 to v0.36.3, the version of the staging modules
// (k8s.io/api, k8s.io/client-go, ...) released with that Kubernetes.
func (v Versions) stagingVersion() string {
	return "v0." + strings.TrimPrefix(v.Kubernetes, "v1.")
}

// kubeMinor returns "36" for v1.36.3.
func (v Versions) kubeMajorMinor() (string, string) {
	parts := strings.SplitN(strings.TrimPrefix(v.Kubernetes, "v"), ".", 3)
	if len(parts) < 2 {
		return "", ""
	}
	return parts[0], parts[1]
}

// Image references the node's containerd must hold, exactly as kubeadm lists
// them (`kubeadm config images list`) and as the node's manifests name them.
func (v Versions) controlPlaneImage(component string) string {
	return fmt.Sprintf("registry.k8s.io/%s:%s", component, v.Kubernetes)
}
func (v Versions) etcdImage() string {
	return fmt.Sprintf("registry.k8s.io/etcd:%s-%s", strings.TrimPrefix(v.Etcd, "v"), v.EtcdImageRevision)
}
func (v Versions) coreDNSImage() string {
	return "registry.k8s.io/coredns/coredns:" + v.CoreDNS
}
func (v Versions) pauseImages() []string {
	var refs []string
	for _, t := range v.PauseTags {
		refs = append(refs, "registry.k8s.io/pause:"+t)
	}
	return refs
}

// KubeRouterImage is the pod-network image the node's default CNI manifest runs.
func (v Versions) KubeRouterImage() string {
	return "k8s-conformance.local/kube-router:" + v.KubeRouter
}
