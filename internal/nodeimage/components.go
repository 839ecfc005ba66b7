package nodeimage

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/mod/modfile"
)

// goComponent is a set of binaries built from one module of the proxy, in a
// work module of its own so that each keeps the dependency versions it was
// released with.
type goComponent struct {
	Name     string
	Module   string
	Version  string
	Packages []string // package paths; "." means the generated main below
	Tags     []string
	LDFlags  []string
	// MainSource, if set, is written as main.go of the work module (a
	// component whose module has no main package of its own, like etcd).
	MainSource string
	// StagingReplaces pins k8s.io/kubernetes' staging modules, which its
	// go.mod points at ./staging directories the module zip does not hold.
	StagingReplaces bool
	// Outputs names the binaries; defaults to the packages' last elements.
	Outputs []string
}

// components returns every Go-built piece of the node image.
func (v Versions) components() []goComponent {
	major, minor := v.kubeMajorMinor()
	var kubeLD []string
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		kubeLD = append(kubeLD,
			"-X "+pkg+".gitVersion="+v.Kubernetes,
			"-X "+pkg+".gitMajor="+major,
			"-X "+pkg+".gitMinor="+minor,
			"-X "+pkg+".gitTreeState=clean",
			"-X "+pkg+".buildDate=1970-01-01T00:00:00Z",
		)
	}
	k8s := func(cmds ...string) []string {
		var p []string
		for _, c := range cmds {
			p = append(p, "k8s.io/kubernetes/cmd/"+c)
		}
		return p
	}
	return []goComponent{
		{
			Name: "kubernetes", Module: "k8s.io/kubernetes", Version: v.Kubernetes,
			Packages:        k8s("kubeadm", "kubelet", "kubectl", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"),
			Tags:            []string{"selinux", "notest", "grpcnotrace"},
			LDFlags:         kubeLD,
			StagingReplaces: true,
		},
		{
			Name: "containerd", Module: "github.com/containerd/containerd/v2", Version: v.Containerd,
			Packages: []string{"github.com/containerd/containerd/v2/cmd/containerd", "github.com/containerd/containerd/v2/cmd/ctr", "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"},
			Tags:     []string{"no_btrfs", "no_devmapper", "no_zfs", "no_aufs"},
			LDFlags:  []string{"-X github.com/containerd/containerd/v2/version.Version=" + v.Containerd},
		},
		{
			Name: "crictl", Module: "sigs.k8s.io/cri-tools", Version: v.CriTools,
			Packages: []string{"sigs.k8s.io/cri-tools/cmd/crictl"},
			LDFlags:  []string{"-X sigs.k8s.io/cri-tools/pkg/version.Version=" + v.CriTools},
		},
		{
			Name: "cni", Module: "github.com/containernetworking/plugins", Version: v.CNIPlugins,
			Packages: []string{
				"github.com/containernetworking/plugins/plugins/main/bridge",
				"github.com/containernetworking/plugins/plugins/main/loopback",
				"github.com/containernetworking/plugins/plugins/main/ptp",
				"github.com/containernetworking/plugins/plugins/ipam/host-local",
				"github.com/containernetworking/plugins/plugins/meta/portmap",
			},
		},
		{
			Name: "etcd", Module: "go.etcd.io/etcd/server/v3", Version: v.Etcd,
			Packages:   []string{"."},
			Outputs:    []string{"etcd"},
			MainSource: "package main\n\nimport (\n\t\"os\"\n\n\t\"go.etcd.io/etcd/server/v3/etcdmain\"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n",
		},
		{
			Name: "coredns", Module: "github.com/coredns/coredns", Version: v.CoreDNS,
			Packages: []string{"github.com/coredns/coredns"},
		},
		{
			Name: "kube-router", Module: "github.com/cloudnativelabs/kube-router/v2", Version: v.KubeRouter,
			Packages: []string{"github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"},
		},
	}
}

func (c goComponent) outputs() []string {
	if len(c.Outputs) > 0 {
		return c.Outputs
	}
	var out []string
	for _, p := range c.Packages {
		out = append(out, path.Base(p))
	}
	return out
}

// build compiles the component into dir (a cache entry). The work module is
// generated from the pinned versions; -trimpath keeps the Go build cache
// valid wherever the cache directory lives.
func (c goComponent) build(ctx context.Context, b *Builder, workDir, dir string) error {
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return err
	}
	gomod, err := c.goMod(ctx, b, workDir)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(workDir, "go.mod"), gomod, 0o644); err != nil {
		return err
	}
	if c.MainSource != "" {
		if err := os.WriteFile(filepath.Join(workDir, "main.go"), []byte(c.MainSource), 0o644); err != nil {
			return err
		}
	}
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	// "-o dir/" names binaries after their packages; the generated main
	// package is named by its single output instead.
	output := tmp + "/"
	if len(c.Packages) == 1 && c.Packages[0] == "." {
		output = filepath.Join(tmp, c.outputs()[0])
	}
	args := []string{"build", "-trimpath", "-o", output}
	if len(c.Tags) > 0 {
		args = append(args, "-tags", strings.Join(c.Tags, ","))
	}
	args = append(args, "-ldflags", strings.Join(append([]string{"-s", "-w"}, c.LDFlags...), " "))
	args = append(args, c.Packages...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = workDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build %s@%s: %w\n%s", c.Module, c.Version, err, tail(out, 40))
	}
	for _, o := range c.outputs() {
		if _, err := os.Stat(filepath.Join(tmp, o)); err != nil {
			return fmt.Errorf("go build %s@%s produced no %s", c.Module, c.Version, o)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.Rename(tmp, dir)
}

func (c goComponent) goMod(ctx context.Context, b *Builder, workDir string) ([]byte, error) {
	f := &modfile.File{}
	if err := f.AddModuleStmt("k8s-conformance.local/nodeimage/" + c.Name); err != nil {
		return nil, err
	}
	if err := f.AddGoStmt("1.26"); err != nil {
		return nil, err
	}
	if err := f.AddRequire(c.Module, c.Version); err != nil {
		return nil, err
	}
	if c.StagingReplaces {
		staging, err := stagingModules(ctx, c.Module, c.Version, workDir)
		if err != nil {
			return nil, err
		}
		for _, m := range staging {
			if err := f.AddReplace(m, "", m, b.o.Versions.stagingVersion()); err != nil {
				return nil, err
			}
		}
	}
	f.Cleanup()
	return f.Format()
}

// stagingModules lists the modules k8s.io/kubernetes replaces with local
// ./staging directories, read from its own go.mod in the module cache.
func stagingModules(ctx context.Context, module, version, workDir string) ([]string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", module+"@"+version)
	cmd.Dir = workDir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go mod download %s@%s: %w", module, version, err)
	}
	var info struct{ GoMod, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return nil, err
	}
	if info.Error != "" {
		return nil, fmt.Errorf("go mod download %s@%s: %s", module, version, info.Error)
	}
	raw, err := os.ReadFile(info.GoMod)
	if err != nil {
		return nil, err
	}
	mf, err := modfile.Parse(info.GoMod, raw, nil)
	if err != nil {
		return nil, err
	}
	var mods []string
	for _, r := range mf.Replace {
		if strings.HasPrefix(r.New.Path, "./staging/") {
			mods = append(mods, r.Old.Path)
		}
	}
	if len(mods) == 0 {
		return nil, fmt.Errorf("%s@%s: no ./staging replaces in its go.mod", module, version)
	}
	return mods, nil
}

func tail(b []byte, lines int) string {
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}
