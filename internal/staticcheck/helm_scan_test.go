package staticcheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/internal/manifests"
)

// hookedChart is the fixture chart with hooks, a NOTES.txt and a lookup.
func hookedChart(t *testing.T) string {
	t.Helper()
	root, err := manifests.ModuleRoot()
	require.NoError(t, err)
	return filepath.Join(root, "fixtures", "bad-inputs", "helm-hook-credential")
}

// loadHooked loads the fixture chart with values planted at test time: a
// --set (MANIFESTS_SET) and, optionally, a values file.
func loadHooked(t *testing.T, set string, valuesFile string) []manifests.Profiled {
	t.Helper()
	t.Setenv(manifests.EnvSet, set)
	t.Setenv(manifests.EnvValues, valuesFile)
	sets, err := manifests.Discover(hookedChart(t))
	require.NoError(t, err)
	require.Len(t, sets, 1)
	return sets
}

// allOutput is everything the static tier prints for the sets: the summary
// and every finding of every check.
func allOutput(sets []manifests.Profiled) string {
	out := SetSummary(sets)
	for _, s := range sets {
		for _, fs := range Run(s.Set, s.Profile).Findings {
			for _, f := range fs {
				out = append(out, f.String())
			}
		}
	}
	return strings.Join(out, "\n")
}

// A credential in a hook Secret fails SEC-2, named by the hook, the key and
// the rule; it never appears in the output.
func TestHookSecretWithCredentialFailsSEC2(t *testing.T) {
	tok := syntheticTokens[2] // GitHub personal access token
	sets := loadHooked(t, "hookToken="+tok.value, "")
	findings := RunOne(sec2(t), sets[0].Set, sets[0].Profile)
	var found bool
	for _, f := range findings {
		if strings.Contains(f.Resource, "Secret todo-app/hooked-migration-token (hooked/templates/hooks/token-secret.yaml") &&
			f.Field == "stringData.API_TOKEN" && strings.Contains(f.Actual, tok.rule) {
			found = true
		}
		assertNoPartOf(t, tok.value, f, tok.rule)
	}
	assert.True(t, found, "no SEC-2 finding for the hook Secret: %v", findings)
	assert.NotContains(t, allOutput(sets), tok.value)
}

// The rendered NOTES.txt is scanned line by line: a finding names the file
// and the line, never the text.
func TestNotesCredentialFailsSEC2(t *testing.T) {
	tok := syntheticTokens[3] // AWS access key id
	sets := loadHooked(t, "notesToken="+tok.value, "")
	findings := RunOne(sec2(t), sets[0].Set, sets[0].Profile)
	var found bool
	for _, f := range findings {
		if f.Resource == "NOTES.txt (hooked/templates/NOTES.txt, as rendered)" && f.Field == "line 2" && strings.Contains(f.Actual, tok.rule) {
			found = true
		}
		assertNoPartOf(t, tok.value, f, tok.rule)
	}
	assert.True(t, found, "no SEC-2 finding for NOTES.txt line 2: %v", findings)
	assert.NotContains(t, allOutput(sets), tok.value)
}

// The values are scanned where the release stores them: the user's (here a
// values file), and the chart's values.yaml. A finding names the source and
// the path.
func TestValuesCredentialFailsSEC2(t *testing.T) {
	tok := syntheticTokens[2]
	values := filepath.Join(t.TempDir(), "prod.yaml")
	// A value no template reads: it is not in any object, only in the
	// release's stored values.
	require.NoError(t, os.WriteFile(values, []byte("unused:\n  github:\n    token: "+tok.value+"\n"), 0o644))
	sets := loadHooked(t, "", values)
	findings := RunOne(sec2(t), sets[0].Set, sets[0].Profile)
	var found bool
	for _, f := range findings {
		if strings.HasPrefix(f.Resource, "user values (") && f.Field == ".Values.unused.github.token" && strings.Contains(f.Actual, tok.rule) {
			found = true
		}
		assertNoPartOf(t, tok.value, f, tok.rule)
	}
	assert.True(t, found, "no SEC-2 finding for the user values: %v", findings)

	chart := t.TempDir()
	require.NoError(t, os.CopyFS(chart, os.DirFS(hookedChart(t))))
	require.NoError(t, os.WriteFile(filepath.Join(chart, "values.yaml"), []byte("hookToken: REPLACE_ME\nnotesToken: REPLACE_ME\nci:\n  githubToken: "+tok.value+"\n"), 0o644))
	t.Setenv(manifests.EnvValues, "")
	chartSets, err := manifests.Discover(chart)
	require.NoError(t, err)
	findings = RunOne(sec2(t), chartSets[0].Set, chartSets[0].Profile)
	found = false
	for _, f := range findings {
		if f.Resource == "hooked/values.yaml" && f.Field == ".Values.ci.githubToken" && strings.Contains(f.Actual, tok.rule) {
			found = true
		}
	}
	assert.True(t, found, "no SEC-2 finding for the chart's values.yaml: %v", findings)
	assert.NotContains(t, allOutput(chartSets), tok.value)
}

// The summary lists every hook (kind, name, phase, how it was read) and says
// once that the render called lookup offline.
func TestSummaryListsHooksAndLookup(t *testing.T) {
	sets := loadHooked(t, "", "")
	twice := append(sets, sets...) // the same chart in two sets: lookup is said once
	lines := SetSummary(twice)
	text := strings.Join(lines, "\n")
	t.Log(text)
	for _, want := range []string{
		"set helm-hook-credential: Helm hook Secret todo-app/hooked-migration-token, phase pre-install, pre-upgrade,",
		"set helm-hook-credential: Helm hook Job todo-app/hooked-migrate, phase pre-install,",
		"set helm-hook-credential: Helm hook Widget todo-app/hooked-widget, phase post-install,",
		"not a built-in Kubernetes kind: read as unstructured data (credential scan only)",
		"set helm-hook-credential: Helm hook Pod todo-app/hooked-test-connection, phase test,",
	} {
		assert.Contains(t, text, want)
	}
	assert.Equal(t, 1, strings.Count(text, "template hooked/templates/configmap.yaml calls lookup, which reads the cluster; rendered offline as helm template does, lookup found nothing"))
}
