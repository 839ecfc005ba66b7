package nodeimage

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/puretasks/k8s-conformance/internal/imagetar"
	"github.com/puretasks/k8s-conformance/internal/nodeimage/progress"
)

// recipe is the builder's own source and assets: a change to any of them is a
// change of recipe and so of the node image's content key.
//
//go:embed *.go assets
var recipe embed.FS

// Options configures a Builder.
type Options struct {
	Versions Versions
	// Upstream is the published kind node image of the same Kubernetes
	// minor (kubeversion.Release.Upstream); empty means UpstreamNode.
	Upstream string
	// CacheDir holds Debian trees, Go binaries and image archives between runs.
	CacheDir string
	// KindDir is the sigs.k8s.io/kind module directory (kind's base files).
	KindDir string
	// ModuleDir is this repository's root, where the pause binary is built.
	ModuleDir string
	Log       io.Writer
}

// Builder builds the hermetic node image.
type Builder struct {
	o      Options
	Timing []StageTiming
}

// StageTiming is how long one stage took and whether it was a cache hit.
type StageTiming struct {
	Stage    string
	Duration time.Duration
	CacheHit bool
}

// NewBuilder checks the options and returns a Builder.
func NewBuilder(o Options) (*Builder, error) {
	if o.CacheDir == "" || o.KindDir == "" || o.ModuleDir == "" {
		return nil, fmt.Errorf("nodeimage: CacheDir, KindDir and ModuleDir are required")
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Upstream == "" {
		o.Upstream = UpstreamNode
	}
	if _, err := os.Stat(filepath.Join(o.KindDir, "images", "base", "files")); err != nil {
		return nil, fmt.Errorf("nodeimage: kind's base files not found under %s: %w", o.KindDir, err)
	}
	return &Builder{o: o}, nil
}

// Key is the content key of the whole recipe: versions, the builder's source
// and assets, and kind's base files.
func (b *Builder) Key() (string, error) {
	h := sha256.New()
	if err := json.NewEncoder(h).Encode(b.o.Versions); err != nil {
		return "", err
	}
	fmt.Fprintln(h, recipeRevision)
	if err := hashFS(h, recipe, "."); err != nil {
		return "", err
	}
	if err := hashFS(h, imagetar.Source, "."); err != nil {
		return "", err
	}
	if err := hashFS(h, os.DirFS(filepath.Join(b.o.KindDir, "images", "base", "files")), "."); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// ImageRef is the tag the recipe's image carries.
func (b *Builder) ImageRef() (string, error) {
	key, err := b.Key()
	if err != nil {
		return "", err
	}
	return ImageRepo + ":" + b.o.Versions.Kubernetes + "-" + key, nil
}

func hashFS(h io.Writer, fsys fs.FS, root string) error {
	return fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") {
			return err
		}
		raw, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(raw)
		fmt.Fprintf(h, "%s %x\n", p, sum)
		return nil
	})
}

