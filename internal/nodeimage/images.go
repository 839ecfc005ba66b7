package nodeimage

import (
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// imageFromLayers assembles an image from uncompressed layer tars.
func imageFromLayers(layers []string, cfg v1.Config) (v1.Image, error) {
	img := empty.Image
	for _, p := range layers {
		l, err := tarball.LayerFromFile(p, tarball.WithCompressionLevel(gzip.BestSpeed))
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", p, err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			return nil, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Config = cfg
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	return mutate.ConfigFile(img, cf)
}

// writeArchive writes img as a docker-loadable archive carrying every tag.
func writeArchive(path string, img v1.Image, tags ...string) error {
	refs := map[name.Reference]v1.Image{}
	for _, t := range tags {
		tag, err := name.NewTag(t)
		if err != nil {
			return err
		}
		refs[tag] = img
	}
	tmp := path + ".tmp"
	if err := tarball.MultiRefWriteToFile(tmp, refs); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// distrolessEntries are the few files a static Go binary needs at run time.
func (w *work) distrolessEntries() []entry {
	return []entry{
		fileEntry("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n")),
		fileEntry("etc/group", 0o644, []byte("root:x:0:\nnobody:x:65534:\n")),
		fileEntry("etc/nsswitch.conf", 0o644, []byte("hosts: files dns\n")),
		copyEntry("etc/ssl/certs/ca-certificates.crt", 0o644, filepath.Join(w.nodeTree, "etc/ssl/certs/ca-certificates.crt")),
		{Path: "tmp", Type: '5', Mode: 0o1777},
	}
}

// componentImages writes one docker archive per image the node needs.
func (w *work) componentImages(ctx context.Context) (bool, error) {
	v := w.b.o.Versions
	dir := w.cache("images", contentKey(w.ref))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	iptablesLayer := filepath.Join(dir, "iptables-base.tar")
	if err := writeLayerFile(iptablesLayer, layerSpec{Root: w.iptablesTree, Skip: skipAptState}); err != nil {
		return false, err
	}
	type spec struct {
		file   string
		tags   []string
		base   string // "distroless" or "iptables"
		binary string
		at     string // path inside the image
	}
	specs := []spec{
		{"kube-apiserver", []string{v.controlPlaneImage("kube-apiserver")}, "distroless", "kube-apiserver", "usr/local/bin/kube-apiserver"},
		{"kube-controller-manager", []string{v.controlPlaneImage("kube-controller-manager")}, "distroless", "kube-controller-manager", "usr/local/bin/kube-controller-manager"},
		{"kube-scheduler", []string{v.controlPlaneImage("kube-scheduler")}, "distroless", "kube-scheduler", "usr/local/bin/kube-scheduler"},
		{"etcd", []string{v.etcdImage()}, "distroless", "etcd", "usr/local/bin/etcd"},
		{"coredns", []string{v.coreDNSImage()}, "distroless", "coredns", "coredns"},
		{"pause", v.pauseImages(), "distroless", "pause", "pause"},
		{"kube-proxy", []string{v.controlPlaneImage("kube-proxy")}, "iptables", "kube-proxy", "usr/local/bin/kube-proxy"},
		{"kube-router", []string{v.KubeRouterImage()}, "iptables", "kube-router", "usr/local/bin/kube-router"},
	}
	w.archives = nil
	for _, s := range specs {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		bin, ok := w.bins[s.binary]
		if !ok {
			return false, fmt.Errorf("no binary %s for image %s", s.binary, s.file)
		}
		own := []entry{copyEntry(s.at, 0o755, bin)}
		var layers []string
		if s.base == "iptables" {
			layers = append(layers, iptablesLayer)
		} else {
			own = append(w.distrolessEntries(), own...)
		}
		binLayer := filepath.Join(dir, s.file+"-layer.tar")
		if err := writeLayerFile(binLayer, layerSpec{Entries: own}); err != nil {
			return false, err
		}
		layers = append(layers, binLayer)
		img, err := imageFromLayers(layers, v1.Config{
			Entrypoint: []string{"/" + s.at},
			Env:        []string{defaultPath},
		})
		if err != nil {
			return false, err
		}
		archive := filepath.Join(dir, s.file+".tar")
		if err := writeArchive(archive, img, s.tags...); err != nil {
			return false, err
		}
		_ = os.Remove(binLayer)
		w.archives = append(w.archives, archive)
		w.b.logf("  %s -> %v", s.file, s.tags)
	}
	return false, os.Remove(iptablesLayer)
}

// skipAptState leaves package-manager state out of runtime-only images.
func skipAptState(rel string) bool {
	return rel == completeMarker
}
