// Package choice is the one place a run decides which kind node image to
// use: cmd/nodeimage, cmd/cluster, the live tier and the smoke test all call
// Resolve. It lives outside package nodeimage on purpose: every .go file of
// nodeimage is hashed into the node image's content key, and how a run picks
// an image does not change what the image holds.
package choice

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/puretasks/k8s-conformance/internal/nodeimage"
)

// The environment a person (or the Makefile) sets.
const (
	EnvImage  = "KIND_NODE_IMAGE"   // use this node image as is
	EnvSource = "NODE_IMAGE_SOURCE" // auto (default), hermetic, upstream
)

// Request is what the caller was asked for; empty fields mean "auto".
type Request struct {
	Image  string // a node image named by the user, used as is
	Source string // auto, hermetic or upstream
}

// FromEnv reads KIND_NODE_IMAGE and NODE_IMAGE_SOURCE.
func FromEnv() Request {
	return Request{Image: os.Getenv(EnvImage), Source: os.Getenv(EnvSource)}
}

// Resolve validates the request, then picks (and if needed builds) the node
// image: the named one, else per source (nodeimage.Choose). A bad source is
// refused before anything is built. When a build ran, its stage timings go to
// log.
func Resolve(ctx context.Context, log io.Writer, r Request) (nodeimage.Choice, error) {
	src, err := nodeimage.ParseSource(r.Source)
	if err != nil {
		return nodeimage.Choice{}, fmt.Errorf("%s: %w", EnvSource, err)
	}
	b, err := nodeimage.NewDefaultBuilder(log)
	if err != nil {
		return nodeimage.Choice{}, err
	}
	c, err := nodeimage.Choose(ctx, r.Image, src, b)
	if err != nil {
		return nodeimage.Choice{}, err
	}
	printTiming(log, b.Timing)
	return c, nil
}

func printTiming(log io.Writer, stages []nodeimage.StageTiming) {
	if len(stages) == 0 {
		return
	}
	tw := tabwriter.NewWriter(log, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "stage\tduration\tcache")
	for _, t := range stages {
		cache := "miss"
		if t.CacheHit {
			cache = "hit"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Stage, t.Duration.Round(100*time.Millisecond), cache)
	}
	tw.Flush()
}