func contentKey(parts ...any) string {
	h := sha256.New()
	for _, p := range parts {
		_ = json.NewEncoder(h).Encode(p)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func (b *Builder) logf(format string, a ...any) {
	fmt.Fprintf(b.o.Log, "nodeimage: "+format+"\n", a...)
}

// stage runs fn, reporting its start as "stage n/N" with the time its last
// cold build took here, a heartbeat with the time left while it runs, and its
// duration (internal/nodeimage/progress). fn reports whether its cache
// answered.
func (b *Builder) stage(ctx context.Context, p *progress.Reporter, name string, fn func(context.Context) (bool, error)) error {
	start := time.Now()
	done := p.Stage(ctx, name)
	hit, err := fn(ctx)
	done(hit, err)
	b.Timing = append(b.Timing, StageTiming{Stage: name, Duration: time.Since(start), CacheHit: hit})
	if err != nil {
		return fmt.Errorf("stage %s: %w", name, err)
	}
	return nil
}

// Build returns the recipe's image, building whatever its caches lack.
func (b *Builder) Build(ctx context.Context) (string, error) {
	start := time.Now()
	ref, err := b.ImageRef()
	if err != nil {
		return "", err
	}
	if dockerImageExists(ctx, ref) {
		b.Timing = append(b.Timing, StageTiming{Stage: "lookup", Duration: time.Since(start), CacheHit: true})
		b.logf("cache hit: %s is present (content key of versions + recipe); nothing to build", ref)
		return ref, nil
	}
	b.logf("building %s (Kubernetes %s) in %s", ref, b.o.Versions.Kubernetes, b.o.CacheDir)
	w := &work{b: b, ref: ref}
	steps := []struct {
		name string
		fn   func(context.Context) (bool, error)
	}{
		{"debian-node-tree", func(ctx context.Context) (bool, error) { return w.tree(ctx, nodeTree, &w.nodeTree) }},
		{"debian-iptables-tree", func(ctx context.Context) (bool, error) { return w.tree(ctx, iptablesTree, &w.iptablesTree) }},
		{"go-binaries", w.binaries},
		{"check-image-names", w.checkImageNames},
		{"component-images", w.componentImages},
		{"base-image", w.baseImage},
		{"node-image", w.nodeImage},
	}
	p := &progress.Reporter{Log: b.o.Log, History: progress.Load(b.o.CacheDir)}
	for _, s := range steps {
		p.Stages = append(p.Stages, s.name)
	}
	p.Begin()
	for _, s := range steps {
		if err := b.stage(ctx, p, s.name, s.fn); err != nil {
			return "", err
		}
	}
	b.logf("built %s in %s", ref, time.Since(start).Round(time.Second))
	b.pruneStale(ctx, ref)
	return ref, nil
}

// pruneStale removes node images of earlier recipes of the same Kubernetes
// release (each is most of a GB), keeping one image per release, and work
// directories of interrupted builds. An image a container still uses stays;
// Docker refuses and that is fine.
func (b *Builder) pruneStale(ctx context.Context, keep string) {
	out, err := exec.CommandContext(ctx, "docker", "image", "ls", ImageRepo, "--format", "{{.Repository}}:{{.Tag}}").Output()
	if err == nil {
		for _, ref := range supersededBy(keep, strings.Fields(string(out))) {
			if _, err := docker(ctx, "rmi", ref); err == nil {
				b.logf("removed superseded node image %s", ref)
			}
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(b.o.CacheDir, "images", "*"))
	for _, d := range dirs {
		_ = os.RemoveAll(d)
	}
}

// supersededBy picks, of the node images present, those keep replaces:
// other recipes of keep's Kubernetes release. Tags are <version>-<key>.
func supersededBy(keep string, present []string) []string {
	version, _, ok := strings.Cut(strings.TrimPrefix(keep, ImageRepo+":"), "-")
	if !ok {
		return nil
	}
	var out []string
	for _, ref := range present {
		if ref != keep && strings.HasPrefix(ref, ImageRepo+":"+version+"-") {
			out = append(out, ref)
		}
	}
	return out
}

// work carries what one build's stages hand to each other.
type work struct {
	b            *Builder
	ref          string
	nodeTree     string
	iptablesTree string
	bins         map[string]string // binary name -> path
	archives     []string          // component image archives
	baseRef      string
}

func (w *work) cache(parts ...string) string {
	return filepath.Join(append([]string{w.b.o.CacheDir}, parts...)...)
}

// debianTree is a debootstrap root filesystem.
type debianTree struct {
	Name     string
	Packages []string
}

// nodeTree carries kind's base image package list (images/base/Dockerfile)
// plus Debian's runc.
var nodeTree = debianTree{"node", []string{
	"systemd", "conntrack", "iptables", "nftables", "iproute2", "ethtool", "util-linux", "mount", "kmod",
	"libseccomp2", "pigz", "fuse-overlayfs", "nfs-common", "open-iscsi", "e2fsprogs",
	"bash", "ca-certificates", "curl", "jq", "procps", "runc",
}}

// iptablesTree is the base of images that program netfilter (kube-proxy,
// kube-router).
var iptablesTree = debianTree{"iptables", []string{"iptables", "nftables", "conntrack", "ipset", "kmod", "iproute2"}}

const completeMarker = ".k8s-conformance-complete"

func (w *work) tree(ctx context.Context, t debianTree, out *string) (bool, error) {
	v := w.b.o.Versions
	key := contentKey("debootstrap", "minbase", v.DebianSuite, v.DebianMirror, t)
	dir := w.cache("rootfs", t.Name+"-"+key)
	*out = dir
	if _, err := os.Stat(filepath.Join(dir, completeMarker)); err == nil {
		return true, nil
	}
	if err := w.b.ensureDebootstrap(ctx); err != nil {
		return false, err
	}
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return false, err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return false, err
	}
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase", "--include="+strings.Join(t.Packages, ","),
		v.DebianSuite, tmp, v.DebianMirror)
	out2, err := cmd.CombinedOutput()
	if err != nil {
		return false, fmt.Errorf("debootstrap %s: %w\n%s", t.Name, err, tail(out2, 30))
	}
	// Package caches are not part of an image.
	for _, g := range []string{"var/cache/apt/archives/*.deb", "var/lib/apt/lists/*"} {
		matches, _ := filepath.Glob(filepath.Join(tmp, g))
		for _, m := range matches {
			_ = os.RemoveAll(m)
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, completeMarker), nil, 0o644); err != nil {
		return false, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return false, err
	}
	return false, os.Rename(tmp, dir)
}

// ensureDebootstrap installs Debian's debootstrap where it is missing (a
// fresh machine has none); it needs root and apt, and says so otherwise.
func (b *Builder) ensureDebootstrap(ctx context.Context) error {
	if _, err := exec.LookPath("debootstrap"); err == nil {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("debootstrap is not installed and this is not root: apt-get install debootstrap")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("debootstrap is not installed and there is no apt-get: install debootstrap")
	}
	b.logf("  installing Debian's debootstrap (apt-get)")
	for _, args := range [][]string{{"update", "-qq"}, {"install", "-y", "-qq", "debootstrap"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s: %w\n%s", strings.Join(args, " "), err, tail(out, 20))
		}
	}
	return nil
}

func (w *work) binaries(ctx context.Context) (bool, error) {
	w.bins = map[string]string{}
	allHit := true
	for _, c := range w.b.o.Versions.components() {
		key := contentKey(c)
		dir := w.cache("bin", c.Name+"-"+c.Version+"-"+key)
		hit := true
		for _, o := range c.outputs() {
			if _, err := os.Stat(filepath.Join(dir, o)); err != nil {
				hit = false
			}
		}
		if !hit {
			allHit = false
			start := time.Now()
			w.b.logf("  go build %s@%s (%s)", c.Module, c.Version, strings.Join(c.outputs(), ", "))
			if err := c.build(ctx, w.b, w.cache("src", c.Name), dir); err != nil {
				return false, err
			}
			w.b.logf("  built %s in %s", c.Name, time.Since(start).Round(time.Second))
		}
		for _, o := range c.outputs() {
			w.bins[o] = filepath.Join(dir, o)
		}
	}
	// pause comes from this repository.
	pause := w.cache("bin", "pause", "pause")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", pause, "./internal/nodeimage/pause")
	cmd.Dir = w.b.o.ModuleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return false, fmt.Errorf("go build pause: %w\n%s", err, out)
	}
	w.bins["pause"] = pause
	return allHit, nil
}

