package workflows

// The rules below hold the live workflows to what they promise beyond being
// valid: the nightly runs every supported minor (internal/kubeversion) as
// one leg each, to its end, and both live workflows run the upgrade check
// (L-UPGRADE) from a revision they can read, given through the environment.
// The workflows are read with actionlint's parser, as GitHub reads them;
// the matrix values also through YAML, since a number there is not a string.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/puretasks/k8s-conformance/internal/kubeversion"
	"github.com/puretasks/k8s-conformance/internal/manifests"
)

const (
	nightlyFile     = "nightly-conformance.yml"
	manifestsPRFile = "manifests-pr.yml"
)

var (
	// matrixK8s is an expression that reads the leg's minor.
	matrixK8s = regexp.MustCompile(`\$\{\{[^}]*\bmatrix\.k8s\b[^}]*\}\}`)
	// stepOutput is a whole value that is one step's output.
	stepOutput = regexp.MustCompile(`^\$\{\{\s*steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)\s*\}\}$`)
	// pullRequestBase is a whole value naming the pull request's base commit.
	pullRequestBase = regexp.MustCompile(`^(\$\{\{\s*github\.event\.pull_request\.base\.sha\s*\}\}|origin/\$\{\{\s*github\.base_ref\s*\}\})$`)
)

func readWorkflow(t *testing.T, name string) []byte {
	t.Helper()
	root, err := manifests.ModuleRoot()
	require.NoError(t, err)
	raw, err := os.ReadFile(filepath.Join(root, ".github", "workflows", name))
	require.NoError(t, err)
	return raw
}

// parse reads a workflow as GitHub does; a parse error is a problem, not a pass.
func parse(name string, raw []byte) (*actionlint.Workflow, []string) {
	w, errs := actionlint.Parse(raw)
	var problems []string
	for _, e := range errs {
		problems = append(problems, fmt.Sprintf("%s:%d:%d: %s", name, e.Line, e.Column, e.Message))
	}
	if w == nil && len(problems) == 0 {
		problems = append(problems, name+": not a workflow")
	}
	return w, problems
}

// liveJobs are the jobs that run the live tier (a run: step with `make conformance`).
// parseLiveJobs parses workflow name and returns its live jobs; none (a
// workflow that does not parse, or runs no `make conformance`) is a
// problem.
func parseLiveJobs(name string, raw []byte) ([]*actionlint.Job, []string) {
	w, problems := parse(name, raw)
	if w == nil {
		return nil, problems
	}
	jobs := liveJobs(w)
	if len(jobs) == 0 {
		problems = append(problems, name+": no job runs `make conformance`")
	}
	return jobs, problems
}

func liveJobs(w *actionlint.Workflow) []*actionlint.Job {
	var jobs []*actionlint.Job
	for _, j := range w.Jobs {
		if liveStep(j) != nil {
			jobs = append(jobs, j)
		}
	}
	slices.SortFunc(jobs, func(a, b *actionlint.Job) int { return strings.Compare(a.ID.Value, b.ID.Value) })
	return jobs
}

func runScript(s *actionlint.Step) string {
	if r, ok := s.Exec.(*actionlint.ExecRun); ok && r.Run != nil {
		return r.Run.Value
	}
	return ""
}

func liveStep(j *actionlint.Job) *actionlint.Step {
	for _, s := range j.Steps {
		if strings.Contains(runScript(s), "make conformance") {
			return s
		}
	}
	return nil
}

// action returns the steps using the named action (any version).
func action(j *actionlint.Job, name string) []*actionlint.ExecAction {
	var out []*actionlint.ExecAction
	for _, s := range j.Steps {
		if a, ok := s.Exec.(*actionlint.ExecAction); ok && a.Uses != nil && strings.HasPrefix(a.Uses.Value, name+"@") {
			out = append(out, a)
		}
	}
	return out
}

func input(a *actionlint.ExecAction, name string) (string, bool) {
	in, ok := a.Inputs[name]
	if !ok || in.Value == nil {
		return "", false
	}
	return in.Value.Value, true
}

// envVar is the value of a variable set in env (names are case-sensitive
// in the environment, so looked up by their exact spelling).
func envVar(env *actionlint.Env, name string) (string, bool) {
	if env == nil {
		return "", false
	}
	for _, v := range env.Vars {
		if v.Name != nil && v.Name.Value == name && v.Value != nil {
			return v.Value.Value, true
		}
	}
	return "", false
}

