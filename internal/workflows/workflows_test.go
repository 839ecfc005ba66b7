// Package workflows holds the static check of the CI workflows: actionlint,
// as a library, over .github/workflows (a dot directory `go test ./...` skips),
// with its shellcheck integration on the run: scripts.
package workflows

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/internal/manifests"
)

// shellcheck returns the shellcheck executable. Without it actionlint skips
// the scripts silently, so a machine without it skips this test visibly; in
// CI (CI set) its absence is a failure.
func shellcheck(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("shellcheck")
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatal("shellcheck is not installed: actionlint cannot check the workflows' run: scripts (apt-get install -y shellcheck)")
	}
	t.Skip("shellcheck is not installed, so the workflows' run: scripts are not checked here (apt-get install -y shellcheck); CI requires it")
	return ""
}

func lint(t *testing.T, files []string, content []byte, sc string) []*actionlint.Error {
	t.Helper()
	l, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{Shellcheck: sc})
	require.NoError(t, err)
	if content != nil {
		errs, err := l.Lint("broken.yml", content, nil)
		require.NoError(t, err)
		return errs
	}
	errs, err := l.LintFiles(files, nil)
	require.NoError(t, err)
	return errs
}

func workflowFiles(t *testing.T) []string {
	root, err := manifests.ModuleRoot()
	require.NoError(t, err)
	files, err := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files
}

func TestWorkflowsPassActionlintAndShellcheck(t *testing.T) {
	sc := shellcheck(t)
	for _, e := range lint(t, workflowFiles(t), nil, sc) {
		t.Errorf("%s:%d:%d: %s [%s]", e.Filepath, e.Line, e.Column, e.Message, e.Kind)
	}
}

func TestActionlintCatchesABrokenWorkflow(t *testing.T) {
	broken := []byte("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n        if: ${{ alwayz() }}\n")
	errs := lint(t, nil, broken, "")
	var msgs bytes.Buffer
	for _, e := range errs {
		msgs.WriteString(e.Message + "\n")
	}
	assert.NotEmpty(t, errs)
	assert.Contains(t, msgs.String(), "alwayz")
}

// The shellcheck integration is on: an unquoted expansion in a run: script is
// a finding (SC2086), not a pass.
func TestShellcheckCatchesABrokenScript(t *testing.T) {
	sc := shellcheck(t)
	broken := []byte("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: |\n          dir=$1\n          rm -rf $dir/build\n")
	var kinds []string
	for _, e := range lint(t, nil, broken, sc) {
		kinds = append(kinds, e.Kind+": "+e.Message)
	}
	assert.Contains(t, fmtAll(kinds), "SC2086")
}

// Every action the workflows use is on the newest major version actionlint
// knows (older majors of actions/* run on Node runtimes GitHub retires).
func TestWorkflowsUseTheNewestMajorOfEachAction(t *testing.T) {
	newest := map[string]int{}
	for spec := range actionlint.PopularActions {
		name, major, ok := splitSpec(spec)
		if ok && major > newest[name] {
			newest[name] = major
		}
	}
	uses := regexp.MustCompile(`uses:\s*([\w.-]+/[\w.-]+)@(\S+)`)
	for _, f := range workflowFiles(t) {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range uses.FindAllStringSubmatch(string(raw), -1) {
			name, major, ok := splitSpec(m[1] + "@" + m[2])
			require.True(t, ok, "%s: %s@%s is not pinned to a major version (vN)", filepath.Base(f), m[1], m[2])
			if n, known := newest[name]; known {
				assert.Equal(t, n, major, "%s: %s@v%d, but v%d is current", filepath.Base(f), name, major, n)
			}
		}
	}
}

// splitSpec reads "actions/checkout@v6" as ("actions/checkout", 6).
func splitSpec(spec string) (string, int, bool) {
	name, ref, ok := strings.Cut(spec, "@")
	if !ok || !strings.HasPrefix(ref, "v") {
		return "", 0, false
	}
	n, err := strconv.Atoi(strings.TrimPrefix(ref, "v"))
	return name, n, err == nil
}

func fmtAll(s []string) string {
	var b bytes.Buffer
	for _, x := range s {
		b.WriteString(x + "\n")
	}
	return b.String()
}
