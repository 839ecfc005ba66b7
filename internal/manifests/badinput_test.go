package manifests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/puretasks/k8s-conformance/internal/nodeimage"
)

// loadDeadline bounds every load in these tests: an input that hangs the
// loader (a FIFO, /dev/zero) fails the test instead of blocking it.
const loadDeadline = 20 * time.Second

// loadBounded runs Load under loadDeadline.
func loadBounded(t *testing.T, path string) (*Set, error) {
	t.Helper()
	type result struct {
		s   *Set
		err error
	}
	ctx, cancel := context.WithTimeout(context.Background(), loadDeadline)
	defer cancel()
	done := make(chan result, 1)
	go func() {
		s, err := Load(path)
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		return r.s, r.err
	case <-ctx.Done():
		t.Fatalf("Load(%s) did not return within %s: the input hangs the loader", path, loadDeadline)
		return nil, nil
	}
}

func badInputsDir(t *testing.T) string {
	t.Helper()
	root, err := ModuleRoot()
	require.NoError(t, err)
	return filepath.Join(root, "fixtures", "bad-inputs")
}

// badInput is one case of the table: a directory under fixtures/bad-inputs
// (or a temporary one that setup fills with special files), what to load in
// it, and the exact error it must produce, or, for input kubectl accepts,
// the number of objects it must yield.
type badInput struct {
	name    string
	load    string                         // relative to the case's directory; "" is the directory
	setup   func(t *testing.T, dir string) // creates special files in a temporary directory
	want    []string                       // substrings of the error, each exactly as written
	objects int                            // > 0: no error, this many objects
	hide    []string                       // input values the error must never quote (credentials)
	env     map[string]string              // environment for the load (MANIFESTS_SET plants a value)
}

// fakeToken is a made-up GitHub token (ghp_ and 36 characters), assembled at
// run time so the repository holds no literal a secret scanner flags.
var fakeToken = func() string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := []byte("gh" + "p_")
	for x := uint32(42); len(b) < 40; {
		x = x*1664525 + 1013904223
		b = append(b, alnum[(x>>16)%uint32(len(alnum))])
	}
	return string(b)
}()

// fakeTokenSecret is a Secret holding fakeToken, namespace left to the caller.
func fakeTokenSecret(namespace string) string {
	s := "apiVersion: v1\nkind: Secret\nmetadata:\n  name: todo-app-secrets\n"
	if namespace != "" {
		s += "  namespace: " + namespace + "\n"
	}
	return s + "stringData:\n  OPENAI_API_KEY: " + fakeToken + "\n"
}