// checkImageNames asks the kubeadm just built which images it will use and
// fails early if the recipe would not provide one of them.
func (w *work) checkImageNames(ctx context.Context) (bool, error) {
	out, err := exec.CommandContext(ctx, w.bins["kubeadm"], "config", "images", "list",
		"--kubernetes-version", w.b.o.Versions.Kubernetes).Output()
	if err != nil {
		return false, fmt.Errorf("kubeadm config images list: %w", err)
	}
	provided := w.b.o.Versions.imageRefs()
	var missing []string
	for _, ref := range strings.Fields(string(out)) {
		if !slices.Contains(provided, ref) {
			missing = append(missing, ref)
		}
	}
	sandbox, err := w.sandboxImage()
	if err != nil {
		return false, err
	}
	if !slices.Contains(provided, sandbox) {
		missing = append(missing, sandbox+" (kind's containerd sandbox_image)")
	}
	if len(missing) > 0 {
		return false, fmt.Errorf("kubeadm %s needs images the recipe does not build: %v (provided: %v)",
			w.b.o.Versions.Kubernetes, missing, provided)
	}
	w.b.logf("  kubeadm's image list and kind's sandbox image are all provided: %s", strings.Join(strings.Fields(string(out)), " "))
	return false, nil
}

func (w *work) sandboxImage() (string, error) {
	raw, err := os.ReadFile(filepath.Join(w.b.o.KindDir, "images", "base", "files", "etc", "containerd", "config.toml"))
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "sandbox_image"); ok {
			v = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), "="))
			return strings.Trim(v, `"`), nil
		}
	}
	return "", fmt.Errorf("no sandbox_image in kind's containerd config")
}

// imageRefs lists every image the node's containerd will hold.
func (v Versions) imageRefs() []string {
	refs := []string{
		v.controlPlaneImage("kube-apiserver"),
		v.controlPlaneImage("kube-controller-manager"),
		v.controlPlaneImage("kube-scheduler"),
		v.controlPlaneImage("kube-proxy"),
		v.etcdImage(),
		v.coreDNSImage(),
		v.KubeRouterImage(),
	}
	return append(refs, v.pauseImages()...)
}

func dockerImageExists(ctx context.Context, ref string) bool {
	return exec.CommandContext(ctx, "docker", "image", "inspect", "--format", "{{.Id}}", ref).Run() == nil
}

func docker(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(tail(out, 20)))
	}
	return strings.TrimSpace(string(out)), nil
}
