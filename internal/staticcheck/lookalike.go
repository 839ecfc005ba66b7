package staticcheck

import (
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/unicode/runenames"
)

// A missing seed object is often there under a name that only looks the
// same: a Cyrillic "а" in backend-service, a capital letter, a full-width
// hyphen. The API server treats those as other objects, so the check still
// fails; the finding names the look-alike so a person can see why.

// confusables maps letters that render like a Latin letter or digit of a
// Kubernetes name (Cyrillic, Greek) to it. NFKC folds the compatibility
// forms (full-width letters, ligatures) before this table is consulted.
var confusables = map[rune]rune{
	'а': 'a', 'в': 'b', 'с': 'c', 'е': 'e', 'һ': 'h', 'і': 'i', 'ј': 'j', 'к': 'k',
	'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p', 'ԛ': 'q', 'ѕ': 's', 'т': 't', 'у': 'y',
	'х': 'x', 'ԝ': 'w', 'ӏ': 'l', 'ɡ': 'g',
	'α': 'a', 'ε': 'e', 'ι': 'i', 'κ': 'k', 'ν': 'v', 'ο': 'o', 'ρ': 'p', 'τ': 't',
	'υ': 'u', 'χ': 'x',
	'‐': '-', '‑': '-', '‒': '-', '–': '-', '—': '-', '−': '-',
}

// skeleton is a name reduced to what it looks like: compatibility forms
// folded, confusable letters mapped, case folded, invisible characters
// dropped.
func skeleton(name string) string {
	var b strings.Builder
	for _, r := range norm.NFKC.String(name) {
		if c, ok := confusables[unicode.ToLower(r)]; ok {
			r = c
		}
		if unicode.Is(unicode.Cf, r) { // zero-width joiners, soft hyphens
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// lookAlike returns a description of how got differs from want when it only
// looks the same, or "" when it does not look like want.
func lookAlike(want, got string) string {
	if got == want || skeleton(got) != skeleton(want) {
		return ""
	}
	var odd []string
	for i, r := range []rune(got) {
		if r > unicode.MaxASCII || unicode.IsUpper(r) {
			odd = append(odd, fmt.Sprintf("%U %s at %d", r, runenames.Name(r), i+1))
		}
	}
	if len(odd) == 0 {
		return fmt.Sprintf("%q looks like %q but is another name", got, want)
	}
	return fmt.Sprintf("%q looks like %q but is another name (%s)", got, want, strings.Join(odd, ", "))
}

// missingActual is the actual value of a missing object's finding: plain
// "missing", or what in the set only looks like it.
func (c *checker) missingActual(kind, name string) any {
	for _, o := range c.set.Objects {
		if o.GetObjectKind().GroupVersionKind().Kind != kind {
			continue
		}
		if why := lookAlike(name, o.GetName()); why != "" {
			return rawText(fmt.Sprintf("missing; %s %s (%s)", kind, why, o.Source))
		}
	}
	return "missing"
}
