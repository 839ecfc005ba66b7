package printsafe

import "testing"

func TestString(t *testing.T) {
	cases := map[string]string{
		"plain name-1.yaml":           "plain name-1.yaml",
		"a\n--- PASS: TestX":          `a\n--- PASS: TestX`,
		"x\r\n::warning file=a::boom": `x\r\n::warning file=a::boom`,
		"\x1b[2Jcleared":              `\x1b[2Jcleared`,
		"tab\there":                   `tab\there`,
		"bell\x07 del\x7f":            `bell\x07 del\x7f`,
		"c1\u0085next":                `c1\u0085next`,
		"sep\u2028line":               `sep\u2028line`,
		"bidi\u202eevil":              `bidi\u202eevil`,
		"bad\xffutf8":                 `bad\xffutf8`,
		"ünïcode ok":                  "ünïcode ok",
	}
	for in, want := range cases {
		if got := String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLinesKeepsBreaksAndIndents(t *testing.T) {
	got := Lines("first\n--- PASS: fake\x1b[0m")
	want := "first\n    --- PASS: fake\\x1b[0m"
	if got != want {
		t.Errorf("Lines = %q, want %q", got, want)
	}
}