var badInputs = []badInput{
	// Wrong passes from issue 9.
	{name: "duplicate-key-second-secret", want: []string{
		`secrets.yaml:10: v1 Secret/todo-app-secrets: duplicate field "stringData.OPENAI_API_KEY" (kubectl would keep the last value silently; refused here so a typo cannot hide)`}},
	{name: "multi-object-json", objects: 3},
	{name: "list-kind", objects: 2},
	{name: "unknown-field-replicaz", want: []string{
		`deployment.yaml:7: apps/v1 Deployment todo-app/backend: unknown field "spec.replicaz" (kubectl apply's strict field validation rejects it)`}},
	{name: "unknown-field-imagepulpolicy", want: []string{
		`deployment.yaml:17: apps/v1 Deployment todo-app/backend: unknown field "spec.template.spec.containers[0].imagePulPolicy"`}},
	{name: "duplicate-field-json", want: []string{
		`configmap.json:6: v1 ConfigMap todo-app/a: duplicate field "data" (kubectl would keep the last value silently; refused here so a typo cannot hide)`}},
	{name: "kustomization-outside-root", load: "overlay", want: []string{
		`overlay/kustomization.yaml: resource "../outside.yaml" is outside the kustomization's root`,
		`kustomize's default load restriction (LoadRestrictionsRootOnly) refuses files outside the root`}},
	{name: "remote-base-git", want: []string{
		`kustomization.yaml: resources entry "github.com/example/todo-manifests//base?ref=v1" is remote: remote bases are not fetched (no network is tried); vendor it into the repository`}},
	{name: "remote-base-https", want: []string{
		`kustomization.yaml: resources entry "https://example.invalid/todo-app/configmap.yaml" is remote: remote bases are not fetched`}},
	{name: "removed-api-apps-v1beta1", want: []string{
		`deployment.yaml:1: apps/v1beta1 Deployment is no longer served by the API server (removed in Kubernetes 1.16); use apps/v1 Deployment`}},
	{name: "alias-bomb", want: []string{`bomb.yaml:1: malformed YAML: document contains excessive aliasing`}},
	{name: "empty-kustomization", want: []string{
		`empty-kustomization/kustomization.yaml lists no resources: the kustomization renders no objects (files beside it are read only when listed under resources:)`}},
	{name: "diamond", load: "top", want: []string{
		`an object is included twice: `, `diamond/base is included by `, `diamond/left/kustomization.yaml and by `, `diamond/right/kustomization.yaml, and the copies have the same kind, namespace and name`,
		`give one path a namePrefix or nameSuffix, or include the base once`}},
	{name: "not-a-manifest", want: []string{
		`docker-compose.yaml:1: not a Kubernetes object (apiVersion and kind are required; is this file meant to be among the manifests?)`}},
	{name: "not-a-manifest-list", want: []string{
		`steps.yaml:1: not a Kubernetes object: the document is a list, not a mapping with apiVersion and kind`}},
	{name: "secret-bad-base64", want: []string{
		`secret.yaml:9: v1 Secret todo-app/todo-app-secrets: data.JWT_SECRET: illegal base64 data at input byte 3`}},
	{name: "bad-quantity", want: []string{
		`deployment.yaml:18: apps/v1 Deployment todo-app/backend: spec.template.spec.containers[0].resources.limits.memory: quantities must match the regular expression`}},
	{name: "malformed-yaml", want: []string{`configmap.yaml:5: malformed YAML: did not find expected ',' or ']'`}},
	{name: "kustomize-duplicate-key", want: []string{
		`configmap.yaml:8: v1 ConfigMap todo-app/a: duplicate field "data.K"`}},
	{name: "kustomize-patch-unknown-field", want: []string{
		`deployment.yaml:1 (rendered by kustomize from `,
		`apps/v1 Deployment todo-app/backend: unknown field "spec.replicaz"`}},
	{name: "kustomize-full", objects: 2},

	// Special files, made at test time.
	{name: "huge-file", setup: func(t *testing.T, dir string) {
		f, err := os.Create(filepath.Join(dir, "huge.yaml"))
		require.NoError(t, err)
		_, err = f.WriteString(cm)
		require.NoError(t, err)
		require.NoError(t, f.Truncate(200<<20)) // 200 MB
		require.NoError(t, f.Close())
	}, want: []string{`huge.yaml is 209715200 bytes; the limit is 3145728 bytes (3 MiB, the Kubernetes API server's request-body limit`}},
	{name: "fifo", setup: func(t *testing.T, dir string) {
		require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "x.yaml"), 0o644))
	}, want: []string{`x.yaml is a FIFO (named pipe), not a regular file; only regular files are read as manifests`}},
	{name: "symlink-to-dev-zero", setup: func(t *testing.T, dir string) {
		require.NoError(t, os.Symlink("/dev/zero", filepath.Join(dir, "zero.yaml")))
	}, want: []string{`zero.yaml is a character device, not a regular file`}},
	{name: "socket", setup: func(t *testing.T, dir string) {
		l, err := net.Listen("unix", filepath.Join(dir, "s.yaml"))
		require.NoError(t, err)
		t.Cleanup(func() { l.Close() })
	}, want: []string{`s.yaml is a socket, not a regular file`}},
	{name: "symlink-loop", setup: func(t *testing.T, dir string) {
		require.NoError(t, os.Symlink("b.yaml", filepath.Join(dir, "a.yaml")))
		require.NoError(t, os.Symlink("a.yaml", filepath.Join(dir, "b.yaml")))
	}, want: []string{`a.yaml: symlink loop (too many levels of symbolic links); fix or remove the link`}},
	{name: "symlink-loop-in-kustomization", setup: func(t *testing.T, dir string) {
		write(t, dir, map[string]string{"kustomization.yaml": "resources:\n- loop.yaml\n"})
		require.NoError(t, os.Symlink("loop.yaml", filepath.Join(dir, "loop.yaml")))
	}, want: []string{`kustomization.yaml: resources entry "loop.yaml": symlink loop at`}},
	{name: "fifo-as-kustomize-patch", setup: func(t *testing.T, dir string) {
		write(t, dir, map[string]string{"kustomization.yaml": "resources:\n- cm.yaml\npatches:\n- path: p.yaml\n", "cm.yaml": cm})
		require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "p.yaml"), 0o644))
	}, want: []string{`p.yaml is a FIFO (named pipe), not a regular file`}},
	{name: "dev-zero-as-generator-file", setup: func(t *testing.T, dir string) {
		write(t, dir, map[string]string{"kustomization.yaml": "configMapGenerator:\n- name: g\n  files:\n  - zero.txt\n"})
		require.NoError(t, os.Symlink("/dev/zero", filepath.Join(dir, "zero.txt")))
	}, want: []string{`a file outside the kustomization's root is refused by kustomize's default load restriction (LoadRestrictionsRootOnly)`, `zero.txt`}},
	{name: "fifo-as-generator-file", setup: func(t *testing.T, dir string) {
		write(t, dir, map[string]string{"kustomization.yaml": "configMapGenerator:\n- name: g\n  files:\n  - pipe.txt\n"})
		require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "pipe.txt"), 0o644))
	}, want: []string{`pipe.txt is a FIFO (named pipe), not a regular file`}},
	{name: "remote-component-in-a-base", setup: func(t *testing.T, dir string) {
		write(t, dir, map[string]string{
			"overlay/kustomization.yaml": "resources:\n- ../base\n",
			"base/kustomization.yaml":    "resources:\n- cm.yaml\ncomponents:\n- git@github.com:example/todo-components.git//tls\n",
			"base/cm.yaml":               cm,
		})
	}, load: "overlay", want: []string{
		`base/kustomization.yaml: components entry "git@github.com:example/todo-components.git//tls" is remote: remote bases are not fetched (no network is tried)`}},
	{name: "long-line", setup: func(t *testing.T, dir string) {
		long := strings.Repeat("x", 2<<20) // 2 MiB on one line
		write(t, dir, map[string]string{"cm.yaml": cm + "  LONG: " + long + "\n"})
	}, objects: 1},
	// Found by a hostile pass over the rewritten input layer.
	{name: "namespace-less-duplicate", want: []string{
		`manifests: Deployment todo-app/backend is defined twice: `, `namespace-less-duplicate/a-backend.yaml:4 has no metadata.namespace, so kubectl applies it to the current context's namespace, which may be todo-app, where it is the same object as Deployment todo-app/backend from `,
		`namespace-less-duplicate/backend.yaml:1 (one overwrites the other); give it a namespace`}},
	{name: "uppercase-extension-ignored", objects: 1}, // kubectl reads .yaml, not .YAML
	{name: "hidden-directory", setup: func(t *testing.T, dir string) {
		write(t, dir, map[string]string{"ns.yaml": ns, ".extra/cm.yaml": cm}) // kubectl apply -R reads .extra/
	}, objects: 2},
	{name: "utf16-multi-document", setup: func(t *testing.T, dir string) {
		text := ns + "---\n" + cm
		u16 := []byte{0xFF, 0xFE} // little-endian BOM, as Windows editors write it
		for _, r := range text {
			u16 = append(u16, byte(r), 0)
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, "all.yaml"), u16, 0o644))
	}, objects: 2},
	{name: "utf8-bom-json-stream", setup: func(t *testing.T, dir string) {
		write(t, dir, map[string]string{"all.json": "\xEF\xBB\xBF" +
			`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"todo-app"}}` + "\n" +
			`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"todo-app"}}` + "\n"})
	}, objects: 2},
	{name: "crlf-and-null-documents", setup: func(t *testing.T, dir string) {
		write(t, dir, map[string]string{"all.yaml": strings.ReplaceAll("---\nnull\n---\n~\n---\n"+ns+"---\n"+cm, "\n", "\r\n")})
	}, objects: 2},
	{name: "nul-byte", setup: func(t *testing.T, dir string) {
		write(t, dir, map[string]string{"cm.yaml": cm + "  NUL: \"a\x00b\"\n"})
	}, want: []string{`cm.yaml:1: malformed YAML: control characters are not allowed`}},
	{name: "tab-indentation", setup: func(t *testing.T, dir string) {
		write(t, dir, map[string]string{"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: a\n"})
	}, want: []string{`cm.yaml:4: malformed YAML: found character that cannot start any token`}},
	{name: "wrong-type-among-many-keys", setup: func(t *testing.T, dir string) {
		// One number among 40,000 string values: explaining which field
		// is wrong once took minutes (one decode per key).
		var b strings.Builder
		b.WriteString("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\n  namespace: todo-app\ndata:\n")
		for i := range 40000 {
			fmt.Fprintf(&b, "  k%06d: \"v\"\n", i)
		}
		b.WriteString("  zzz: 60\n")
		write(t, dir, map[string]string{"big.yaml": b.String()})
	}, want: []string{`big.yaml:40007: v1 ConfigMap todo-app/big: data.zzz: json: cannot unmarshal number into Go struct field ConfigMap.data of type string`}},
	{name: "kustomize-namespace-conflict-secret", setup: func(t *testing.T, dir string) {
		write(t, dir, map[string]string{
			"kustomization.yaml": "namespace: todo-app\nresources:\n- a.yaml\n- b.yaml\n",
			"a.yaml":             fakeTokenSecret(""),
			"b.yaml":             fakeTokenSecret("todo-app"),
		})
	}, want: []string{`namespace transformation produces ID conflict: [<Secret todo-app/todo-app-secrets, contents not shown> <Secret todo-app/todo-app-secrets, contents not shown>]`},
		hide: []string{fakeToken, "OPENAI_API_KEY"}},
	{name: "secret-generator-bad-literal", setup: func(t *testing.T, dir string) {
		write(t, dir, map[string]string{"kustomization.yaml": "secretGenerator:\n- name: s\n  literals:\n  - OPENAI_API_KEY:" + fakeToken + "\n"})
	}, want: []string{`loading KV pairs: literal sources (values not shown): invalid literal source (value not shown), expected key=value`},
		hide: []string{fakeToken}},
	{name: "chart-template-renders-one-name-twice", setup: func(t *testing.T, dir string) {
		write(t, dir, map[string]string{
			"Chart.yaml":        "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
			"templates/cm.yaml": cm + "---\n" + cm,
		})
	}, want: []string{`manifests: ConfigMap todo-app/a is defined twice: demo/templates/cm.yaml:1 (document 1) and demo/templates/cm.yaml:1 (document 2)`}},
	// Issue 16: everything Helm installs, bounded renders, messages.
	{name: "helm-hook-credential", objects: 1},      // + 4 hooks: TestHooksAreDecodedAndListed
	{name: "helm-hook-exposes-backend", objects: 7}, // + a NodePort hook Service on the backend
	{name: "helm-render-bomb-repeat", want: []string{
		`/helm-render-bomb-repeat: render: template bomb/templates/cm.yaml: repeat would build a string of 1000000000×1 bytes, over 16 MiB, the render size limit`}},
	{name: "helm-render-bomb-doubling", want: []string{
		`/helm-render-bomb-doubling: render: template bomb/templates/cm.yaml: cat would build a string from 18874366 bytes of arguments, over 16 MiB, the render size limit`}},
	{name: "helm-render-bomb-objects", want: []string{
		`/helm-render-bomb-objects: template bomb/templates/cms.yaml: the render reaches 20000 documents, over 5000, the render object limit`}},
	{name: "helm-fail-quotes-value", env: map[string]string{EnvSet: "database.password=" + fakeToken[:20]},
		want: []string{`render: execution error at (bomb/templates/cm.yaml:2:4): database.password <value of .Values.database.password, not shown> is too short`},
		hide: []string{fakeToken[:20]}},
	{name: "helm-tpl-quotes-value", setup: func(t *testing.T, dir string) {
		write(t, dir, map[string]string{
			"Chart.yaml":        "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
			"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ tpl .Values.name . }}\n",
			"values-file.yaml":  "name: \"{{ " + fakeToken + " }}\"\n",
		})
		t.Setenv(EnvValues, filepath.Join(dir, "values-file.yaml"))
	},
		want: []string{`demo/templates/cm.yaml:4:11: executing "demo/templates/cm.yaml" at <tpl .Values.name .>: error calling tpl: cannot parse template (template text from values, not shown, nor the error that quotes it)`}, hide: []string{fakeToken}},
	{name: "kustomize-helm-charts", want: []string{
		`kustomize-helm-charts/kustomization.yaml: helmCharts entry "todo-app": kustomize inflates Helm charts only when run with --enable-helm, which ` + "`kubectl apply -k`" + ` does not have, so kubectl cannot apply this kustomization either (valuesInline not shown). To check the chart, point MANIFESTS_DIR at the chart itself (`,
		`kustomize-helm-charts/charts/todo-app), with its values in MANIFESTS_VALUES or MANIFESTS_SET`},
		hide: []string{"OPENAI_API_KEY", "REPLACE_ME"}},
	{name: "kustomize-replacement-quotes-value", want: []string{
		`unable to find field "data.URL.password" in replacement target: wrong node kind: expected MappingNode but got ScalarNode: the node's contents (not shown)`},
		hide: []string{"planted-value-of-the-configmap"}},
	{name: "control-characters-in-names", setup: func(t *testing.T, dir string) {
		write(t, dir, map[string]string{
			"x\n--- PASS: TestFake (0.00s)\n::warning::owned\x1b[2J.yaml": "apiVersion: v1\nkind: \"Widget\\n--- PASS: TestFake\"\nmetadata:\n  name: a\n",
		})
	}, want: []string{`x\n--- PASS: TestFake (0.00s)\n::warning::owned\x1b[2J.yaml:1: unsupported kind v1 Widget\n--- PASS: TestFake`},
		hide: []string{"\n--- PASS", "\n::warning", "\x1b"}},
	{name: "malformed-after-long-line", setup: func(t *testing.T, dir string) {
		long := strings.Repeat("x", 2<<20)
		write(t, dir, map[string]string{"cm.yaml": cm + "  LONG: " + long + "\n  BAD: [unclosed\n"})
	}, want: []string{`cm.yaml:9: malformed YAML: did not find expected ',' or ']'`}},
}