// nightlyProblems: the live job runs one leg per supported minor (exactly
// the minors of supported, as YAML strings), every leg to its end
// (fail-fast: false), each with K8S_VERSION of its leg and the upstream
// node image; artifact names and any job concurrency group carry the leg,
// so legs neither overwrite nor queue each other; and the live step runs
// the upgrade from the last release tag.
func nightlyProblems(raw []byte, supported []kubeversion.Release) []string {
	const name = nightlyFile
	jobs, problems := parseLiveJobs(name, raw)
	if len(jobs) == 0 {
		return problems
	}
	var want []string
	for _, r := range supported {
		want = append(want, r.MajorMinor())
	}
	add := func(j *actionlint.Job, format string, a ...any) {
		problems = append(problems, fmt.Sprintf("%s: jobs.%s.", name, j.ID.Value)+fmt.Sprintf(format, a...))
	}
	for _, j := range jobs {
		problems = append(problems, matrixProblems(name, raw, j, want)...)
		if j.Strategy == nil || j.Strategy.FailFast == nil {
			add(j, "strategy.fail-fast: want false, got unset (GitHub's default, true, cancels the other minors' legs when one fails)")
		} else if ff := j.Strategy.FailFast; ff.Expression != nil || ff.Value {
			add(j, "strategy.fail-fast: want false, got %s", ff.String())
		}
		if v, ok := envVar(j.Env, "K8S_VERSION"); !ok || !regexp.MustCompile(`^\$\{\{\s*matrix\.k8s\s*\}\}$`).MatchString(v) {
			add(j, "env.K8S_VERSION: want ${{ matrix.k8s }} (every tier of the leg on its minor), got %q", v)
		}
		if v, _ := envVar(j.Env, "NODE_IMAGE_SOURCE"); v != "upstream" {
			add(j, "env.NODE_IMAGE_SOURCE: want upstream (a hosted runner is not root: no from-source build), got %q", v)
		}
		if j.Name == nil || !matrixK8s.MatchString(j.Name.Value) {
			got := ""
			if j.Name != nil {
				got = j.Name.Value
			}
			add(j, "name: want the leg's ${{ matrix.k8s }} in it, got %q", got)
		}
		for _, up := range action(j, "actions/upload-artifact") {
			if v, _ := input(up, "name"); !matrixK8s.MatchString(v) {
				add(j, "steps[uses: %s].with.name: want the leg's ${{ matrix.k8s }} in it (legs would upload under one name), got %q", up.Uses.Value, v)
			}
		}
		if c := j.Concurrency; c != nil && (c.Group == nil || !matrixK8s.MatchString(c.Group.Value)) {
			got := ""
			if c.Group != nil {
				got = c.Group.Value
			}
			add(j, "concurrency.group: want the leg's ${{ matrix.k8s }} in a job's group (the legs would queue or cancel each other), got %q", got)
		}
		problems = append(problems, upgradeProblems(name, j, func(s *actionlint.Step, value string) string {
			m := stepOutput.FindStringSubmatch(value)
			if m == nil {
				return "want ${{ steps.<id>.outputs.<key> }} of the step that runs `git describe --tags --abbrev=0`"
			}
			for _, earlier := range j.Steps {
				if earlier == s {
					break
				}
				if earlier.ID == nil || earlier.ID.Value != m[1] {
					continue
				}
				script := runScript(earlier)
				if strings.Contains(script, "git describe --tags --abbrev=0") && strings.Contains(script, m[2]+"=") && strings.Contains(script, "GITHUB_OUTPUT") {
					return ""
				}
				return fmt.Sprintf("step %s does not write %s=<git describe --tags --abbrev=0> to GITHUB_OUTPUT", m[1], m[2])
			}
			return "no earlier step has id " + m[1]
		})...)
	}
	return problems
}

