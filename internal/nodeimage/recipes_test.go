package nodeimage

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/internal/kubeversion"
)

// The default release's versions are exactly those its image was built
// with before versions became a function of the release.
func TestDefaultReleaseVersionsUnchanged(t *testing.T) {
	before := Versions{
		Kubernetes:        "v1.36.3",
		Containerd:        "v2.3.4",
		CriTools:          "v1.36.0",
		CNIPlugins:        "v1.9.1",
		Etcd:              "v3.6.8",
		CoreDNS:           "v1.14.2",
		KubeRouter:        "v2.1.0",
		EtcdImageRevision: "0",
		PauseTags:         []string{"3.10", "3.10.2"},
		DebianSuite:       "bookworm",
		DebianMirror:      "http://deb.debian.org/debian",
	}
	require.Equal(t, kubeversion.Default.Version, before.Kubernetes)
	assert.Equal(t, before, Pinned)
	a, _ := json.Marshal(before)
	b, _ := json.Marshal(Pinned)
	assert.JSONEq(t, string(a), string(b), "the versions part of the content key")
}

// defaultRecipeKey is the content key of the default release's recipe. It
// changes whenever a non-test file of this package, its assets, imagetar or
// kind's base files change: the default node image is then rebuilt (its Go
// binaries and Debian trees stay cached; their keys are their versions).
// Change it here only on purpose.
//
// History: 119cdfb7103c before versions became a function of the release;
// this value after (Options.Upstream, NewBuilderFor, one image per release).
const defaultRecipeKey = "4044674484c7"

func TestDefaultRecipeKey(t *testing.T) {
	b, err := NewBuilderFor(io.Discard, kubeversion.Default)
	require.NoError(t, err)
	key, err := b.Key()
	require.NoError(t, err)
	assert.Equal(t, defaultRecipeKey, key, "the default node image's content key changed: the next run rebuilds it")
	ref, err := b.ImageRef()
	require.NoError(t, err)
	assert.Equal(t, ImageRepo+":"+kubeversion.Default.Version+"-"+key, ref)
}

// K8S_VERSION picks the release whose hermetic image and upstream image a
// run uses.
func TestTargetReleasePicksTheBuilder(t *testing.T) {
	for _, r := range kubeversion.Supported {
		t.Setenv(kubeversion.Env, r.MajorMinor())
		b, err := NewDefaultBuilder(io.Discard)
		require.NoError(t, err)
		assert.Equal(t, r.Version, b.o.Versions.Kubernetes)
		assert.Equal(t, r.Upstream, b.o.Upstream)
		ref, err := b.ImageRef()
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(ref, ImageRepo+":"+r.Version+"-"), ref)
	}
}

func TestEveryReleaseHasARecipe(t *testing.T) {
	keys := map[string]string{}
	for _, r := range kubeversion.Supported {
		v, err := VersionsFor(r)
		require.NoError(t, err, r.Version)
		assert.Equal(t, r.Version, v.Kubernetes)
		keys[contentKey(v)] = r.Version
	}
	assert.Len(t, keys, len(kubeversion.Supported), "each release has its own content key")
	assert.Len(t, perRelease, len(kubeversion.Supported), "a recipe for a release no longer supported")
	_, err := VersionsFor(kubeversion.Release{Version: "v1.30.0"})
	assert.ErrorContains(t, err, "no recipe for Kubernetes v1.30.0")
}

// A second release's cold build reuses what the first built: the Debian
// trees (their keys do not name Kubernetes) and every Go component whose
// pins the releases share.
func TestReleasesShareCachedComponents(t *testing.T) {
	def := map[string]string{}
	for _, c := range Pinned.components() {
		def[c.Name] = contentKey(c)
	}
	for _, r := range kubeversion.Supported {
		v, err := VersionsFor(r)
		require.NoError(t, err)
		for _, tree := range []debianTree{nodeTree, iptablesTree} {
			assert.Equal(t,
				contentKey("debootstrap", "minbase", Pinned.DebianSuite, Pinned.DebianMirror, tree),
				contentKey("debootstrap", "minbase", v.DebianSuite, v.DebianMirror, tree), "%s %s tree", r.Version, tree.Name)
		}
		for _, c := range v.components() {
			switch c.Name {
			case "containerd", "cni", "kube-router":
				assert.Equal(t, def[c.Name], contentKey(c), "%s: %s is the default's build", r.Version, c.Name)
			}
		}
	}
}

// Each release's recipe provides the images kubeadm of that release lists:
// read from cmd/kubeadm/app/constants/constants.go of k8s.io/kubernetes at
// that version (the module the recipe builds), evaluated as kubeadm does.
func TestRecipesProvideWhatKubeadmLists(t *testing.T) {
	for _, r := range kubeversion.Supported {
		t.Run(r.Version, func(t *testing.T) {
			v, err := VersionsFor(r)
			require.NoError(t, err)
			k := readKubeadmConstants(t, r)
			assert.Equal(t, "registry.k8s.io/etcd:"+k.etcdFor(t, r.Minor()), v.etcdImage())
			assert.Equal(t, "registry.k8s.io/coredns/coredns:"+k.CoreDNS, v.coreDNSImage())
			assert.Contains(t, v.pauseImages(), "registry.k8s.io/pause:"+k.Pause)
			assert.Contains(t, v.pauseImages(), "registry.k8s.io/pause:"+kindSandboxPause, "kind's containerd sandbox_image")
			for _, c := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"} {
				assert.Contains(t, v.imageRefs(), "registry.k8s.io/"+c+":"+r.Version)
			}
			// crictl of the release's minor, or kind's own (v1.36.0) where
			// the proxy serves none of that minor.
			crictlMinor := strings.Split(v.CriTools, ".")[1]
			if crictlMinor != strconv.Itoa(r.Minor()) {
				assert.Equal(t, "v1.36.0", v.CriTools, "%s: crictl of another minor than kind's own", r.Version)
			}
		})
	}
}

