package live

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"sigs.k8s.io/e2e-framework/pkg/envconf"
)

// PlannedCheck is a live check as a selection sees it before anything runs:
// the lane test it belongs to, its feature's name and labels, and the names
// of its assessments.
type PlannedCheck struct {
	Test, Feature string
	Labels        map[string][]string
	Steps         []string
}

// Selection is what the run's filters (-run, --feature, --labels, --skip-*,
// --assess, --skip-assessment) leave of the live checks.
type Selection struct {
	cfg *envconf.Config
	run []*regexp.Regexp // -test.run, split per level as go test splits it
}

// ErrFailFast refuses --fail-fast: the lanes run in parallel and a check's
// verdict is decided after its teardown, which --fail-fast skips; half of
// its meaning would be a lie.
var ErrFailFast = errors.New("--fail-fast is not supported: the lanes run in parallel and every check is judged after its teardown; select the checks to run instead (--feature, --labels, CHECKS=)")

// NewSelection reads the run's filters; a -run pattern that does not
// compile is an error (go test would refuse it too).
func NewSelection(cfg *envconf.Config, runPattern string) (*Selection, error) {
	if cfg.FailFast() {
		return nil, ErrFailFast
	}
	s := &Selection{cfg: cfg}
	if runPattern == "" {
		return s, nil
	}
	for _, part := range splitRunPattern(runPattern) {
		re, err := regexp.Compile(part)
		if err != nil {
			return nil, fmt.Errorf("-run %q: %w", runPattern, err)
		}
		s.run = append(s.run, re)
	}
	return s, nil
}

// Steps returns the assessments of c that will run: none when its lane test
// or its feature is filtered out.
func (s *Selection) Steps(c PlannedCheck) []string {
	if !s.matchRun(c.Test) || !s.matchRun(c.Test, c.Feature) || !s.featureSelected(c) {
		return nil
	}
	var out []string
	for _, st := range c.Steps {
		if s.matchRun(c.Test, c.Feature, st) && s.assessmentSelected(st) {
			out = append(out, st)
		}
	}
	return out
}

// Check holds the whole selection to account before anything is created: a
// selection that leaves no assessment of any check to run is an error (a
// typo is never green), and each selected check some of whose assessments
// are filtered out is named in partial (it will end NOT RUN).
func (s *Selection) Check(checks []PlannedCheck) (partial []string, err error) {
	any := false
	for _, c := range checks {
		steps := s.Steps(c)
		if len(steps) == 0 {
			continue
		}
		any = true
		if len(steps) < len(c.Steps) {
			partial = append(partial, fmt.Sprintf("%s (%d of %d assessments selected)", c.Feature, len(steps), len(c.Steps)))
		}
	}
	if !any {
		return nil, ErrNoCheckSelected
	}
	return partial, nil
}

// featureSelected is e2e-framework's own feature filter: --feature,
// --skip-features, --labels and --skip-labels.
func (s *Selection) featureSelected(c PlannedCheck) bool {
	if re := s.cfg.FeatureRegex(); re != nil && !re.MatchString(c.Feature) {
		return false
	}
	if re := s.cfg.SkipFeatureRegex(); re != nil && re.MatchString(c.Feature) {
		return false
	}
	has := func(k, v string) bool {
		for _, x := range c.Labels[k] {
			if x == v {
				return true
			}
		}
		return false
	}
	for k, vals := range s.cfg.Labels() {
		ok := false
		for _, v := range vals {
			ok = ok || has(k, v)
		}
		if !ok {
			return false
		}
	}
	for k, vals := range s.cfg.SkipLabels() {
		for _, v := range vals {
			if has(k, v) {
				return false
			}
		}
	}
	return true
}

// assessmentSelected is e2e-framework's assessment filter: --assess and
// --skip-assessment.
func (s *Selection) assessmentSelected(name string) bool {
	if re := s.cfg.AssessmentRegex(); re != nil && !re.MatchString(name) {
		return false
	}
	if re := s.cfg.SkipAssessmentRegex(); re != nil && re.MatchString(name) {
		return false
	}
	return true
}

// matchRun applies -run to a test name given level by level, as go test
// does: each level's element matches its own part of the pattern; levels
// beyond the pattern match anything.
func (s *Selection) matchRun(names ...string) bool {
	for i, n := range names {
		if i >= len(s.run) {
			return true
		}
		if !s.run[i].MatchString(rewriteTestName(n)) {
			return false
		}
	}
	return true
}

// rewriteTestName is the name go test gives a subtest: spaces become
// underscores, other unprintable runes are quoted.
func rewriteTestName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			b.WriteByte('_')
		case r < 0x20 || r == 0x7f:
			q := fmt.Sprintf("%q", string(r))
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// splitRunPattern splits -run at the slashes go test splits it at: those
// outside brackets and parentheses.
func splitRunPattern(p string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '[', '(':
			depth++
		case ']', ')':
			if depth > 0 {
				depth--
			}
		case '\\':
			i++
		case '/':
			if depth == 0 {
				out = append(out, p[start:i])
				start = i + 1
			}
		}
	}
	return append(out, p[start:])
}
