package staticcheck

import (
	"fmt"

	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/printsafe"
)

// SetSummary is what the static tier prints before its checks: each set,
// every Helm hook of it (kind, name, phase, and how it was read: a hook of a
// kind the catalogue does not own is listed, never dropped), and, once per
// template, that a chart's render called `lookup` and was rendered offline.
// Everything taken from input is escaped (printsafe), so a name cannot
// print a line of its own.
func SetSummary(sets []manifests.Profiled) []string {
	var lines []string
	lookupShown := map[string]bool{}
	for _, s := range sets {
		lines = append(lines, printsafe.String(fmt.Sprintf("set %s (%s profile): %d objects, %d Helm hooks, from %s",
			s.Name, s.Profile, len(s.Objects), len(s.HookList), s.Path)))
		for _, h := range s.HookList {
			readers := " (SEC-2, X-3 and SEC-4 read it)"
			if h.Read != manifests.HookTyped {
				readers = ""
			}
			lines = append(lines, printsafe.String(fmt.Sprintf("set %s: Helm hook %s%s", s.Name, h, readers)))
		}
		for _, tmpl := range s.Lookups {
			if key := s.Path + "\x00" + tmpl; !lookupShown[key] {
				lookupShown[key] = true
				lines = append(lines, printsafe.String(fmt.Sprintf("chart %s: template %s calls lookup, which reads the cluster; rendered offline as helm template does, lookup found nothing", s.Path, tmpl)))
			}
		}
	}
	return lines
}
