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
	"maps"
	"slices"
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

// common are the pins every Kubernetes release shares: kind v0.33.0's own
// containerd and CNI plugins, the pod network, and the Debian the trees come
// from. A second release's build reuses their cached binaries and trees.
var common = Versions{
	Containerd:        "v2.3.4",
	CNIPlugins:        "v1.9.1",
	KubeRouter:        "v2.1.0",
	EtcdImageRevision: "0",
	DebianSuite:       "bookworm",
	DebianMirror:      "http://deb.debian.org/debian",
}

// kindSandboxPause is the pause tag kind's containerd config names
// (sandbox_image in images/base/files/etc/containerd/config.toml).
const kindSandboxPause = "3.10"

// releasePins is what changes with the Kubernetes release.
type releasePins struct {
	// CriTools is crictl of the release's minor where the module proxy
	// serves one.
	CriTools string
	// Etcd, CoreDNS and Pause are what kubeadm of the release lists
	// (cmd/kubeadm/app/constants/constants.go: SupportedEtcdVersion and
	// DefaultEtcdVersion, CoreDNSVersion, PauseVersion); the etcd and
	// CoreDNS versions are ones the module proxy serves.
	Etcd, CoreDNS, Pause string
}

// perRelease has an entry for every kubeversion.Supported release (a test
// holds them to kubeadm's constants).
var perRelease = map[string]releasePins{
	// crictl v1.35.x is not served by the proxy (v1.35.0: 403); kind
	// v0.33.0 ships v1.36.0 with every release, and the CRI is v1.
	"v1.35.4": {CriTools: "v1.36.0", Etcd: "v3.6.6", CoreDNS: "v1.13.1", Pause: "3.10.1"},
	"v1.36.3": {CriTools: "v1.36.0", Etcd: "v3.6.8", CoreDNS: "v1.14.2", Pause: "3.10.2"},
	"v1.37.2": {CriTools: "v1.37.0", Etcd: "v3.7.0", CoreDNS: "v1.14.6", Pause: "3.10.2"},
}

// VersionsFor is the recipe's version set for a Kubernetes release.
func VersionsFor(r kubeversion.Release) (Versions, error) {
	p, ok := perRelease[r.Version]
	if !ok {
		return Versions{}, fmt.Errorf("nodeimage: no recipe for Kubernetes %s (recipes: %s)", r.Version, strings.Join(slices.Sorted(maps.Keys(perRelease)), ", "))
	}
	v := common
	v.Kubernetes = r.Version
	v.CriTools = p.CriTools
	v.Etcd = p.Etcd
	v.CoreDNS = p.CoreDNS
	v.PauseTags = []string{kindSandboxPause, p.Pause}
	return v, nil
}

// Pinned is the recipe's version set of the default release.
var Pinned = mustVersionsFor(kubeversion.Default)

func mustVersionsFor(r kubeversion.Release) Versions {
	v, err := VersionsFor(r)
	if err != nil {
		panic(err)
	}
	return v
}

// UpstreamNode is the published kind node image on the default release's
// minor; a Builder carries the one of its own release (Options.Upstream).
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
