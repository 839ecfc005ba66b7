package nodeimage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/puretasks/k8s-conformance/internal/nodeimage/pull"
)

// Source says where the node image may come from.
type Source string

const (
	SourceAuto     Source = "auto"     // named > hermetic present > upstream present > upstream pull > hermetic build
	SourceHermetic Source = "hermetic" // always the hermetic recipe (built if missing)
	SourceUpstream Source = "upstream" // always the pinned kindest/node (pulled if missing)
)

// ParseSource validates a -source / NODE_IMAGE_SOURCE value.
func ParseSource(s string) (Source, error) {
	switch Source(s) {
	case SourceAuto, SourceHermetic, SourceUpstream:
		return Source(s), nil
	case "":
		return SourceAuto, nil
	}
	return "", fmt.Errorf("unknown node image source %q (want auto, hermetic or upstream)", s)
}

// Choice is the node image a run uses and why.
type Choice struct {
	Image  string
	Reason string
	Built  bool
}

// ErrBuildNeedsRoot is returned instead of starting a from-source build that
// cannot succeed: debootstrap writes a root filesystem, and the image layers
// are read from it with their owners.
var ErrBuildNeedsRoot = errors.New("building the node image from source needs root")

// host is what Choose asks of the machine; the tests give it a fake.
type host interface {
	imageExists(ctx context.Context, ref string) bool
	pull(ctx context.Context, ref string) error
	build(ctx context.Context) (string, error)
	root() bool
	logf(format string, a ...any)
}

// Choose picks the node image: the one the user names, else per source. In
// auto mode a registry is asked only when no image is present; "no registry"
// (the name does not resolve, the connection is refused) falls back to the
// from-source build at once, a slow registry is waited for with progress. A
// build that needs root is never started when this is not root: the error
// says so, and what to do instead.
func Choose(ctx context.Context, named string, src Source, b *Builder) (Choice, error) {
	return choose(ctx, named, src, b, realHost{b})
}

func choose(ctx context.Context, named string, src Source, b *Builder, h host) (Choice, error) {
	if named != "" {
		return Choice{Image: named, Reason: "named by the user (KIND_NODE_IMAGE), used as is"}, nil
	}
	ref, err := b.ImageRef()
	if err != nil {
		return Choice{}, err
	}
	// The hermetic image and the upstream one are those of the builder's
	// release (K8S_VERSION).
	upstreamRef := b.o.Upstream
	hermetic := fmt.Sprintf("the hermetic image (Kubernetes %s, built from source here)", b.o.Versions.Kubernetes)
	upstream := fmt.Sprintf("the pinned upstream image %s (Kubernetes %s", upstreamName(upstreamRef), upstreamVersion(upstreamRef))
	if v := upstreamVersion(upstreamRef); v != b.o.Versions.Kubernetes {
		upstream += ", not the hermetic build's " + b.o.Versions.Kubernetes
	}
	upstream += ")"

	switch src {
	case SourceUpstream:
		if h.imageExists(ctx, upstreamRef) {
			return Choice{Image: upstreamRef, Reason: "NODE_IMAGE_SOURCE=upstream: " + upstream + " is present locally"}, nil
		}
		h.logf("NODE_IMAGE_SOURCE=upstream: pulling %s", upstream)
		if err := h.pull(ctx, upstreamRef); err != nil {
			return Choice{}, fmt.Errorf("NODE_IMAGE_SOURCE=upstream, but the pull failed: %w", err)
		}
		return Choice{Image: upstreamRef, Reason: "NODE_IMAGE_SOURCE=upstream: " + upstream + " pulled"}, nil
	case SourceHermetic:
		if h.imageExists(ctx, ref) {
			return Choice{Image: ref, Reason: "NODE_IMAGE_SOURCE=hermetic: " + hermetic + " is present locally"}, nil
		}
		if !h.root() {
			return Choice{}, needsRoot("NODE_IMAGE_SOURCE=hermetic and "+ref+" is not present", upstreamRef)
		}
		built, err := h.build(ctx)
		if err != nil {
			return Choice{}, err
		}
		return Choice{Image: built, Reason: "NODE_IMAGE_SOURCE=hermetic: " + hermetic + " built", Built: true}, nil
	}

	if h.imageExists(ctx, ref) {
		return Choice{Image: ref, Reason: "auto: " + hermetic + " is present locally"}, nil
	}
	if h.imageExists(ctx, upstreamRef) {
		return Choice{Image: upstreamRef, Reason: "auto: no hermetic image of this recipe here; " + upstream + " is present locally"}, nil
	}
	h.logf("auto: no node image here; asking the registry for %s (a slow pull is waited for)", upstream)
	err = h.pull(ctx, upstreamRef)
	if err == nil {
		return Choice{Image: upstreamRef, Reason: "auto: no local node image; a registry answered and " + upstream + " was pulled"}, nil
	}
	if ctx.Err() != nil {
		return Choice{}, err
	}
	why := "the upstream pull failed (" + err.Error() + ")"
	if pull.IsNoRegistry(err) {
		why = "no registry (" + err.Error() + ")"
	}
	if !h.root() {
		return Choice{}, needsRoot("no node image here and "+why, upstreamRef)
	}
	h.logf("auto: %s; building %s instead: about 35 min the first time, then cached", why, hermetic)
	built, err := h.build(ctx)
	if err != nil {
		return Choice{}, err
	}
	return Choice{Image: built, Reason: "auto: no local node image and " + why + ": " + hermetic + " built", Built: true}, nil
}

func needsRoot(situation, upstreamRef string) error {
	return fmt.Errorf("%s; %w (debootstrap), and this is not root. Either run as root (sudo make node-image), "+
		"or NODE_IMAGE_SOURCE=upstream where docker.io answers (%s), or KIND_NODE_IMAGE=<an image you have>",
		situation, ErrBuildNeedsRoot, upstreamRef)
}

// upstreamName drops the digest: kindest/node:v1.36.1.
func upstreamName(ref string) string {
	name, _, _ := strings.Cut(ref, "@")
	return name
}

// upstreamVersion is the tag of the pinned upstream image: v1.36.1.
func upstreamVersion(ref string) string {
	name := upstreamName(ref)
	if i := strings.LastIndex(name, ":"); i >= 0 {
		return name[i+1:]
	}
	return "unknown"
}

// realHost is this machine: Docker, the registry through dockerd, the build.
type realHost struct{ b *Builder }

func (h realHost) imageExists(ctx context.Context, ref string) bool {
	return dockerImageExists(ctx, ref)
}
func (h realHost) pull(ctx context.Context, ref string) error {
	return pull.Pull(ctx, ref, pull.Options{Log: h.b.o.Log})
}
func (h realHost) build(ctx context.Context) (string, error) { return h.b.Build(ctx) }
func (h realHost) root() bool                                { return os.Geteuid() == 0 }
func (h realHost) logf(format string, a ...any)              { h.b.logf(format, a...) }