// matrixProblems: strategy.matrix is exactly k8s: want, literally (no
// expression, include or exclude that would add or drop a leg), each value
// a YAML string (1.30 unquoted would reach the leg as 1.3).
func matrixProblems(name string, raw []byte, j *actionlint.Job, want []string) []string {
	at := fmt.Sprintf("%s: jobs.%s.strategy.matrix", name, j.ID.Value)
	if j.Strategy == nil || j.Strategy.Matrix == nil {
		return []string{fmt.Sprintf("%s: want k8s: %q (internal/kubeversion Supported), got none", at, want)}
	}
	m := j.Strategy.Matrix
	if m.Expression != nil {
		return []string{fmt.Sprintf("%s: want the literal k8s: %q, got the expression %s", at, want, m.Expression.Value)}
	}
	var problems []string
	if m.Include != nil || m.Exclude != nil {
		problems = append(problems, at+": want no include or exclude (the legs are exactly the supported minors), got one")
	}
	for key := range m.Rows {
		if key != "k8s" {
			problems = append(problems, fmt.Sprintf("%s.%s: want only k8s in the matrix (every other row multiplies the legs), got %s", at, key, key))
		}
	}
	row := m.Rows["k8s"]
	if row == nil {
		return append(problems, fmt.Sprintf("%s.k8s: want the literal list %q (internal/kubeversion Supported), got none", at, want))
	}
	if row.Expression != nil {
		return append(problems, fmt.Sprintf("%s.k8s: want the literal list %q (internal/kubeversion Supported), got the expression %s", at, want, row.Expression.Value))
	}
	var got []string
	for _, v := range row.Values {
		s, ok := v.(*actionlint.RawYAMLString)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s.k8s: want a minor such as %q, got %s", at, want[0], v))
			continue
		}
		got = append(got, s.Value)
	}
	for i, v := range got {
		switch {
		case !slices.Contains(want, v):
			problems = append(problems, fmt.Sprintf("%s.k8s: %q is not a supported minor (internal/kubeversion Supported: %q)", at, v, want))
		case slices.Index(got, v) != i:
			problems = append(problems, fmt.Sprintf("%s.k8s: %q is listed twice", at, v))
		}
	}
	for _, v := range want {
		if !slices.Contains(got, v) {
			problems = append(problems, fmt.Sprintf("%s.k8s: the supported minor %q has no leg (got %q)", at, v, got))
		}
	}
	for _, n := range yamlMatrixValues(raw, j.ID.Value) {
		if n.Tag != "!!str" {
			problems = append(problems, fmt.Sprintf("%s.k8s: want %q quoted, got the YAML %s %s (line %d)", at, n.Value, strings.TrimPrefix(n.Tag, "!!"), n.Value, n.Line))
		}
	}
	return problems
}

