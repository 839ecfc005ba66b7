// Package staticcheck holds the static tier: one check per catalogue ID
// (../shared/CHECKS.md), each comparing a manifest set field by field with the
// typed spec. A check returns every finding it has, so one run reports all
// that is wrong, not the first thing.
package staticcheck

import (
	"fmt"
	"sort"

	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/printsafe"
	"github.com/puretasks/k8s-conformance/internal/spec"
)

// Finding is one mismatch: catalogue ID, resource, field path, expected, actual.
type Finding struct {
	ID       string
	Resource string
	Field    string
	Expected string
	Actual   string
}

// String is the one line a finding prints as. Every part is escaped
// (printable): no name, key or value can start a line of its own.
func (f Finding) String() string {
	return fmt.Sprintf("%s %s %s: expected %s, actual %s", printsafe.String(f.ID), printsafe.String(f.Resource), printsafe.String(f.Field), printsafe.String(f.Expected), printsafe.String(f.Actual))
}

// Check is one catalogue entry of the static tier.
type Check struct {
	ID    string
	Title string
	Run   func(c *checker) // records findings on c
}

// Catalogue lists every static check, in the catalogue's order.
var Catalogue = []Check{
	{"NS-1", "Namespace todo-app and its labels", checkNamespace},
	{"CM-1", "ConfigMap todo-app-config: label and exactly the seed's 11 keys and values", checkConfigMap},
	{"SEC-1", "Secret todo-app-secrets: Opaque, label, exactly the 12 keys, JWT values", checkSecret},
	{"SEC-2", "no credential in any value of the set (gitleaks default rules, URL password rule); todo-app-secrets holds placeholders", checkCredentials},
	{"SEC-3", "the Secret reaches the backend only", checkSecretBackendOnly},
	{"SEC-4", "every pod meets the Pod Security Standards baseline (upstream evaluator); restricted reported as information", checkPodSecurity},
	{"BD-1", "backend labels and selector", deploymentLabels(backend)},
	{"BD-2", "backend replicas", deploymentReplicas(backend)},
	{"BD-3", "backend rolling-update strategy", deploymentStrategy(backend)},
	{"BD-4", "backend container, image, pull policy, port", deploymentContainer(backend)},
	{"BD-5", "backend envFrom ConfigMap and Secret", deploymentEnv(backend)},
	{"BD-6", "backend resources", deploymentResources(backend)},
	{"BD-7", "backend probes", deploymentProbes(backend)},
	{"BD-8", "backend uploads volume", checkUploadsVolume},
	{"BS-1", "backend-service", service(backend)},
	{"FD-1", "frontend labels and selector", deploymentLabels(frontend)},
	{"FD-2", "frontend replicas", deploymentReplicas(frontend)},
	{"FD-3", "frontend rolling-update strategy", deploymentStrategy(frontend)},
	{"FD-4", "frontend container, image, pull policy, port", deploymentContainer(frontend)},
	{"FD-5", "frontend env (and no envFrom: the seed's YAML wins over its prose)", deploymentEnv(frontend)},
	{"FD-6", "frontend resources", deploymentResources(frontend)},
	{"FD-7", "frontend probes", deploymentProbes(frontend)},
	{"FS-1", "frontend-service", service(frontend)},
	{"PV-1", "backend-uploads-pv", checkPV},
	{"PVC-1", "backend-uploads-pvc", checkPVC},
	{"X-1", "cross-references resolve", checkCrossReferences},
	{"X-2", "every object within the API server's size limits (ConfigMap/Secret data 1 MiB, annotations 256 KiB) and with valid ConfigMap/Secret keys", checkAPILimits},
	{"X-3", "nothing else selects or exposes the app's pods; only frontend-service opens a NodePort", checkExposure},
}

// IDs returns the catalogue's static IDs.
func IDs() []string {
	ids := make([]string, len(Catalogue))
	for i, c := range Catalogue {
		ids[i] = c.ID
	}
	return ids
}

// checker carries the set under check and collects findings for one ID.
type checker struct {
	id       string
	set      *manifests.Set
	profile  manifests.Profile
	findings []Finding
	skipped  string // why the check does not apply to this set; "" if it does
}

// skip records that the check has nothing to check in this set, and why: an
// optional object the set does not hold is a SKIP, never a silent PASS.
func (c *checker) skip(reason string) { c.skipped = reason }

// fail records a finding. Whatever check reports it, every part passes the
// SEC-2 rules (Redact, redactPath): a ConfigMap value (CM-1), an env value
// (BD-5, FD-5), a label shown in an expected selector, or a key in a field
// path that holds a credential must not reach the output through the check
// that compares it with the spec; a URL's password is masked; control
// characters are escaped.
func (c *checker) fail(resource, field string, expected, actual any) {
	c.findings = append(c.findings, Finding{
		ID: c.id, Resource: redactPath(resource), Field: redactPath(field),
		Expected: redactValue("", expected), Actual: redactValue(field, actual),
	})
}

// expect records a finding when actual differs from expected.
func expect[T comparable](c *checker, resource, field string, expected, actual T) {
	if expected != actual {
		c.fail(resource, field, expected, actual)
	}
}

func render(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case map[string]string:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		s := "{"
		for i, k := range keys {
			if i > 0 {
				s += ", "
			}
			s += k + "=" + x[k]
		}
		return s + "}"
	case nil:
		return "<none>"
	}
	return fmt.Sprint(v)
}

// Result is the outcome of the whole static tier on one set.
type Result struct {
	Set      string
	Profile  manifests.Profile
	Findings map[string][]Finding // by catalogue ID; every ID present
}

// Failed returns the IDs with findings, in catalogue order.
func (r Result) Failed() []string {
	var ids []string
	for _, c := range Catalogue {
		if len(r.Findings[c.ID]) > 0 {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// Run runs every static check on the set.
func Run(s *manifests.Set, p manifests.Profile) Result {
	r := Result{Set: s.Name, Profile: p, Findings: map[string][]Finding{}}
	shared := &runCache{} // one defaulted view and one comparison per object, shared by the checks
	for _, chk := range Catalogue {
		r.Findings[chk.ID], _ = evaluate(chk, s, p, shared)
	}
	return r
}

// RunOne runs one check.
func RunOne(chk Check, s *manifests.Set, p manifests.Profile) []Finding {
	findings, _ := Evaluate(chk, s, p)
	return findings
}

// Evaluate runs one check and also says why it was skipped, if it was: a
// check with no findings and a skip reason checked nothing.
func Evaluate(chk Check, s *manifests.Set, p manifests.Profile) (findings []Finding, skipped string) {
	return evaluate(chk, s, p, &runCache{})
}

// evaluate runs the check's field-by-field comparison, then adds the
// whole-object differences in its area that those did not report. The
// checks of the seed's objects and of their references read the set as the
// API server stores it (defaulted); the others read it as written.
func evaluate(chk Check, s *manifests.Set, p manifests.Profile, shared *runCache) (findings []Finding, skipped string) {
	c := &checker{id: chk.ID, set: s, profile: p}
	if readsStored(chk.ID) {
		c.set = shared.storedView(s)
	}
	chk.Run(c)
	if c.skipped == "" {
		c.compareWhole(shared)
	}
	if len(c.findings) > 0 {
		return c.findings, ""
	}
	return nil, c.skipped
}

var seed = spec.Seed