type kubeadmConstants struct {
	DefaultEtcd, CoreDNS, Pause string
	SupportedEtcd               map[int]string // Kubernetes minor -> etcd tag
}

// etcdFor is constants.EtcdSupportedVersion: the minor's entry, else the
// nearest end of the map; DefaultEtcdVersion when the map is empty.
func (k kubeadmConstants) etcdFor(t *testing.T, minor int) string {
	if len(k.SupportedEtcd) == 0 {
		return k.DefaultEtcd
	}
	if v, ok := k.SupportedEtcd[minor]; ok {
		return v
	}
	minors := slices.Sorted(func(yield func(int) bool) {
		for m := range k.SupportedEtcd {
			if !yield(m) {
				return
			}
		}
	})
	switch {
	case minor < minors[0]:
		return k.SupportedEtcd[minors[0]]
	case minor > minors[len(minors)-1]:
		return k.SupportedEtcd[minors[len(minors)-1]]
	}
	t.Fatalf("kubeadm lists no etcd for minor %d in %v", minor, k.SupportedEtcd)
	return ""
}

func readKubeadmConstants(t *testing.T, r kubeversion.Release) kubeadmConstants {
	t.Helper()
	out, err := exec.Command("go", "mod", "download", "-json", "k8s.io/kubernetes@"+r.Version).Output()
	require.NoError(t, err, "go mod download k8s.io/kubernetes@%s", r.Version)
	var mod struct{ Dir, Error string }
	require.NoError(t, json.Unmarshal(out, &mod))
	require.Empty(t, mod.Error)
	path := filepath.Join(mod.Dir, "cmd", "kubeadm", "app", "constants", "constants.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	require.NoError(t, err)
	k := kubeadmConstants{SupportedEtcd: map[int]string{}}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok {
			continue
		}
		for _, s := range g.Specs {
			vs, ok := s.(*ast.ValueSpec)
			if !ok || len(vs.Values) != len(vs.Names) {
				continue
			}
			for i, n := range vs.Names {
				switch n.Name {
				case "DefaultEtcdVersion":
					k.DefaultEtcd = stringLit(t, vs.Values[i])
				case "CoreDNSVersion":
					k.CoreDNS = stringLit(t, vs.Values[i])
				case "PauseVersion":
					k.Pause = stringLit(t, vs.Values[i])
				case "SupportedEtcdVersion":
					lit, ok := vs.Values[i].(*ast.CompositeLit)
					require.True(t, ok, "SupportedEtcdVersion is a map literal")
					for _, e := range lit.Elts {
						kv := e.(*ast.KeyValueExpr)
						k.SupportedEtcd[minorOf(t, kv.Key, r.Minor())] = stringLit(t, kv.Value)
					}
				}
			}
		}
	}
	require.NotEmpty(t, k.DefaultEtcd, "%s: DefaultEtcdVersion", path)
	require.NotEmpty(t, k.CoreDNS, "%s: CoreDNSVersion", path)
	require.NotEmpty(t, k.Pause, "%s: PauseVersion", path)
	return k
}

func stringLit(t *testing.T, e ast.Expr) string {
	t.Helper()
	lit, ok := e.(*ast.BasicLit)
	require.True(t, ok && lit.Kind == token.STRING, "want a string literal, got %T", e)
	s, err := strconv.Unquote(lit.Value)
	require.NoError(t, err)
	return s
}

// minorOf evaluates a SupportedEtcdVersion key: 36, uint8(36), or
// uint8(getSkewedKubernetesVersion(-1).Minor()), the kubeadm binary's own
// minor (that of the release) skewed by the argument.
func minorOf(t *testing.T, e ast.Expr, own int) int {
	t.Helper()
	switch x := e.(type) {
	case *ast.BasicLit:
		n, err := strconv.Atoi(x.Value)
		require.NoError(t, err)
		return n
	case *ast.UnaryExpr:
		if x.Op == token.SUB {
			return -minorOf(t, x.X, own)
		}
	case *ast.CallExpr:
		if id, ok := x.Fun.(*ast.Ident); ok && id.Name == "uint8" && len(x.Args) == 1 {
			return minorOf(t, x.Args[0], own)
		}
		if sel, ok := x.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Minor" {
			if call, ok := sel.X.(*ast.CallExpr); ok && len(call.Args) == 1 {
				if id, ok := call.Fun.(*ast.Ident); ok && id.Name == "getSkewedKubernetesVersion" {
					return own + minorOf(t, call.Args[0], own)
				}
			}
		}
	}
	t.Fatalf("SupportedEtcdVersion key %s: a form this test does not evaluate", fmt.Sprintf("%T", e))
	return 0
}

func TestSupersededKeepsOneImagePerRelease(t *testing.T) {
	keep := ImageRepo + ":v1.37.2-bbbbbbbbbbbb"
	present := []string{
		ImageRepo + ":v1.37.2-aaaaaaaaaaaa", // an earlier recipe of the same release
		keep,
		ImageRepo + ":v1.36.3-119cdfb7103c", // another release's image stays
		ImageRepo + ":v1.35.4-cccccccccccc",
		ImageRepo + ":v1.37.20-dddddddddddd", // not the same release
	}
	assert.Equal(t, []string{ImageRepo + ":v1.37.2-aaaaaaaaaaaa"}, supersededBy(keep, present))
	assert.Empty(t, supersededBy("not-ours", present))
}
