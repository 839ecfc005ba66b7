// Package stubimage builds the stub backend and frontend images with no
// Dockerfile, no base image and no registry: static Go binaries in a single
// deterministic layer, written by go-containerregistry as docker-loadable
// archives tagged as the manifests expect. Same source, same digest.
package stubimage

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/puretasks/k8s-conformance/internal/imagetar"
	"github.com/puretasks/k8s-conformance/internal/spec"
)

// NonRoot is the user the stubs run as.
const NonRoot = "65532"

// Stub is one image to build.
type Stub struct {
	Name    string // binary and archive base name
	Package string // main package, relative to the module root
	Tag     string // the image the manifests run
	Port    int32
	Uploads string // directory to create writable ("" for none)
}

// Stubs lists the images, with names and ports from the spec.
func Stubs() []Stub {
	b, f := spec.Seed.Backend.Deployment.Container, spec.Seed.Frontend.Deployment.Container
	return []Stub{
		{Name: "backend", Package: "./stubs/backend", Tag: b.Image, Port: b.Port, Uploads: b.UploadsMount},
		{Name: "frontend", Package: "./stubs/frontend", Tag: f.Image, Port: f.Port},
	}
}

// ArchiveName is the file an image is written to: todo-backend.tar.
func (s Stub) ArchiveName() string { return strings.SplitN(s.Tag, ":", 2)[0] + ".tar" }

// Result is one written image.
type Result struct {
	Stub
	Path   string
	Digest string
}

// Build writes every stub image to outDir.
func Build(ctx context.Context, moduleDir, outDir string, log io.Writer) ([]Result, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "stubimage-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	probe := filepath.Join(work, "probe")
	if err := goBuild(ctx, moduleDir, "./stubs/probe", probe); err != nil {
		return nil, err
	}
	var out []Result
	for _, s := range Stubs() {
		bin := filepath.Join(work, s.Name)
		if err := goBuild(ctx, moduleDir, s.Package, bin); err != nil {
			return nil, err
		}
		r, err := s.write(work, bin, probe, outDir)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "stubimage: %s -> %s (%s)\n", s.Tag, r.Path, r.Digest)
		out = append(out, r)
	}
	return out, nil
}

// goBuild compiles a static, reproducible binary: no cgo, no paths, no VCS
// stamp, no build ID.
func goBuild(ctx context.Context, moduleDir, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", out, pkg)
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

func (s Stub) write(work, bin, probe, outDir string) (Result, error) {
	entries := []imagetar.Entry{
		imagetar.Copy(s.Name, 0o755, bin),
		imagetar.Copy("probe", 0o755, probe),
		imagetar.File("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:"+NonRoot+":"+NonRoot+":nonroot:/home/nonroot:/sbin/nologin\n")),
		imagetar.File("etc/group", 0o644, []byte("root:x:0:\nnonroot:x:"+NonRoot+":\n")),
		imagetar.File("etc/nsswitch.conf", 0o644, []byte("hosts: files dns\n")),
		{Path: "tmp", Type: tar.TypeDir, Mode: 0o1777},
	}
	if s.Uploads != "" {
		entries = append(entries, imagetar.Entry{Path: strings.TrimPrefix(s.Uploads, "/"), Type: tar.TypeDir, Mode: 0o1777})
	}
	layer := filepath.Join(work, s.Name+"-layer.tar")
	if err := imagetar.WriteLayerFile(layer, imagetar.LayerSpec{Entries: entries}); err != nil {
		return Result{}, err
	}
	img, err := imagetar.Image([]string{layer}, v1.Config{
		Entrypoint:   []string{"/" + s.Name},
		Env:          []string{"PATH=/"},
		User:         NonRoot + ":" + NonRoot,
		WorkingDir:   "/",
		ExposedPorts: map[string]struct{}{fmt.Sprintf("%d/tcp", s.Port): {}},
		Labels:       map[string]string{"org.opencontainers.image.title": "todo-app " + s.Name + " stub (k8s-conformance)"},
	})
	if err != nil {
		return Result{}, err
	}
	digest, err := img.Digest()
	if err != nil {
		return Result{}, err
	}
	path := filepath.Join(outDir, s.ArchiveName())
	if err := imagetar.WriteArchive(path, img, s.Tag); err != nil {
		return Result{}, err
	}
	return Result{Stub: s, Path: path, Digest: digest.String()}, nil
}