// TestBadInputs is the table of bad and unusual inputs: each yields exactly
// the error it states, or the objects kubectl would apply.
func TestBadInputs(t *testing.T) {
	fixtures := badInputsDir(t)
	for _, tc := range badInputs {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(fixtures, tc.name)
			if tc.setup != nil {
				dir = filepath.Join(t.TempDir(), tc.name)
				require.NoError(t, os.MkdirAll(dir, 0o755))
				tc.setup(t, dir)
			} else {
				require.DirExists(t, dir, "fixture")
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			s, err := loadBounded(t, filepath.Join(dir, tc.load))
			if tc.objects > 0 {
				require.NoError(t, err)
				assert.Len(t, s.Objects, tc.objects)
				return
			}
			require.Error(t, err, "must be refused")
			msg := err.Error()
			t.Logf("error: %s", msg)
			for _, w := range tc.want {
				assert.Contains(t, msg, w)
			}
			assert.LessOrEqual(t, len(msg), 2000, "one short message, not a dump: %s", msg)
			for _, h := range tc.hide {
				assert.NotContains(t, msg, h, "the error quotes an input value")
			}
			if strings.Contains(msg, "malformed YAML") {
				first := strings.SplitN(tc.want[0], ":", 2)[0]
				assert.Equal(t, 1, strings.Count(msg, first), "the path is printed once: %s", msg)
			}
		})
	}
}

