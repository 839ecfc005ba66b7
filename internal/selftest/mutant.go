// Package selftest proves the suite itself: it loads the mutants under
// fixtures/mutants (each a kustomization of the app's manifests with one
// deliberate break, and a mutant.yaml naming the catalogue IDs that must
// fail), runs them through the static tier and, driven by cmd/selftest,
// through the live tier, and reports a detection matrix. It also holds the
// soak machinery of cmd/soak: run statistics, the seeded interruption
// schedule and the leftover detector.
package selftest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"sigs.k8s.io/yaml"

	"github.com/puretasks/k8s-conformance/internal/report"
	"github.com/puretasks/k8s-conformance/internal/staticcheck"
)

// MutantsDir is where the mutants live, relative to the module root.
const MutantsDir = "fixtures/mutants"

// DescriptorName is the file in each mutant's directory that names its break
// and the IDs that must catch it.
const DescriptorName = "mutant.yaml"

// Descriptor is mutant.yaml.
type Descriptor struct {
	// Why says what the break is and why the named checks must see it.
	Why string `json:"why"`
	// Static and Live are the catalogue IDs that must fail on the mutant.
	Static []string `json:"static"`
	Live   []string `json:"live"`
	// Expect gives, for every live ID, the words one of its misses must
	// contain: a check that fails for another reason (an API error, a
	// cluster short of room) has not seen the break.
	Expect map[string][]string `json:"expect,omitempty"`
	// Slow, when set, says why the mutant's live run takes minutes (a check
	// that can only fail at its deadline). Slow mutants run live only when
	// asked (selftest -slow, SLOW=1; the weekly workflow does), so that
	// `make selftest` stays near its 15-minute goal; the static half always
	// runs them.
	Slow string `json:"slow,omitempty"`
	// UpgradeFromBase makes the live run a change: a git repository whose
	// last commit holds the mutant's kustomization without its patches (the
	// release before) and whose work tree holds the mutant, run with
	// E2E_UPGRADE_FROM=HEAD (UpgradeRepo). For breaks only L-UPGRADE sees.
	UpgradeFromBase bool `json:"upgradeFromBase,omitempty"`
}

// Mutant is one broken variant of the manifests.
type Mutant struct {
	Name string // the directory's name
	Dir  string // absolute; what MANIFESTS_DIR points at
	Descriptor
}

// LiveIDs are the catalogue's live IDs (CHECKS.md, "Behaviour (live)"), in
// its order. TestLiveIDsMatchTheE2ESources ties this list to the IDs the
// live tier's sources name.
var LiveIDs = report.LiveIDs

// LoadMutants reads every mutant below dir, sorted by name. A directory
// without mutant.yaml, an unknown field, an unknown ID or a mutant that names
// no ID at all is an error: a mutant nobody checks proves nothing.
func LoadMutants(dir string) ([]Mutant, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("selftest: mutants: %w", err)
	}
	var out []Mutant
	var errs []error
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		m, err := LoadMutant(filepath.Join(dir, e.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, m)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("selftest: no mutants in %s", dir)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// LoadMutant reads one mutant's descriptor and checks its IDs.
func LoadMutant(dir string) (Mutant, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Mutant{}, err
	}
	path := filepath.Join(abs, DescriptorName)
	raw, err := os.ReadFile(path)
	if err != nil {
		return Mutant{}, fmt.Errorf("selftest: mutant %s: %w", filepath.Base(abs), err)
	}
	var d Descriptor
	if err := yaml.UnmarshalStrict(raw, &d); err != nil {
		return Mutant{}, fmt.Errorf("selftest: %s: %w", path, err)
	}
	m := Mutant{Name: filepath.Base(abs), Dir: abs, Descriptor: d}
	return m, m.validate(path)
}

func (m Mutant) validate(path string) error {
	var errs []error
	if m.Why == "" {
		errs = append(errs, fmt.Errorf("selftest: %s: `why` is empty: say what the break is", path))
	}
	if len(m.Static)+len(m.Live) == 0 {
		errs = append(errs, fmt.Errorf("selftest: %s: names no catalogue ID that must fail", path))
	}
	static := staticcheck.IDs()
	for _, id := range m.Static {
		if !slices.Contains(static, id) {
			errs = append(errs, fmt.Errorf("selftest: %s: static: %q is not a static catalogue ID (%v)", path, id, static))
		}
	}
	for _, id := range m.Live {
		if !slices.Contains(LiveIDs, id) {
			errs = append(errs, fmt.Errorf("selftest: %s: live: %q is not a live catalogue ID (%v)", path, id, LiveIDs))
		}
	}
	for _, id := range m.Live {
		if len(m.Expect[id]) == 0 || slices.Contains(m.Expect[id], "") {
			errs = append(errs, fmt.Errorf("selftest: %s: expect: %s has no words its miss must contain: say how the check sees the break", path, id))
		}
	}
	for id := range m.Expect {
		if !slices.Contains(m.Live, id) {
			errs = append(errs, fmt.Errorf("selftest: %s: expect: %s is not one of the mutant's live IDs %v", path, id, m.Live))
		}
	}
	if upgrade := slices.Contains(m.Live, UpgradeID); upgrade != m.UpgradeFromBase {
		errs = append(errs, fmt.Errorf("selftest: %s: %s is judged only on a change: name it in live exactly when upgradeFromBase is true", path, UpgradeID))
	}
	if dup := duplicates(m.Static, m.Live); len(dup) > 0 {
		errs = append(errs, fmt.Errorf("selftest: %s: IDs named twice: %v", path, dup))
	}
	return errors.Join(errs...)
}

func duplicates(lists ...[]string) []string {
	seen := map[string]bool{}
	var dup []string
	for _, l := range lists {
		for _, id := range l {
			if seen[id] {
				dup = append(dup, id)
			}
			seen[id] = true
		}
	}
	return dup
}

// Coverage maps each live ID to the mutants that name it.
func Coverage(ms []Mutant) map[string][]string {
	cov := map[string][]string{}
	for _, id := range LiveIDs {
		cov[id] = nil
	}
	for _, m := range ms {
		for _, id := range m.Live {
			cov[id] = append(cov[id], m.Name)
		}
	}
	return cov
}

// Uncovered lists the live IDs no mutant names, in catalogue order.
func Uncovered(ms []Mutant) []string {
	cov := Coverage(ms)
	var out []string
	for _, id := range LiveIDs {
		if len(cov[id]) == 0 {
			out = append(out, id)
		}
	}
	return out
}
