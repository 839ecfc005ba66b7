package live

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/puretasks/k8s-conformance/internal/report"
)

// WriteNotRunReport records a run that ended at its selection, before
// anything existed: every planned check is NOT RUN (why says why) in
// report.json, report.html and report-junit.xml under $ARTIFACTS, so a CI
// that reads the report sees the same answer as the exit status, and an
// earlier run's report is never read as this one's.
func WriteNotRunReport(checks []PlannedCheck, why string) (string, error) {
	s, err := FromEnv()
	if err != nil {
		return "", err
	}
	r := report.New()
	seen := map[string]bool{}
	for _, c := range checks {
		for _, id := range c.Labels["id"] {
			if seen[id] {
				continue
			}
			seen[id] = true
			r.Start(id)
			r.Measure(id, "not run: %s", why)
			r.Conclude(id, report.Outcome{Steps: max(1, len(c.Steps))})
		}
	}
	r.Note("the run ended at its selection, before any cluster existed: %s", why)
	if err := os.MkdirAll(s.Artifacts, 0o755); err != nil {
		return "", err
	}
	var errs []error
	for name, write := range map[string]func(string) error{"report.json": r.WriteJSON, "report.html": r.WriteHTML, report.JUnitFile: r.WriteJUnit} {
		if err := write(filepath.Join(s.Artifacts, name)); err != nil {
			errs = append(errs, fmt.Errorf("writing %s: %w", name, err))
		}
	}
	return s.Artifacts, errors.Join(errs...)
}
