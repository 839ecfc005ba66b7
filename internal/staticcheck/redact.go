package staticcheck

import (
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/puretasks/k8s-conformance/internal/printsafe"
)

// Redact is the one gate every value of the set passes before a finding
// prints it, whichever check compares it (CM-1's ConfigMap values, FD-5's env
// values, an annotation, an argument, a label in a selector). key is the name
// the value sits under (a data key, an env name, a field path): the
// keyword-driven rules read it as in KEY=value.
//
//   - A password in URL user-info is replaced by "***", so the rest of the
//     URL still shows what differs: postgres://user:***@host/db.
//   - Then the whole SEC-2 rule set (gitleaks' defaults and our URL rule) runs
//     on what is left; a value any rule matches is not shown at all, only
//     the rules' names.
//   - A value under a key whose name says it is a credential (DB_PASSWORD,
//     API_TOKEN, ...: credentialKeyName) is not shown either, whatever its
//     entropy: gitleaks' generic rule lets a low-entropy password through,
//     and a check comparing the value has no need to print it.
//   - When the rules cannot run, the value is not shown: a value that cannot
//     be checked is treated as a credential.
//
// Control characters are escaped last (printable), so the value cannot write
// a line of its own.
func Redact(key, text string) string {
	if credentialKeyName.MatchString(valueKeyName(key)) {
		return "<redacted: the key names a credential>"
	}
	masked := maskURLPasswords(text)
	d, err := credentialDetector()
	if err != nil {
		return "<redacted: credential rules unavailable>"
	}
	rules, err := detectRules(d, scanLine(scannedValue{context: key, text: masked}))
	switch {
	case err != nil:
		return "<redacted: credential scan failed>"
	case len(rules) > 0:
		return "<redacted: matches gitleaks rule " + strings.Join(rules, ", ") + ">"
	}
	return printsafe.String(masked)
}

// authored is text a check writes itself from names it chose (a rule id, a
// byte count), holding nothing of the set's values: a finding prints it
// as it is, escaped, without the key-name rule of Redact.
type authored string

// redactValue renders a finding's expected or actual value and redacts it.
// A map (labels, a selector) is redacted entry by entry first, each value
// under its own key, so a label named password is not shown in a selector.
func redactValue(key string, v any) string {
	switch x := v.(type) {
	case authored:
		return printsafe.String(string(x))
	case map[string]string:
		entries := make(map[string]string, len(x))
		for k, val := range x {
			entries[k] = Redact(k, val)
		}
		v = entries
	}
	return Redact(key, render(v))
}

// redactPath is Redact for a field path or a resource name: a key of a map
// (a ConfigMap data key, an annotation key, an env name) is part of the path
// and may itself be a credential. The segment that holds it is replaced; if
// no single segment does (the rule needs two of them together), the whole
// path is.
func redactPath(path string) string {
	if v, ok := redactedPaths.Load(path); ok {
		return v.(string)
	}
	out := redactPathUncached(path)
	// Findings repeat their resource and their field paths; a scan costs
	// some 50 µs. The memo is bounded, so hostile input cannot grow it.
	if redactedPathCount.Add(1) <= maxRedactedPaths {
		redactedPaths.Store(path, out)
	}
	return out
}

var (
	redactedPaths     sync.Map
	redactedPathCount atomic.Int64
)

const maxRedactedPaths = 4096

func redactPathUncached(path string) string {
	masked := maskURLPasswords(path)
	d, err := credentialDetector()
	if err != nil {
		return "<redacted path: credential rules unavailable>"
	}
	rules, err := detectRules(d, masked)
	if err != nil {
		return "<redacted path: credential scan failed>"
	}
	if len(rules) == 0 {
		return printsafe.String(masked)
	}
	segments := pathSegment.FindAllStringIndex(masked, -1)
	var b strings.Builder
	last, replaced := 0, false
	for _, s := range segments {
		seg := masked[s[0]:s[1]]
		segRules, err := detectRules(d, seg)
		if err != nil || len(segRules) == 0 {
			continue
		}
		b.WriteString(masked[last:s[0]])
		b.WriteString("<redacted key: matches gitleaks rule " + strings.Join(segRules, ", ") + ">")
		last, replaced = s[1], true
	}
	if !replaced {
		return "<redacted path: matches gitleaks rule " + strings.Join(rules, ", ") + ">"
	}
	b.WriteString(masked[last:])
	return printsafe.String(b.String())
}

// credentialKeyName matches a key name that says its value is a credential.
var credentialKeyName = regexp.MustCompile(`(?i)passw(?:or)?d|pwd|secret|token|api[_-]?key|private[_-]?key|credential|auth`)

// valueKeyName returns the map key a field path ends in, the name a value is
// stored under: data.KEY, stringData.KEY (decoded), annotations[KEY],
// env[NAME].value. A path ending in an API field (image, spec.type) has
// none: its value is named by the API, not by the manifest's author.
func valueKeyName(path string) string {
	path = strings.TrimSuffix(path, " (decoded)")
	for _, prefix := range []string{"data.", "stringData.", "binaryData."} {
		if rest, ok := strings.CutPrefix(path, prefix); ok {
			return rest
		}
	}
	path = strings.TrimSuffix(path, ".value")
	if !strings.HasSuffix(path, "]") {
		if !strings.Contains(path, ".") && !strings.Contains(path, "[") {
			return path // a bare key, as callers outside a finding pass it
		}
		return ""
	}
	if i := strings.LastIndex(path, "["); i >= 0 {
		return path[i+1 : len(path)-1]
	}
	return ""
}

// pathSegment is one name of a field path: the text between the separators
// of data.KEY, annotations[KEY], env[NAME].value, "Kind ns/name (file:line)".
var pathSegment = regexp.MustCompile(`[^.\[\]\s/()]+(?:\.[^.\[\]\s/()]+)*`)

// urlUserInfo finds scheme://user:password@ and marks the password. The
// authority ends at the first '/', '?', '#' or space, and the user-info at
// its last '@', as net/url splits it (so a raw '@' in a password is part of
// the password); the user name ends at the first ':'.
var urlUserInfo = regexp.MustCompile(`(?i)([a-z][a-z0-9+.\-]*://[^\s:/?#@"'<>]*:)([^\s/?#"'<>]*)@`)

// maskURLPasswords replaces the password of every URL's user-info by "***".
func maskURLPasswords(text string) string {
	if !strings.Contains(text, "://") {
		return text
	}
	return urlUserInfo.ReplaceAllString(text, "${1}***@")
}

// redactedMap renders labels or a selector for a message a check builds
// around them, each value redacted under its key as redactValue does.
func redactedMap(m map[string]string) string {
	return redactValue("", m)
}