// TestEveryFixtureIsInTheTable keeps fixtures/bad-inputs and the table in
// step: a fixture without a case would prove nothing.
func TestEveryFixtureIsInTheTable(t *testing.T) {
	entries, err := os.ReadDir(badInputsDir(t))
	require.NoError(t, err)
	cases := map[string]bool{}
	for _, tc := range badInputs {
		cases[tc.name] = true
	}
	for _, e := range entries {
		if e.IsDir() {
			assert.True(t, cases[e.Name()], "fixtures/bad-inputs/%s has no case in badInputs", e.Name())
		}
	}
}

func TestKustomizeRendersWhatKubectlRenders(t *testing.T) {
	s, err := loadBounded(t, filepath.Join(badInputsDir(t), "kustomize-full"))
	require.NoError(t, err)
	d, ok := s.Find("Deployment", "todo-app", "demo-backend")
	require.True(t, ok, "namePrefix applied")
	dep := d.Object.(*appsv1.Deployment)
	assert.Equal(t, int32(2), *dep.Spec.Replicas, "JSON 6902 patch applied")
	assert.Equal(t, "todo-backend:v2", dep.Spec.Template.Spec.Containers[0].Image, "image override applied")
	assert.Equal(t, "yes", dep.Labels["from-component"], "component applied")
	assert.Contains(t, d.Source, filepath.Join("kustomize-full", "deployment.yaml")+":1")
	var gen *corev1.ConfigMap
	for _, c := range Typed[*corev1.ConfigMap](s) {
		if strings.HasPrefix(c.Name, "demo-generated-") {
			gen = c
		}
	}
	require.NotNil(t, gen, "configMapGenerator output, with its hash suffix")
	assert.Equal(t, "DEBUG", gen.Data["LOG_LEVEL"])
	for _, o := range s.Objects {
		assert.NotContains(t, o.GetAnnotations(), "config.kubernetes.io/origin")
	}
}