// yamlMatrixValues are the nodes of jobs.<job>.strategy.matrix.k8s as YAML
// reads them, with their resolved tags.
func yamlMatrixValues(raw []byte, job string) []*yaml.Node {
	var doc yaml.Node
	if yaml.Unmarshal(raw, &doc) != nil || len(doc.Content) == 0 {
		return nil // actionlint's parse has reported it
	}
	n := doc.Content[0]
	for _, key := range []string{"jobs", job, "strategy", "matrix", "k8s"} {
		if n = mappingValue(n, key); n == nil {
			return nil
		}
	}
	if n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

func mappingValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// upgradeFromBaseProblems: every live job of the pull request workflow runs
// the upgrade from the pull request's base commit.
func upgradeFromBaseProblems(raw []byte) []string {
	const name = manifestsPRFile
	jobs, problems := parseLiveJobs(name, raw)
	if len(jobs) == 0 {
		return problems
	}
	for _, j := range jobs {
		problems = append(problems, upgradeProblems(name, j, func(_ *actionlint.Step, value string) string {
			if pullRequestBase.MatchString(value) {
				return ""
			}
			return "want the pull request's base: ${{ github.event.pull_request.base.sha }} or origin/${{ github.base_ref }}"
		})...)
	}
	return problems
}

// upgradeProblems: the live step has UPGRADE_FROM in its env: (judged by
// from), its script splices no expression (a ref reaches it through the
// environment only), and the checkout has the whole history, so the
// revision to upgrade from is in the clone.
func upgradeProblems(name string, j *actionlint.Job, from func(*actionlint.Step, string) string) []string {
	var problems []string
	at := fmt.Sprintf("%s: jobs.%s.", name, j.ID.Value)
	s := liveStep(j)
	value, ok := envVar(s.Env, "UPGRADE_FROM")
	if !ok {
		problems = append(problems, at+"steps[run: make conformance].env.UPGRADE_FROM: want the revision L-UPGRADE upgrades from, got none")
	} else if why := from(s, value); why != "" {
		problems = append(problems, fmt.Sprintf("%ssteps[run: make conformance].env.UPGRADE_FROM: %s, got %q", at, why, value))
	}
	if script := runScript(s); strings.Contains(script, "${{") {
		problems = append(problems, fmt.Sprintf("%ssteps[run: make conformance].run: want no ${{ }} in the script (values reach it through env:), got %q", at, script))
	}
	checkouts := action(j, "actions/checkout")
	if len(checkouts) == 0 {
		problems = append(problems, at+"steps: want an actions/checkout step, got none")
	}
	for _, c := range checkouts {
		if v, _ := input(c, "fetch-depth"); v != "0" {
			problems = append(problems, fmt.Sprintf("%ssteps[uses: %s].with.fetch-depth: want 0 (the revision to upgrade from must be in the clone), got %q", at, c.Uses.Value, v))
		}
	}
	return problems
}

func TestNightlyRunsEverySupportedMinorWithTheUpgrade(t *testing.T) {
	assert.Empty(t, nightlyProblems(readWorkflow(t, nightlyFile), kubeversion.Supported))
}

func TestManifestsPRUpgradesFromItsBase(t *testing.T) {
	assert.Empty(t, upgradeFromBaseProblems(readWorkflow(t, manifestsPRFile)))
}

// mutate is the real workflow with one change; the case fails loudly when
// the workflow no longer has the text it changes.
func mutate(t *testing.T, raw []byte, old, new string) []byte {
	t.Helper()
	require.Equal(t, 1, strings.Count(string(raw), old), "the workflow no longer has %q once: update this negative case", old)
	return []byte(strings.Replace(string(raw), old, new, 1))
}

func TestNightlyRulesFailOnABrokenWorkflow(t *testing.T) {
	raw := readWorkflow(t, nightlyFile)
	const matrix = `k8s: ["1.35", "1.36", "1.37"]`
	withMinor := append(slices.Clone(kubeversion.Supported), kubeversion.Release{Version: "v1.38.0"})
	for _, tc := range []struct {
		name      string
		raw       []byte
		supported []kubeversion.Release
		want      string
	}{
		{"kubeversion gains a minor", raw, withMinor, `the supported minor "1.38" has no leg`},
		{"kubeversion loses a minor", raw, kubeversion.Supported[1:], `"1.35" is not a supported minor`},
		{"a minor dropped", mutate(t, raw, matrix, `k8s: ["1.36", "1.37"]`), nil, `the supported minor "1.35" has no leg`},
		{"an unsupported minor", mutate(t, raw, matrix, `k8s: ["1.34", "1.36", "1.37"]`), nil, `"1.34" is not a supported minor`},
		{"a minor twice", mutate(t, raw, matrix, `k8s: ["1.35", "1.36", "1.37", "1.36"]`), nil, `"1.36" is listed twice`},
		{"unquoted minors", mutate(t, raw, matrix, `k8s: [1.35, 1.36, 1.37]`), nil, `want "1.35" quoted, got the YAML float 1.35`},
		{"the matrix from an expression", mutate(t, raw, matrix, `k8s: ${{ fromJSON('["1.36"]') }}`), nil, `.k8s: want the literal list ["1.35" "1.36" "1.37"] (internal/kubeversion Supported), got the expression`},
		{"the whole matrix from an expression", mutate(t, raw, "      matrix:\n", "      matrix: ${{ fromJSON(vars.MINORS) }}\n      unused:\n"), nil, "strategy.matrix: want the literal k8s:"},
		{"a shallow clone by default", mutate(t, raw, "        with:\n          # The whole history with its tags: the upgrade check starts from the last release tag.\n          fetch-depth: 0\n", ""), nil, `with.fetch-depth: want 0 (the revision to upgrade from must be in the clone), got ""`},
		{"a leg added by include", mutate(t, raw, matrix, matrix+"\n        include:\n          - k8s: \"1.34\""), nil, "want no include or exclude"},
		{"a second matrix row", mutate(t, raw, matrix, matrix+"\n        os: [ubuntu-latest, ubuntu-24.04-arm]"), nil, "want only k8s in the matrix"},
		{"no matrix", mutate(t, raw, "      matrix:\n", "      unused:\n"), nil, "strategy.matrix: want k8s:"},
		{"fail-fast unset", mutate(t, raw, "      fail-fast: false\n", ""), nil, "strategy.fail-fast: want false, got unset"},
		{"fail-fast true", mutate(t, raw, "fail-fast: false", "fail-fast: true"), nil, "strategy.fail-fast: want false, got true"},
		{"one minor for every leg", mutate(t, raw, "K8S_VERSION: ${{ matrix.k8s }}", `K8S_VERSION: "1.36"`), nil, "env.K8S_VERSION: want ${{ matrix.k8s }}"},
		{"the from-source build", mutate(t, raw, "NODE_IMAGE_SOURCE: upstream", "NODE_IMAGE_SOURCE: auto"), nil, "env.NODE_IMAGE_SOURCE: want upstream"},
		{"a job name without the leg", mutate(t, raw, "name: conformance (Kubernetes ${{ matrix.k8s }})", "name: conformance"), nil, "name: want the leg's"},
		{"one artifact name for every leg", mutate(t, raw, "name: conformance-${{ matrix.k8s }}-", "name: conformance-"), nil, "with.name: want the leg's"},
		{"a job concurrency group without the leg", mutate(t, raw, "    timeout-minutes: 90\n", "    timeout-minutes: 90\n    concurrency: nightly-${{ github.ref }}\n"), nil, "concurrency.group: want the leg's"},
		{"a shallow clone", mutate(t, raw, "fetch-depth: 0", "fetch-depth: 1"), nil, `with.fetch-depth: want 0 (the revision to upgrade from must be in the clone), got "1"`},
		{"no upgrade", mutate(t, raw, "        env:\n          UPGRADE_FROM: ${{ steps.release.outputs.ref }}\n", ""), nil, "env.UPGRADE_FROM: want the revision"},
		{"the upgrade spliced into the script", mutate(t, raw, "        env:\n          UPGRADE_FROM: ${{ steps.release.outputs.ref }}\n        run: make conformance", "        run: make conformance UPGRADE_FROM=${{ steps.release.outputs.ref }}"), nil, "want no ${{ }} in the script"},
		{"the upgrade from a step that is not there", mutate(t, raw, "id: release", "id: tag"), nil, "no earlier step has id release"},
		{"the upgrade from a step that does not describe", mutate(t, raw, "ref=$(git describe --tags --abbrev=0 --match 'v[0-9]*')", "ref=$(git rev-parse HEAD~1)"), nil, "does not write ref=<git describe"},
		{"not a workflow", []byte("jobs: [\n"), nil, nightlyFile + ":"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			supported := tc.supported
			if supported == nil {
				supported = kubeversion.Supported
			}
			problems := nightlyProblems(tc.raw, supported)
			t.Log(strings.Join(problems, "\n"))
			assert.Contains(t, strings.Join(problems, "\n"), tc.want)
		})
	}
}

