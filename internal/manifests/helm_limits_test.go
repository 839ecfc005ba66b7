package manifests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Render bombs that call no function cannot be interrupted inside the
// process (helm_limits.go): the watchdog ends it. Each bomb is rendered in a
// child process (this test binary, running TestRenderBombChild), which must
// end with RenderLimitExit and a message naming the template and the limit,
// within 5 s and under 256 MiB peak RSS.
const (
	bombWallLimit = 5 * time.Second
	bombRSSLimit  = 256 << 20
	envBombChart  = "MANIFESTS_TEST_BOMB_CHART"
)

var uninterruptibleBombs = []struct {
	name, template, limit string
}{
	// 25 GB written by the engine into its buffer, no function called.
	// Memory or time, whichever comes first on a loaded machine.
	{"output", "{{ range 100000000 }}" + strings.Repeat("x", 256) + "{{ end }}", "limit"},
	// A billion empty iterations: time, not memory.
	{"loop", "{{ range 1000000000 }}{{ end }}", "the render time limit"},
	// Nested template calls, each doubling the output: 2^40 bytes.
	{"templates", `{{ define "l0" }}xxxxxxxxxxxxxxxx{{ end }}` + nestedDefines(40) + `{{ template "l40" }}`, "limit"},
}

func nestedDefines(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString(`{{ define "l` + itoa(i) + `" }}{{ template "l` + itoa(i-1) + `" }}{{ template "l` + itoa(i-1) + `" }}{{ end }}`)
	}
	return b.String()
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestUninterruptibleRenderBombEndsTheProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process per bomb")
	}
	for _, bomb := range uninterruptibleBombs {
		t.Run(bomb.name, func(t *testing.T) {
			dir := writeChart(t, map[string]string{
				"Chart.yaml":        "apiVersion: v2\nname: bomb\nversion: 0.1.0\n",
				"templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n  x: |\n    " + bomb.template + "\n",
			})
			out := loadInChild(t, dir)
			assert.Contains(t, out, "manifests: chart bomb: render: template bomb/templates/cm.yaml: in a loop or recursion without a function call: rendering ")
			assert.Contains(t, out, bomb.limit)
		})
	}
	// kustomize: ten bases per level, each including the ten of the level
	// below under its own nameSuffix: 10^6 objects from 61 small files.
	t.Run("kustomize-fan-out", func(t *testing.T) {
		dir := t.TempDir()
		files := map[string]string{"l0/kustomization.yaml": "resources:\n- cm.yaml\n", "l0/cm.yaml": cm}
		const width, depth = 10, 6
		below := []string{"../l0"}
		for level := 1; level <= depth; level++ {
			var here []string
			for j := range width {
				name := fmt.Sprintf("l%d-%d", level, j)
				files[name+"/kustomization.yaml"] = fmt.Sprintf("nameSuffix: \"-%d\"\nresources:\n- %s\n", j, strings.Join(below, "\n- "))
				here = append(here, "../"+name)
			}
			below = here
		}
		files["top/kustomization.yaml"] = "resources:\n- " + strings.Join(below, "\n- ") + "\n"
		write(t, dir, files)
		out := loadInChild(t, filepath.Join(dir, "top"))
		assert.Contains(t, out, "manifests: kustomize build "+filepath.Join(dir, "top", "kustomization.yaml")+": rendering ")
	})
}

// loadInChild loads dir in a child process (this test binary, running
// TestRenderBombChild), which must be ended by the watchdog within
// bombWallLimit and bombRSSLimit; it returns the child's output.
func loadInChild(t *testing.T, dir string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*bombWallLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestRenderBombChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envBombChart+"="+dir)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	wall := time.Since(start)
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the child must fail: %s", out)
	assert.Equal(t, RenderLimitExit, exit.ExitCode(), "%s", out)
	rss := int64(exit.SysUsage().(*syscall.Rusage).Maxrss) << 10
	t.Logf("ended after %s, peak RSS %d MiB: %s", wall.Round(time.Millisecond), rss>>20, strings.TrimSpace(string(out)))
	assert.Less(t, wall, bombWallLimit)
	assert.Less(t, rss, int64(bombRSSLimit))
	return string(out)
}

// TestRenderBombChild loads the chart named by envBombChart; it runs only
// as the child of the test above, and must not return.
func TestRenderBombChild(t *testing.T) {
	dir := os.Getenv(envBombChart)
	if dir == "" {
		t.Skip("only as a child of TestUninterruptibleRenderBombEndsTheProcess")
	}
	_, err := Load(dir)
	t.Fatalf("the render returned (%v); the watchdog should have ended the process", err)
}

// BenchmarkHelmRenderBombRefused measures how fast a capped render bomb
// (repeat of a gigabyte) is refused: before anything is allocated.
func BenchmarkHelmRenderBombRefused(b *testing.B) {
	root, err := ModuleRoot()
	require.NoError(b, err)
	for _, name := range []string{"helm-render-bomb-repeat", "helm-render-bomb-doubling", "helm-render-bomb-objects"} {
		dir := filepath.Join(root, "fixtures", "bad-inputs", name)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := renderChart(dir, HelmSettings{}); err == nil || !strings.Contains(err.Error(), "limit") {
					b.Fatalf("not refused at a limit: %v", err)
				}
			}
		})
	}
}

// BenchmarkHelmRenderWithHooks renders the fixture chart with hooks, NOTES
// and a lookup, and decodes its hooks, as Load does.
func BenchmarkHelmRenderWithHooks(b *testing.B) {
	root, err := ModuleRoot()
	require.NoError(b, err)
	dir := filepath.Join(root, "fixtures", "bad-inputs", "helm-hook-credential")
	b.ReportAllocs()
	for b.Loop() {
		s, err := newLoader().loadChart(dir, "hooked", HelmSettings{})
		if err != nil || len(s.Hooks) != 4 {
			b.Fatalf("%v", err)
		}
	}
}
