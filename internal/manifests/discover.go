package manifests

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/puretasks/k8s-conformance/internal/spec"
)

// Profile is what a set is held to: the default emptyDir uploads, or the
// persistent-uploads variant (PV + PVC, backend volume from the claim).
type Profile string

const (
	Default    Profile = "default"
	Persistent Profile = "persistent-uploads"
)

// Profiled is a set and the profile it is checked against.
type Profiled struct {
	*Set
	Profile Profile
}

// BaseDir is the default set's directory inside a manifests directory laid
// out as the repository's is.
const BaseDir = "base"

// ChartDir is the app's own chart inside such a directory.
var ChartDir = filepath.Join("helm", "todo-app")

// PersistenceValue is the chart value that renders the persistent-uploads
// variant.
const PersistenceValue = "persistence.enabled=true"

// NamespaceValue is the chart value that renders the release's own
// Namespace, which the chart leaves to Helm (--create-namespace) by default.
// Beside base/, the chart is judged as the same complete set, Namespace
// included; a MANIFESTS_SET given by the user comes after it and wins.
const NamespaceValue = "namespace.create=true"

// Discover finds the sets in a manifests directory (MANIFESTS_DIR):
//   - a directory with base/ and/or persistent-uploads/ holds those two sets
//     (base/ is required then), and, when it holds the chart helm/todo-app/,
//     two more: the chart's render with namespace.create=true (default
//     profile) and with persistence.enabled=true as well (persistent
//     profile), both with the MANIFESTS_* Helm settings;
//   - a chart directory is one set, rendered with the MANIFESTS_* settings;
//   - any other directory or file is one set.
//
// A single set is held to the persistent profile if it contains the
// PersistentVolumeClaim, to the default one otherwise.
func Discover(root string) (_ []Profiled, err error) {
	defer func() { err = printable(err) }()
	l := newLoader()
	st, err := statInput(root)
	if err != nil {
		return nil, fmt.Errorf("%w (MANIFESTS_DIR)", err)
	}
	base := filepath.Join(root, BaseDir)
	variant := filepath.Join(root, spec.Seed.Uploads.VariantDir)
	if st.IsDir() && (isDir(base) || isDir(variant)) {
		if !isDir(base) {
			return nil, fmt.Errorf("manifests: %s has %s/ but no %s/ (the default set)", root, spec.Seed.Uploads.VariantDir, BaseDir)
		}
		def, err := l.load(base)
		if err != nil {
			return nil, err
		}
		sets := []Profiled{{Set: def, Profile: Default}}
		if isDir(variant) {
			v, err := l.load(variant)
			if err != nil {
				return nil, err
			}
			sets = append(sets, Profiled{Set: v, Profile: Persistent})
		}
		chart := filepath.Join(root, ChartDir)
		if isDir(chart) {
			hs, err := HelmSettingsFromEnv()
			if err != nil {
				return nil, err
			}
			name := filepath.ToSlash(ChartDir)
			hs.Set = append([]string{NamespaceValue}, hs.Set...)
			def, err := l.loadChart(chart, name, hs)
			if err != nil {
				return nil, err
			}
			hs.Set = append(slices.Clone(hs.Set), PersistenceValue)
			per, err := l.loadChart(chart, name+" "+PersistenceValue, hs)
			if err != nil {
				return nil, err
			}
			sets = append(sets, Profiled{Set: def, Profile: Default}, Profiled{Set: per, Profile: Persistent})
		}
		return sets, nil
	}
	var s *Set
	if st.IsDir() && chartIn(root) {
		hs, err := HelmSettingsFromEnv()
		if err != nil {
			return nil, err
		}
		s, err = l.loadChart(root, filepath.Base(root), hs)
		if err != nil {
			return nil, err
		}
	} else if s, err = l.load(root); err != nil {
		return nil, err
	}
	p := Default
	if _, ok := s.Find("PersistentVolumeClaim", "*", spec.Seed.Uploads.PVC.Name); ok {
		p = Persistent
	}
	return []Profiled{{Set: s, Profile: p}}, nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
