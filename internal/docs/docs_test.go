package docs

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/internal/manifests"
)

// repo is what the documents are held to.
type repo struct {
	targets map[string]bool // Makefile rules
	helped  map[string]bool // targets with a `## name:` help entry
	sources string          // Makefile, scripts, workflows and non-test Go code, concatenated
	root    string
}

var (
	ruleLine  = regexp.MustCompile(`(?m)^([a-z][a-z0-9-]*):`)
	helpLine  = regexp.MustCompile(`(?m)^## ([a-z][a-z0-9-]*(?: / [a-z][a-z0-9-]*)*):`)
	makeCall  = regexp.MustCompile(`\bmake ((?:-[a-zA-Z-]+ )*)([a-z][a-z0-9-]*)`)
	codeSpan  = regexp.MustCompile("`([^`\n]+)`")
	codeBlock = regexp.MustCompile("(?s)```[a-z]*\n(.*?)```")
	envName   = regexp.MustCompile(`\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*)=|^([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)$|^([A-Z]{3,})$`)
	mdLink    = regexp.MustCompile(`\]\(([^)#:]+)(#[^)]*)?\)`)
)

// notOurs are names documents mention that belong to other tools or to the
// app's configuration, not switches of this repository.
var notOurs = map[string]bool{
	"KUBECONFIG": true, "HOME": true, "CI": true, "PATH": true, "PID": true,
	"JUNIT": true, "HTML": true, "JSON": true, "YAML": true, "UTF": true, "URL": true,
	"BOM": true, "API": true, "DNS": true, "FQDN": true, "QOS": true, "CPU": true,
	"RSS": true, "PV": true, "PVC": true, "WARN": true, "PASS": true, "FAIL": true, "SKIP": true, "ERROR": true,
	"FIFO": true, "GET": true, "SIGTERM": true, "SIGINT": true, "TERM": true, "INT": true, "MIB": true, "KIB": true,
	"TLS": true, "HTTP": true, "CRD": true, "CRDS": true, "TODO": true,
}

func loadRepo(t *testing.T) repo {
	t.Helper()
	root, err := manifests.ModuleRoot()
	require.NoError(t, err)
	mk, err := os.ReadFile(filepath.Join(root, "Makefile"))
	require.NoError(t, err)
	r := repo{targets: map[string]bool{}, helped: map[string]bool{}, root: root}
	for _, m := range ruleLine.FindAllStringSubmatch(string(mk), -1) {
		r.targets[m[1]] = true
	}
	for _, m := range helpLine.FindAllStringSubmatch(string(mk), -1) {
		for _, name := range strings.Split(m[1], " / ") {
			r.helped[name] = true
		}
	}
	var b strings.Builder
	b.Write(mk)
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if rel == "_build" || rel == "_artifacts" || rel == ".git" || rel == "docs" {
				return filepath.SkipDir
			}
			return nil
		}
		keep := (strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go")) ||
			strings.HasPrefix(rel, "hack/") || rel == filepath.Join(".ci", "run") ||
			strings.HasPrefix(rel, filepath.Join(".github", "workflows")) ||
			strings.HasPrefix(rel, "manifests/") || strings.HasPrefix(rel, "fixtures/")
		// A symlink (a mutant chart's link to the app's chart) is read
		// where it points, once, not through the link.
		if !keep || d.Type()&os.ModeSymlink != 0 {
			return nil
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		b.Write(raw)
		b.WriteByte('\n')
		return nil
	})
	require.NoError(t, err)
	r.sources = b.String()
	return r
}

