// Package workflows holds the static check of the CI workflows: actionlint,
// as a library, over .github/workflows (a dot directory `go test ./...` skips).
package workflows

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"

	"github.com/rhysd/actionlint"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/internal/manifests"
)

func lint(t *testing.T, files []string, content []byte) []*actionlint.Error {
	t.Helper()
	l, err := actionlint.NewLinter(io.Discard, &actionlint.LinterOptions{})
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

func TestWorkflowsPassActionlint(t *testing.T) {
	root, err := manifests.ModuleRoot()
	require.NoError(t, err)
	files, err := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.yml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, e := range lint(t, files, nil) {
		t.Errorf("%s:%d:%d: %s [%s]", e.Filepath, e.Line, e.Column, e.Message, e.Kind)
	}
}

func TestActionlintCatchesABrokenWorkflow(t *testing.T) {
	broken := []byte("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n        if: ${{ alwayz() }}\n")
	errs := lint(t, nil, broken)
	var msgs bytes.Buffer
	for _, e := range errs {
		msgs.WriteString(e.Message + "\n")
	}
	assert.NotEmpty(t, errs)
	assert.Contains(t, msgs.String(), "alwayz")
}
