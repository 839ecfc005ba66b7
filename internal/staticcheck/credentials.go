package staticcheck

import (
	"context"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/rs/zerolog"
	"github.com/spf13/viper"
	"github.com/zricethezav/gitleaks/v8/config"
	"github.com/zricethezav/gitleaks/v8/detect"
	gitleakslog "github.com/zricethezav/gitleaks/v8/logging"
	"github.com/zricethezav/gitleaks/v8/report"
	"github.com/zricethezav/gitleaks/v8/sources"
	corev1 "k8s.io/api/core/v1"
)

// SEC-2: no credential anywhere in the set. Two rules:
//   - todo-app-secrets holds the placeholder under every key but the two
//     spec values (the seed's own rule for the app's Secret);
//   - every value of the set that can carry a credential (credentialValues,
//     hooks included) passes gitleaks' default rule set, the one `gitleaks
//     detect` uses, and our rule for a password in URL user-info
//     (urlPasswordRule).
//
// A finding names the object, the field (key by name) and the rule; it never
// holds the value or any part of it: the gitleaks Finding's Secret, Match and
// Line fields are never read.
func checkCredentials(c *checker) {
	checkSecretPlaceholders(c)
	values, err := credentialValues(c.set)
	if err != nil {
		c.fail(c.set.Name, "(every value)", "values readable for the credential scan", err.Error())
		return
	}
	hits, err := scanCredentials(values)
	if err != nil {
		c.fail(c.set.Name, "(credential scanner)", "gitleaks default rules and the URL password rule loaded", err.Error())
		return
	}
	for _, h := range hits {
		v := values[h.value]
		c.fail(v.resource, v.field, "no credential (gitleaks default rules, URL password rule)",
			authored(fmt.Sprintf("matches gitleaks rule %s (value redacted)", h.rule)))
	}
}

// checkSecretPlaceholders holds every Secret named todo-app-secrets, in
// whatever namespace or none, to the placeholder rule: a second copy (say one
// without a namespace, which kubectl puts in the default namespace) is as
// deployable as the first.
func checkSecretPlaceholders(c *checker) {
	want := seed.Secret
	n := 0
	for _, o := range c.set.Installed() {
		s, ok := o.Object.(*corev1.Secret)
		if !ok || s.Name != want.Name {
			continue
		}
		n++
		got := secretKeys(s)
		for _, k := range slices.Sorted(maps.Keys(got)) {
			if _, fixed := want.Fixed[k]; fixed {
				continue
			}
			if string(got[k]) != want.Placeholder {
				// Never print a Secret value: it may be a real credential.
				c.fail(resourceName(o), "data."+k+" (decoded)", want.Placeholder, authored(fmt.Sprintf("a non-placeholder value (%d bytes, redacted)", len(got[k]))))
			}
		}
	}
	if n == 0 {
		mustFind[*corev1.Secret](c, "Secret", want.Name)
	}
}

// hit is one rule matching one value (an index into the scanned values).
type hit struct {
	value int
	rule  string
}

var (
	detectorOnce sync.Once
	detector     *detect.Detector
	detectorErr  error
)

// urlPasswordRule is SEC-2's own rule, added to gitleaks' defaults (none of
// which finds it): a password in URL user-info, scheme://user:password@host,
// the shape of the app's DATABASE_URL. The secret group is the password, as
// net/url splits it (user name to the first ':', user-info to the last '@'
// of the authority). A URL without a password (postgres://user@host) has no
// group to match. The allowlist keeps what is not a password but a stand-in
// for one: the seed's placeholder and its like, a Kubernetes $(VAR)
// reference to another env var (how a URL is built from a secretKeyRef), a
// shell or template variable, a masked value.
//
// It is written as gitleaks configuration extending the defaults
// ([extend] useDefault), the way a repository adds rules to `gitleaks
// detect`, so the default rule set stays exactly the CLI's.
const urlPasswordRule = `
[extend]
useDefault = true

[[rules]]
id = "url-userinfo-password"
description = "Password in URL user-info (scheme://user:password@host)"
regex = '''(?i)\b[a-z][a-z0-9+.\-]*://[^\s:/?#@"'<>]*:([^\s/?#"'<>]+)@[^\s/?#@"'<>]+'''
secretGroup = 1
keywords = ["://"]
tags = ["password", "url"]

[[rules.allowlists]]
description = "placeholders and references, not passwords"
regexTarget = "secret"
regexes = [
  '''(?i)^(?:replace[_-]?me|change[_-]?me|placeholder|password|secret|redacted|x+|\*+)$''',
  '''^\$\([A-Za-z_][A-Za-z0-9_]*\)$''',
  '''^\$\{[^}]*\}$''',
  '''^\$[A-Za-z_][A-Za-z0-9_]*$''',
  '''^<[^>]*>$''',
]
`

