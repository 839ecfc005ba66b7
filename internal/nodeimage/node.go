package nodeimage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/puretasks/k8s-conformance/internal/imagetar"
	"github.com/puretasks/k8s-conformance/internal/poll"
)

// kindSystemdPrune mirrors the `rm -f` lines of kind's base Dockerfile: units
// a node container must not start. The tree is merged-/usr, so /lib is /usr/lib.
func kindSystemdPrune(rel string) bool {
	dir, base := path.Split(rel)
	dir = strings.TrimSuffix(dir, "/")
	switch dir {
	case "usr/lib/systemd/system/sysinit.target.wants":
		return base == "systemd-tmpfiles-setup.service"
	case "usr/lib/systemd/system/multi-user.target.wants",
		"usr/lib/systemd/system/local-fs.target.wants",
		"usr/lib/systemd/system/basic.target.wants":
		return true
	case "usr/lib/systemd/system/sockets.target.wants":
		return strings.Contains(base, "udev") || strings.Contains(base, "initctl")
	}
	if d, ok := strings.CutPrefix(dir, "etc/systemd/system/"); ok && strings.HasSuffix(d, ".wants") && !strings.Contains(d, "/") {
		return true
	}
	return rel == completeMarker || strings.HasPrefix(rel, "var/cache/apt/") || strings.HasPrefix(rel, "var/lib/apt/lists/")
}

// kindBaseEntries lays kind's images/base/files over the tree with the modes
// its Dockerfile gives them.
func (w *work) kindBaseEntries() ([]imagetar.Entry, error) {
	root := filepath.Join(w.b.o.KindDir, "images", "base", "files")
	var out []imagetar.Entry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		mode := int64(0o644)
		if strings.HasPrefix(rel, "usr/local/bin/") || strings.HasPrefix(rel, "kind/bin/") {
			mode = 0o755
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if rel == "etc/containerd/config.toml" {
			// No CAP_SYS_RESOURCE inside the node on restricted hosts: nobody may
			// lower oom_score_adj, and every sandbox would fail to start.
			// Harmless where the capability exists.
			patched := strings.Replace(string(raw), "restrict_oom_score_adj = false", "restrict_oom_score_adj = true", 1)
			if patched == string(raw) {
				return fmt.Errorf("kind's containerd config no longer sets restrict_oom_score_adj = false; revisit the patch")
			}
			raw = []byte(patched)
		}
		out = append(out, imagetar.File(rel, mode, raw))
		return nil
	})
	return out, err
}

// criBaseSpec is kind's /etc/containerd/cri-base.json: containerd's default
// OCI spec with kind's createContainer hook and no rlimits.
func (w *work) criBaseSpec(ctx context.Context) ([]byte, error) {
	raw, err := exec.CommandContext(ctx, w.bins["ctr"], "oci", "spec").Output()
	if err != nil {
		return nil, fmt.Errorf("ctr oci spec: %w", err)
	}
	var spec map[string]any
	if err := json.Unmarshal(raw, &spec); err != nil {
		return nil, err
	}
	hooks, _ := spec["hooks"].(map[string]any)
	if hooks == nil {
		hooks = map[string]any{}
	}
	cc, _ := hooks["createContainer"].([]any)
	hooks["createContainer"] = append(cc, map[string]any{"path": "/kind/bin/mount-product-files.sh"})
	spec["hooks"] = hooks
	if proc, ok := spec["process"].(map[string]any); ok {
		delete(proc, "rlimits")
	}
	return json.MarshalIndent(spec, "", "  ")
}

func (w *work) nodeEntries(ctx context.Context) ([]imagetar.Entry, error) {
	v := w.b.o.Versions
	entries, err := w.kindBaseEntries()
	if err != nil {
		return nil, err
	}
	journald, err := os.ReadFile(filepath.Join(w.nodeTree, "etc/systemd/journald.conf"))
	if err != nil {
		return nil, err
	}
	cri, err := w.criBaseSpec(ctx)
	if err != nil {
		return nil, err
	}
	cni, err := renderAsset("assets/default-cni.yaml", v)
	if err != nil {
		return nil, err
	}
	storage, err := renderAsset("assets/default-storage.yaml", v)
	if err != nil {
		return nil, err
	}
	entries = append(entries,
		imagetar.File("etc/systemd/journald.conf", 0o644, append(journald, []byte("ReadKMsg=no\n")...)),
		imagetar.Symlink("usr/sbin/init", "/usr/lib/systemd/systemd"),
		imagetar.Symlink("etc/systemd/system/systemd-binfmt.service", "/dev/null"),
		imagetar.Dir("etc/kubernetes/manifests"),
		imagetar.File("etc/containerd/cri-base.json", 0o644, cri),
		imagetar.File("kind/version", 0o644, []byte(v.Kubernetes)),
		imagetar.File("kind/manifests/default-cni.yaml", 0o644, cni),
		imagetar.File("kind/manifests/default-storage.yaml", 0o644, storage),
	)
	for _, unit := range []string{"kubelet.service", "containerd.service", "undo-mount-hacks.service"} {
		entries = append(entries, imagetar.Symlink("etc/systemd/system/multi-user.target.wants/"+unit, "/etc/systemd/system/"+unit))
	}
	place := map[string][]string{
		"usr/local/bin": {"containerd", "ctr", "containerd-shim-runc-v2", "crictl"},
		"opt/cni/bin":   {"bridge", "loopback", "ptp", "host-local", "portmap"},
		"usr/bin":       {"kubeadm", "kubelet", "kubectl"},
	}
	for dir, names := range place {
		for _, n := range names {
			src, ok := w.bins[n]
			if !ok {
				return nil, fmt.Errorf("no binary %s", n)
			}
			entries = append(entries, imagetar.Copy(dir+"/"+n, 0o755, src))
		}
	}
	return entries, nil
}