// TestOriginAnnotationsChangeNothing: asking krusty for origin annotations
// (to name each object's file) renders the same objects as kubectl apply -k.
func TestOriginAnnotationsChangeNothing(t *testing.T) {
	root, err := ModuleRoot()
	require.NoError(t, err)
	dir := filepath.Join(root, "manifests", "persistent-uploads")
	s, err := Load(dir)
	require.NoError(t, err)
	plain := renderPlain(t, dir)
	require.Len(t, s.Objects, len(plain))
	for i, o := range s.Objects {
		got, err := json.Marshal(o.Object)
		require.NoError(t, err)
		assert.JSONEq(t, string(plain[i]), string(got), o.Source)
	}
}

// TestHugeFileIsRefusedUnread: the 200 MB file is refused from its size,
// without reading it: the allocation stays far below the file.
func TestHugeFileIsRefusedUnread(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "huge.yaml"))
	require.NoError(t, err)
	require.NoError(t, f.Truncate(200<<20))
	require.NoError(t, f.Close())
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = Load(dir)
	runtime.ReadMemStats(&after)
	require.ErrorContains(t, err, "the limit is 3145728 bytes")
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("refusing a 200 MB file allocated %d bytes", alloc)
	assert.Less(t, alloc, uint64(1<<20))
}

