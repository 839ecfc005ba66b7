package staticcheck

import (
	"fmt"
	"strings"
	"sync"

	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	"github.com/puretasks/k8s-conformance/internal/kubeversion"
	"github.com/puretasks/k8s-conformance/internal/manifests"
)

var (
	podSecurityOnce sync.Once
	podSecurity     policy.Evaluator
	podSecurityErr  error
)

// podSecurityEvaluator is the Pod Security admission plugin's own evaluator
// with its default checks, and the version of the profiles to judge by: the
// target Kubernetes minor (internal/kubeversion), as the API server the set
// is applied to judges a namespace's "latest" level.
func podSecurityEvaluator() (policy.Evaluator, api.Version, error) {
	r, err := kubeversion.Target()
	if err != nil {
		return nil, api.Version{}, err
	}
	podSecurityOnce.Do(func() {
		podSecurity, podSecurityErr = policy.NewEvaluator(policy.DefaultChecks(), nil)
	})
	return podSecurity, api.MajorMinorVersion(1, r.Minor()), podSecurityErr
}

// checkPodSecurity is SEC-4: every pod the set runs (a Pod, or the template
// of any workload kind; hooks included) meets the Pod Security Standards
// baseline profile, as the API server's PodSecurity admission judges it
// for a namespace labelled pod-security.kubernetes.io/enforce=baseline.
// Each finding names the control the evaluator reports (host namespaces,
// privileged, hostPath volumes, capabilities, ...) and its detail.
//
// A PersistentVolume's hostPath (the persistent variant's) is not a pod's
// hostPath volume: the pod mounts a claim, which the baseline allows.
func checkPodSecurity(c *checker) {
	ev, version, err := podSecurityEvaluator()
	if err != nil {
		c.fail(c.set.Name, "(Pod Security evaluator)", "the upstream evaluator for the target version", err.Error())
		return
	}
	lv := api.LevelVersion{Level: api.LevelBaseline, Version: version}
	for _, o := range c.set.Installed() {
		typed, err := typedObject(o)
		if err != nil {
			c.fail(resourceName(o), "(object)", "an object the API server decodes", err.Error())
			continue
		}
		for _, p := range podTemplates(typed) {
			for _, r := range ev.EvaluatePod(lv, p.meta, p.spec) {
				if !r.Allowed {
					c.fail(resourceName(o), p.field("spec"), fmt.Sprintf("Pod Security Standards %s:%s", lv.Level, lv.Version), control(r))
				}
			}
		}
	}
}

func control(r policy.CheckResult) string {
	if r.ForbiddenDetail == "" {
		return r.ForbiddenReason
	}
	return r.ForbiddenReason + " (" + r.ForbiddenDetail + ")"
}

// RestrictedProfileReport is SEC-4's information: where the set's pods
// fall short of the restricted profile. The seed's pods do (they set no
// securityContext), so this is reported, never failed. One line per pod,
// naming each control it misses; names and details pass the same redaction as findings.
func RestrictedProfileReport(s *manifests.Set) ([]string, error) {
	ev, version, err := podSecurityEvaluator()
	if err != nil {
		return nil, err
	}
	lv := api.LevelVersion{Level: api.LevelRestricted, Version: version}
	var out []string
	for _, o := range s.Installed() {
		typed, err := typedObject(o)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", redactPath(resourceName(o)), err)
		}
		for _, p := range podTemplates(typed) {
			var controls []string
			for _, r := range ev.EvaluatePod(lv, p.meta, p.spec) {
				if !r.Allowed {
					controls = append(controls, Redact("", control(r)))
				}
			}
			if len(controls) > 0 {
				out = append(out, fmt.Sprintf("SEC-4 information: %s %s does not meet Pod Security Standards %s:%s: %s",
					redactPath(resourceName(o)), p.field("spec"), lv.Level, lv.Version, strings.Join(controls, "; ")))
			}
		}
	}
	return out, nil
}
