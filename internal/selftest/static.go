package selftest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/spec"
	"github.com/puretasks/k8s-conformance/internal/staticcheck"
)

// StaticOutcome is what the static tier found on one mutant.
type StaticOutcome struct {
	Failed   []string                         // IDs with findings, over every set, catalogue order
	Findings map[string][]staticcheck.Finding // by ID
	Missed   []string                         // named in mutant.yaml, no finding
	Extra    []string                         // findings the mutant does not name (reported, not fatal)
}

// RunStatic loads the mutant as the suite loads MANIFESTS_DIR and runs every
// static check on every set it holds.
func RunStatic(m Mutant) (StaticOutcome, error) {
	sets, err := manifests.Discover(m.Dir)
	if err != nil {
		return StaticOutcome{}, fmt.Errorf("selftest: mutant %s: %w", m.Name, err)
	}
	out := StaticOutcome{Findings: map[string][]staticcheck.Finding{}}
	for _, s := range sets {
		r := staticcheck.Run(s.Set, s.Profile)
		for id, fs := range r.Findings {
			out.Findings[id] = append(out.Findings[id], fs...)
		}
	}
	for _, id := range staticcheck.IDs() {
		if len(out.Findings[id]) > 0 {
			out.Failed = append(out.Failed, id)
		}
	}
	for _, id := range m.Static {
		if !slices.Contains(out.Failed, id) {
			out.Missed = append(out.Missed, id)
		}
	}
	for _, id := range out.Failed {
		if !slices.Contains(m.Static, id) {
			out.Extra = append(out.Extra, id)
		}
	}
	return out, nil
}

// Brief is a finding without its source file: ID, object, field, expected,
// actual (the matrix has one line per cell).
func Brief(f staticcheck.Finding) string {
	res, _, _ := strings.Cut(f.Resource, " (")
	return fmt.Sprintf("%s %s: expected %s, actual %s", res, f.Field, f.Expected, f.Actual)
}

// Change is one object a mutant changes, adds or drops against the
// repository's own manifests.
type Change struct {
	Profile manifests.Profile
	Object  string
	How     string // changed, added, dropped
}

func (c Change) String() string { return fmt.Sprintf("%s %s (%s set)", c.How, c.Object, c.Profile) }

// Changes compares the mutant's sets with the repository's own plain sets
// (manifestsDir/base and manifestsDir/persistent-uploads), object by object,
// as rendered. A mutant that is a chart (wrapping the app's chart, as L-HELM's
// mutants do) is compared with the app's chart, both rendered as
// `helm template` renders them with the MANIFESTS_* settings.
func Changes(m Mutant, manifestsDir string) ([]Change, error) {
	if _, err := os.Stat(filepath.Join(m.Dir, "Chart.yaml")); err == nil {
		ref, err := manifests.Load(filepath.Join(manifestsDir, manifests.ChartDir))
		if err != nil {
			return nil, err
		}
		got, err := manifests.Load(m.Dir)
		if err != nil {
			return nil, fmt.Errorf("selftest: mutant %s: %w", m.Name, err)
		}
		return diffSets(manifests.Default, ref, got)
	}
	refBy := map[manifests.Profile]*manifests.Set{}
	for p, dir := range map[manifests.Profile]string{
		manifests.Default:    manifests.BaseDir,
		manifests.Persistent: spec.Seed.Uploads.VariantDir,
	} {
		s, err := manifests.Load(filepath.Join(manifestsDir, dir))
		if err != nil {
			return nil, err
		}
		refBy[p] = s
	}
	got, err := manifests.Discover(m.Dir)
	if err != nil {
		return nil, fmt.Errorf("selftest: mutant %s: %w", m.Name, err)
	}
	var out []Change
	for _, s := range got {
		c, err := diffSets(s.Profile, refBy[s.Profile], s.Set)
		if err != nil {
			return nil, err
		}
		out = append(out, c...)
	}
	slices.SortFunc(out, func(x, y Change) int {
		if x.Profile != y.Profile {
			return cmp.Compare(x.Profile, y.Profile)
		}
		return cmp.Compare(x.Object, y.Object)
	})
	return out, nil
}

func diffSets(p manifests.Profile, ref, got *manifests.Set) ([]Change, error) {
	a, err := byKey(ref)
	if err != nil {
		return nil, err
	}
	b, err := byKey(got)
	if err != nil {
		return nil, err
	}
	var out []Change
	for k, v := range b {
		switch old, ok := a[k]; {
		case !ok:
			out = append(out, Change{p, k, "added"})
		case old != v:
			out = append(out, Change{p, k, "changed"})
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			out = append(out, Change{p, k, "dropped"})
		}
	}
	return out, nil
}

// byKey renders each object of the set to JSON, keyed by kind/namespace/name.
func byKey(s *manifests.Set) (map[string]string, error) {
	out := map[string]string{}
	for _, o := range s.Objects {
		raw, err := json.Marshal(o.Object)
		if err != nil {
			return nil, err
		}
		out[manifests.KeyOf(o.Object).String()] = string(raw)
	}
	return out, nil
}