func renderAsset(name string, v Versions) ([]byte, error) {
	raw, err := recipe.ReadFile(name)
	if err != nil {
		return nil, err
	}
	// Our fields use [[ ]] so kind's own {{ .PodSubnet }} survives for kind.
	t, err := template.New(name).Delims("[[", "]]").Parse(string(raw))
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	err = t.Execute(&buf, map[string]string{"KubeRouterImage": v.KubeRouterImage()})
	return buf.Bytes(), err
}

// baseImage writes the node's root filesystem as one layer and loads it into
// Docker with the config kind's base image has (entrypoint, container=docker,
// STOPSIGNAL SIGRTMIN+3, which `docker import` cannot set).
func (w *work) baseImage(ctx context.Context) (bool, error) {
	entries, err := w.nodeEntries(ctx)
	if err != nil {
		return false, err
	}
	dir := w.cache("images", contentKey(w.ref))
	layer := filepath.Join(dir, "node-rootfs.tar")
	if err := imagetar.WriteLayerFile(layer, imagetar.LayerSpec{Root: w.nodeTree, Skip: kindSystemdPrune, Entries: entries}); err != nil {
		return false, err
	}
	img, err := imagetar.Image([]string{layer}, v1.Config{
		Entrypoint: []string{"/usr/local/bin/entrypoint", "/sbin/init"},
		Env:        []string{"container=docker", defaultPath},
		StopSignal: "SIGRTMIN+3",
	})
	if err != nil {
		return false, err
	}
	w.baseRef = strings.Replace(w.ref, "kind-node:", "kind-base:", 1)
	archive := filepath.Join(dir, "base.tar")
	if err := imagetar.WriteArchive(archive, img, w.baseRef); err != nil {
		return false, err
	}
	_ = os.Remove(layer)
	if _, err := docker(ctx, "load", "-i", archive); err != nil {
		return false, err
	}
	return false, os.Remove(archive)
}

// nodeImage runs the base image, imports the component images into its
// containerd (as kind's own node-image build does), and commits the result.
func (w *work) nodeImage(ctx context.Context) (bool, error) {
	dir := w.cache("images", contentKey(w.ref))
	name := fmt.Sprintf("k8s-conformance-nodebuild-%d", rand.IntN(1_000_000))
	if _, err := docker(ctx, "run", "-d", "--name", name, "--entrypoint=sleep",
		"--label", "io.k8s-conformance/role=node-image-build",
		"--security-opt", "seccomp=unconfined", "-v", dir+":/kind-images:ro",
		w.baseRef, "infinity"); err != nil {
		return false, err
	}
	defer func() {
		// Fresh context: the build container must go even when ctx was cancelled.
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = docker(cctx, "rm", "-f", "-v", name)
		_, _ = docker(cctx, "rmi", w.baseRef)
	}()
	if _, err := docker(ctx, "exec", name, "bash", "-c", "nohup containerd > /var/log/containerd-build.log 2>&1 &"); err != nil {
		return false, err
	}
	err := poll.Until(ctx, poll.NodeContainerd, func(ctx context.Context) (bool, error) {
		_, err := docker(ctx, "exec", name, "ctr", "version")
		return err == nil, nil
	})
	if err != nil {
		logs, _ := docker(ctx, "exec", name, "cat", "/var/log/containerd-build.log")
		return false, fmt.Errorf("containerd in the build container: %w\n%s", err, logs)
	}
	for _, a := range w.archives {
		if _, err := docker(ctx, "exec", name, "ctr", "--namespace=k8s.io", "images", "import",
			"--label=io.cri-containerd.pinned=pinned", "--all-platforms", "--no-unpack", "--digests",
			"/kind-images/"+filepath.Base(a)); err != nil {
			return false, err
		}
	}
	listed, err := docker(ctx, "exec", name, "ctr", "--namespace=k8s.io", "images", "list", "-q")
	if err != nil {
		return false, err
	}
	have := strings.Fields(listed)
	for _, ref := range w.b.o.Versions.imageRefs() {
		if !slices.Contains(have, ref) {
			return false, fmt.Errorf("node containerd lacks %s after import (has %v)", ref, have)
		}
	}
	if _, err := docker(ctx, "exec", name, "pkill", "containerd"); err != nil {
		return false, err
	}
	// The build container's PID 1 is sleep, which never reaps, so the exited
	// containerd lingers as a zombie: wait for its API to stop answering.
	err = poll.Until(ctx, poll.NodeContainerd, func(ctx context.Context) (bool, error) {
		_, err := docker(ctx, "exec", name, "ctr", "version")
		return err != nil, nil
	})
	if err != nil {
		return false, fmt.Errorf("containerd did not stop: %w", err)
	}
	if _, err := docker(ctx, "exec", name, "rm", "-f", "/var/log/containerd-build.log"); err != nil {
		return false, err
	}
	if _, err := docker(ctx, "commit",
		"--change", `ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]`,
		"--change", "LABEL io.k8s-conformance/recipe="+w.ref,
		name, w.ref); err != nil {
		return false, err
	}
	for _, a := range w.archives {
		_ = os.Remove(a)
	}
	return false, os.Remove(dir)
}