func TestManifestsPRRulesFailOnABrokenWorkflow(t *testing.T) {
	raw := readWorkflow(t, manifestsPRFile)
	const upgrade = "UPGRADE_FROM: ${{ github.event.pull_request.base.sha }}"
	for _, tc := range []struct {
		name string
		raw  []byte
		want string
	}{
		{"no upgrade", mutate(t, raw, "        env:\n          "+upgrade+"\n", ""), "env.UPGRADE_FROM: want the revision"},
		{"the upgrade from the head", mutate(t, raw, upgrade, "UPGRADE_FROM: ${{ github.event.pull_request.head.sha }}"), "want the pull request's base"},
		{"the upgrade from a branch by name", mutate(t, raw, upgrade, "UPGRADE_FROM: main"), "want the pull request's base"},
		{"the upgrade spliced into the script", mutate(t, raw, "run: make conformance", "run: make conformance UPGRADE_FROM=${{ github.event.pull_request.base.sha }}"), "want no ${{ }} in the script"},
		{"a shallow clone", mutate(t, raw, "fetch-depth: 0", "fetch-depth: 1"), `with.fetch-depth: want 0 (the revision to upgrade from must be in the clone), got "1"`},
		{"no live step", mutate(t, raw, "run: make conformance", "run: make test"), "no job runs `make conformance`"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			problems := upgradeFromBaseProblems(tc.raw)
			t.Log(strings.Join(problems, "\n"))
			assert.Contains(t, strings.Join(problems, "\n"), tc.want)
		})
	}
	// The other accepted spelling of the base is accepted.
	assert.Empty(t, upgradeFromBaseProblems(mutate(t, raw, upgrade, "UPGRADE_FROM: origin/${{ github.base_ref }}")))
}