// TestReadIsBoundedWhateverTheSizeSays: a file that grows past its stat
// (or lies, as /proc files do) is still read at most MaxFileBytes+1.
func TestReadIsBoundedWhateverTheSizeSays(t *testing.T) {
	r := io.LimitReader(endless{}, MaxFileBytes+1)
	raw, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Len(t, raw, MaxFileBytes+1, "readFile stops here and refuses the file")
	_, err = readFile("/proc/self/status") // size 0 in stat, content read bounded
	require.NoError(t, err)
}

type endless struct{}

func (endless) Read(p []byte) (int, error) { return len(p), nil }

const permChildEnv = "MANIFESTS_TEST_UNREADABLE"

// TestPermissionDeniedChild is not a test on its own: TestPermissionDenied
// runs it as uid 65534, so that an unreadable file is unreadable (root reads
// anything), and reads what it prints.
func TestPermissionDeniedChild(t *testing.T) {
	path := os.Getenv(permChildEnv)
	if path == "" {
		t.Skip("run by TestPermissionDenied as a non-root user")
	}
	_, err := Load(path)
	fmt.Printf("LOAD-ERROR: %v\n", err)
}

func TestPermissionDenied(t *testing.T) {
	work, err := os.MkdirTemp("", "manifests-perm-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(work) })
	require.NoError(t, os.Chmod(work, 0o755))
	write(t, work, map[string]string{"file/ns.yaml": ns, "file/secret.yaml": cm, "dir/ns.yaml": ns, "dir/sub/cm.yaml": cm})
	require.NoError(t, os.Chmod(filepath.Join(work, "file", "secret.yaml"), 0o000))
	require.NoError(t, os.Chmod(filepath.Join(work, "dir", "sub"), 0o000))
	t.Cleanup(func() { os.Chmod(filepath.Join(work, "dir", "sub"), 0o755) })
	cases := map[string]string{
		"file": "secret.yaml: permission denied: the suite cannot read it (check the file's mode and owner",
		"dir":  "sub: permission denied: the suite cannot list it (check the directory's mode and owner)",
	}
	if os.Geteuid() != 0 {
		for dir, want := range cases {
			_, err := Load(filepath.Join(work, dir))
			assert.ErrorContains(t, err, want)
		}
		return
	}
	// As root: re-run this test binary as nobody (uid/gid 65534). The go
	// tool's build directory is private to root, so the binary is copied
	// where nobody can execute it.
	self, err := os.Executable()
	require.NoError(t, err)
	bin := filepath.Join(work, "manifests.test")
	copyFile(t, self, bin, 0o755)
	for dir, want := range cases {
		cmd := exec.Command(bin, "-test.run=^TestPermissionDeniedChild$", "-test.count=1")
		cmd.Dir = work
		cmd.Env = append(os.Environ(), permChildEnv+"="+filepath.Join(work, dir))
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if errors.Is(err, syscall.EPERM) {
			t.Skipf("cannot switch to uid 65534 here (%v): the permission case needs a non-root user", err)
		}
		require.NoError(t, err, "child run as uid 65534: %s", out)
		line := ""
		for _, l := range strings.Split(string(out), "\n") {
			if s, ok := strings.CutPrefix(l, "LOAD-ERROR: "); ok {
				line = s
			}
		}
		require.NotEmpty(t, line, "the child printed no result: %s", out)
		t.Logf("as uid 65534, %s: %s", dir, line)
		assert.Contains(t, line, want, dir)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
}

// TestServedMinorIsTheLiveTiers keeps servedMinor on the Kubernetes minor
// the live tier runs, and moves it with K8S_VERSION.
func TestServedMinorIsTheLiveTiers(t *testing.T) {
	t.Setenv("K8S_VERSION", "")
	assert.True(t, strings.HasPrefix(nodeimage.Pinned.Kubernetes, fmt.Sprintf("v1.%d.", servedMinor())),
		"servedMinor %d, live tier %s", servedMinor(), nodeimage.Pinned.Kubernetes)
	t.Setenv("K8S_VERSION", "1.37")
	assert.Equal(t, 37, servedMinor())
}

// renderPlain renders a kustomization with krusty's defaults and nothing
// else, each object as the JSON of its typed decode.
func renderPlain(t *testing.T, dir string) [][]byte {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	require.NoError(t, err)
	var out [][]byte
	for _, r := range m.Resources() {
		js, err := r.MarshalJSON()
		require.NoError(t, err)
		obj, _, err := apiServerDecoder.Decode(js, nil, nil)
		require.NoError(t, err)
		typed, err := json.Marshal(obj)
		require.NoError(t, err)
		out = append(out, typed)
	}
	return out
}

// BenchmarkKustomizeRender renders manifests/persistent-uploads/ (an overlay
// of base/) as Load does: preflight walk, krusty, strict decode.
func BenchmarkKustomizeRender(b *testing.B) {
	root, err := ModuleRoot()
	require.NoError(b, err)
	dir := filepath.Join(root, "manifests", "persistent-uploads")
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		s, err := Load(dir)
		if err != nil || len(s.Objects) != 9 {
			b.Fatal(err)
		}
	}
	// ns/op is wall time, inflated on a busy machine; the process's CPU
	// time per render (all threads, GC included) is the steadier figure.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the process's user+system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// BenchmarkLoadLargeFile loads a file just under MaxFileBytes (thousands of
// ConfigMaps), the largest input the loader accepts, and reports the
// process's peak resident memory (VmHWM) besides the bytes allocated per
// load: memory stays bounded because no file over the cap is read.
func BenchmarkLoadLargeFile(b *testing.B) {
	dir := b.TempDir()
	var buf strings.Builder
	for i := 0; buf.Len() < MaxFileBytes-4096; i++ {
		fmt.Fprintf(&buf, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%d\n  namespace: todo-app\ndata:\n  K: %s\n", i, strings.Repeat("v", 200))
	}
	require.NoError(b, os.WriteFile(filepath.Join(dir, "large.yaml"), []byte(buf.String()), 0o644))
	before, _ := peakRSS()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(dir); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(buf.String())), "file-bytes")
	if hwm, ok := peakRSS(); ok {
		b.ReportMetric(float64(hwm)/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(float64(before)/(1<<20), "RSS-before-MiB")
	}
}

// peakRSS reads the process's resident-memory high-water mark (Linux).
func peakRSS() (int64, bool) {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(v), "%d kB", &kb); err == nil {
				return kb << 10, true
			}
		}
	}
	return 0, false
}