// problems lists what a document names that the repository does not have.
func (r repo) problems(name, text string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	var code []string
	for _, m := range codeBlock.FindAllStringSubmatch(text, -1) {
		code = append(code, strings.Split(m[1], "\n")...)
	}
	prose := codeBlock.ReplaceAllString(text, "")
	for _, m := range codeSpan.FindAllStringSubmatch(prose, -1) {
		code = append(code, m[1])
	}
	for _, c := range code {
		for _, m := range makeCall.FindAllStringSubmatch(c, -1) {
			if !r.targets[m[2]] {
				add(name + ": `make " + m[2] + "`: no such target in the Makefile")
			}
		}
		for _, field := range strings.Fields(c) {
			field = strings.Trim(field, "`,;()$")
			for _, m := range envName.FindAllStringSubmatch(field, -1) {
				v := m[1] + m[2] + m[3]
				if notOurs[v] || strings.HasPrefix(v, "SEC") {
					continue
				}
				if !regexp.MustCompile(`\b` + v + `\b`).MatchString(r.sources) {
					add(name + ": `" + v + "`: named nowhere in the Makefile, the scripts, the workflows or the Go code")
				}
			}
		}
	}
	for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
		if strings.HasPrefix(m[1], "http") {
			continue
		}
		dir := r.root
		if strings.HasPrefix(name, "docs/") {
			dir = filepath.Join(r.root, "docs")
		}
		if _, err := os.Stat(filepath.Join(dir, m[1])); err != nil {
			add(name + ": link " + m[1] + ": no such file")
		}
	}
	return out
}

func TestDocumentsNameOnlyWhatExists(t *testing.T) {
	r := loadRepo(t)
	docs, err := filepath.Glob(filepath.Join(r.root, "docs", "*.md"))
	require.NoError(t, err)
	for _, p := range append([]string{filepath.Join(r.root, "README.md")}, docs...) {
		raw, err := os.ReadFile(p)
		require.NoError(t, err)
		rel, _ := filepath.Rel(r.root, p)
		for _, problem := range r.problems(rel, string(raw)) {
			t.Error(problem)
		}
	}
}

// The checker itself fails on a target, a variable and a link that do not exist.
func TestTheCheckerCatchesWhatDoesNotExist(t *testing.T) {
	r := loadRepo(t)
	text := "Run `make conformance` or `make conformanse`.\n\n```sh\nCHEKS=L-DNS make test\n```\n\n" +
		"| `NODE_IMAGE_SORCE` | x |\n\nSee [the docs](docs/nothere.md).\n"
	assert.ElementsMatch(t, []string{
		"README.md: `make conformanse`: no such target in the Makefile",
		"README.md: `CHEKS`: named nowhere in the Makefile, the scripts, the workflows or the Go code",
		"README.md: `NODE_IMAGE_SORCE`: named nowhere in the Makefile, the scripts, the workflows or the Go code",
		"README.md: link docs/nothere.md: no such file",
	}, r.problems("README.md", text))
}

// `make help` lists every target of the Makefile.
func TestMakeHelpListsEveryTarget(t *testing.T) {
	r := loadRepo(t)
	var undocumented []string
	for target := range r.targets {
		if !r.helped[target] {
			undocumented = append(undocumented, target)
		}
	}
	sort.Strings(undocumented)
	assert.Empty(t, undocumented, "targets without a `## name: what it does` comment above them")

	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make here to run `make help`")
	}
	cmd := exec.Command("make", "--no-print-directory", "-s", "help")
	cmd.Dir = r.root
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for target := range r.targets {
		assert.Regexp(t, `(?m)^  (\S+ / )*`+regexp.QuoteMeta(target)+`\b`, string(out), "make help does not list %s", target)
	}
}

// .ci/run runs the two commands the README gives, in the README's order of
// what CI needs: the tests, then the live tier.
func TestCIRunsTheREADMEsTwoCommands(t *testing.T) {
	r := loadRepo(t)
	readme, err := os.ReadFile(filepath.Join(r.root, "README.md"))
	require.NoError(t, err)
	ci, err := os.ReadFile(filepath.Join(r.root, ".ci", "run"))
	require.NoError(t, err)
	for _, cmd := range []string{"make test", "make conformance"} {
		assert.Regexp(t, "(?m)^"+cmd+" +#", string(readme), "the README's two commands block")
		assert.Regexp(t, "(?m)^"+cmd+"$", string(ci), ".ci/run must run %q", cmd)
	}
	assert.Less(t, strings.Index(string(ci), "\nmake test\n"), strings.Index(string(ci), "\nmake conformance\n"))
}
