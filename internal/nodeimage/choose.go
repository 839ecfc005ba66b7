package nodeimage

import (
	"context"
	"fmt"
	"time"
)

// Source says where the node image may come from.
type Source string

const (
	SourceAuto     Source = "auto"     // named > hermetic present > upstream pull > hermetic build
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

// UpstreamPullTimeout bounds the attempt to pull the upstream image in auto
// mode: on an air-gapped runner the pull fails or hangs, and the hermetic
// build is the answer.
const UpstreamPullTimeout = 20 * time.Second

// Choice is the node image a run uses and why.
type Choice struct {
	Image  string
	Reason string
	Built  bool
}

// Choose picks the node image: the one the user names, else per source. The
// hermetic image and the upstream one are those of the builder's release.
func Choose(ctx context.Context, named string, src Source, b *Builder) (Choice, error) {
	if named != "" {
		return Choice{Image: named, Reason: "named by the user"}, nil
	}
	ref, err := b.ImageRef()
	if err != nil {
		return Choice{}, err
	}
	upstream := b.o.Upstream
	switch src {
	case SourceUpstream:
		if dockerImageExists(ctx, upstream) {
			return Choice{Image: upstream, Reason: "upstream forced; present locally"}, nil
		}
		if err := pull(ctx, upstream, 0); err != nil {
			return Choice{}, fmt.Errorf("upstream node image forced but the pull failed: %w", err)
		}
		return Choice{Image: upstream, Reason: "upstream forced; pulled"}, nil
	case SourceHermetic:
		built, err := b.Build(ctx)
		if err != nil {
			return Choice{}, err
		}
		return Choice{Image: built, Reason: "hermetic forced", Built: b.built()}, nil
	}
	if dockerImageExists(ctx, ref) {
		return Choice{Image: ref, Reason: "hermetic image of this recipe is present locally"}, nil
	}
	if dockerImageExists(ctx, upstream) {
		return Choice{Image: upstream, Reason: "pinned upstream image is present locally"}, nil
	}
	if err := pull(ctx, upstream, UpstreamPullTimeout); err == nil {
		return Choice{Image: upstream, Reason: "pinned upstream image pulled"}, nil
	} else {
		b.logf("upstream pull of %s failed (%v); building the hermetic image", upstream, err)
	}
	built, err := b.Build(ctx)
	if err != nil {
		return Choice{}, err
	}
	return Choice{Image: built, Reason: "no local image and no registry: built from source", Built: true}, nil
}

func (b *Builder) built() bool {
	for _, t := range b.Timing {
		if t.Stage == "node-image" {
			return true
		}
	}
	return false
}

func pull(ctx context.Context, ref string, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	_, err := docker(ctx, "pull", ref)
	return err
}
