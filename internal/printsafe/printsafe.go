// Package printsafe escapes text taken from input (file names, keys, kinds,
// error messages quoting them) before it is printed, so that no input can
// start a line of its own in the output: a fake "--- PASS" line, a GitHub
// Actions "::warning" command, or a terminal escape sequence.
package printsafe

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// String returns s with every control character escaped: \n, \r and \t as
// those two-character escapes, any other C0/C1 control, DEL and the Unicode
// line and paragraph separators as \xNN or \uNNNN, and invalid UTF-8 bytes
// as \xNN. A backslash is left as it is: the output is for people, and an
// escape shown is enough to tell that the input held a control character.
// Printable text, spaces included, is unchanged.
func String(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80 && unicode.IsControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case needsEscape(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// Lines escapes s as String does but keeps its line breaks: for a message of
// several lines the program itself composed, where only the input quoted
// inside each line must be neutralised. Each line after the first is
// indented, so none can start at column 0 (where "--- PASS", "::warning" and
// "ok  " are recognised).
func Lines(s string) string {
	parts := strings.Split(s, "\n")
	for i, p := range parts {
		parts[i] = String(p)
	}
	return strings.Join(parts, "\n    ")
}

func clean(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || r < 0x20 || r == 0x7f || needsEscape(r) {
			return false
		}
	}
	return true
}

// needsEscape: C1 controls, line/paragraph separators and the bidi controls
// that reorder what a terminal shows (trojan-source style), and other
// format characters.
func needsEscape(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f:
		return true
	case r == '\u2028' || r == '\u2029':
		return true
	case r == 0x7f:
		return true
	}
	return unicode.Is(unicode.Cf, r)
}
