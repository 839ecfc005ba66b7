package nodeimage

import (
	"archive/tar"
	"context"
	"fmt"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/puretasks/k8s-conformance/internal/imagetar"
)

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// distrolessEntries are the few files a static Go binary needs at run time.
func (w *work) distrolessEntries() []imagetar.Entry {
	return []imagetar.Entry{
		imagetar.File("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n")),
		imagetar.File("etc/group", 0o644, []byte("root:x:0:\nnobody:x:65534:\n")),
		imagetar.File("etc/nsswitch.conf", 0o644, []byte("hosts: files dns\n")),
		imagetar.Copy("etc/ssl/certs/ca-certificates.crt", 0o644, filepath.Join(w.nodeTree, "etc/ssl/certs/ca-certificates.crt")),
		{Path: "tmp", Type: tar.TypeDir, Mode: 0o1777},
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
	if err := imagetar.WriteLayerFile(iptablesLayer, imagetar.LayerSpec{Root: w.iptablesTree, Skip: skipAptState}); err != nil {
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
		own := []imagetar.Entry{imagetar.Copy(s.at, 0o755, bin)}
		var layers []string
		if s.base == "iptables" {
			layers = append(layers, iptablesLayer)
		} else {
			own = append(w.distrolessEntries(), own...)
		}
		binLayer := filepath.Join(dir, s.file+"-layer.tar")
		if err := imagetar.WriteLayerFile(binLayer, imagetar.LayerSpec{Entries: own}); err != nil {
			return false, err
		}
		layers = append(layers, binLayer)
		img, err := imagetar.Image(layers, v1.Config{
			Entrypoint: []string{"/" + s.at},
			Env:        []string{defaultPath},
		})
		if err != nil {
			return false, err
		}
		archive := filepath.Join(dir, s.file+".tar")
		if err := imagetar.WriteArchive(archive, img, s.tags...); err != nil {
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