// urlPasswordRuleID is the id of urlPasswordRule.
const urlPasswordRuleID = "url-userinfo-password"

// credentialDetector builds gitleaks' detector with its default rules and
// urlPasswordRule, once per process: parsing and compiling the ~220 rules
// costs about 70 ms of CPU (BenchmarkCredentialDetectorBuild), scanning
// about 0.1 ms per value (BenchmarkCredentialScan), so it is built once, not
// per set or per check.
func credentialDetector() (*detect.Detector, error) {
	detectorOnce.Do(func() {
		// gitleaks logs through its own package logger; its trace and debug
		// events carry matched text. Nothing of it may reach our output.
		gitleakslog.Logger = zerolog.Nop()
		// Our configuration is read with a private viper; gitleaks' extend
		// step loads its default config (config.DefaultConfig, the one
		// `gitleaks detect` uses) into viper's global instance, which
		// nothing else in this process reads.
		v := viper.New()
		v.SetConfigType("toml")
		if detectorErr = v.ReadConfig(strings.NewReader(urlPasswordRule)); detectorErr != nil {
			return
		}
		var vc config.ViperConfig
		if detectorErr = v.Unmarshal(&vc); detectorErr != nil {
			return
		}
		cfg, err := vc.Translate()
		if err != nil {
			detectorErr = err
			return
		}
		d := detect.NewDetector(cfg)
		// As the gitleaks CLI's default: base64, hex and percent-encoded
		// segments are decoded and scanned again, up to 5 levels deep.
		d.MaxDecodeDepth = 5
		detector = d
	})
	return detector, detectorErr
}

// scanLine is what the rules see for one value: its key name and the value,
// as in an env file (KEY=value). Provider rules (sk-ant-api03-..., ghp_...,
// AKIA...) match the value alone; the generic-api-key rule needs a keyword
// (key, token, secret, password...) before an assignment, as in real files.
func scanLine(v scannedValue) string {
	return strings.NewReplacer("\n", " ", "\r", " ").Replace(v.context) + "=" + v.text
}

// scanCredentials runs the detector on each value on its own, so a finding
// belongs to exactly one value and a keyword in one key name does not wake
// rules for the others. Values are spread over the CPUs; the detector is
// read-only during a scan.
func scanCredentials(values []scannedValue) ([]hit, error) {
	d, err := credentialDetector()
	if err != nil {
		return nil, err
	}
	perValue := make([][]hit, len(values))
	errs := make([]error, len(values))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(values)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				rules, err := detectRules(d, scanLine(values[i]))
				errs[i] = err
				for _, r := range rules {
					perValue[i] = append(perValue[i], hit{value: i, rule: r})
				}
			}
		}()
	}
	for i := range values {
		work <- i
	}
	close(work)
	wg.Wait()
	var out []hit
	for i, hs := range perValue {
		if errs[i] != nil {
			return nil, fmt.Errorf("%s %s: %w", values[i].resource, values[i].field, errs[i])
		}
		out = append(out, hs...)
	}
	return out, nil
}

// chunkedAbove is gitleaks' file read size (sources.File reads 100 kB,
// then up to 25 kB more to end at a blank line). A value larger than that is
// read as gitleaks reads a file of it, in those chunks, so rules that need a
// keyword run only on the chunks holding one: a 1 MiB value costs what
// `gitleaks dir` would spend on the same bytes, not a full-value pass per
// keyword rule.
const chunkedAbove = 100 * 1000

// detectRules returns the sorted ids of the rules that match line.
func detectRules(d *detect.Detector, line string) ([]string, error) {
	var findings []report.Finding
	if len(line) <= chunkedAbove {
		findings = d.DetectString(line)
	} else {
		src := &sources.File{Content: strings.NewReader(line)}
		err := src.Fragments(context.Background(), func(f sources.Fragment, err error) error {
			if err != nil {
				return err
			}
			findings = append(findings, d.Detect(detect.Fragment(f))...)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	var rules []string
	for _, f := range findings {
		if !slices.Contains(rules, f.RuleID) {
			rules = append(rules, f.RuleID)
		}
	}
	slices.Sort(rules)
	return rules, nil
}
