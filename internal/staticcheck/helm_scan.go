package staticcheck

// What a Helm release stores besides its objects, scanned for credentials
// (SEC-2) with the same rules as every object value: the rendered NOTES.txt
// (helm install prints it and keeps it in the release) and the values
// (the user's, and each chart's values.yaml; the release Secret stores
// both). Hook objects are scanned as objects: credentialValues reads
// Set.Installed().

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/puretasks/k8s-conformance/internal/manifests"
)

// releaseValues lists the NOTES.txt lines and the values of a chart's set;
// nothing for other sets. A finding names the file and line, or the values
// source and path; never the text.
func releaseValues(s *manifests.Set) []scannedValue {
	var out []scannedValue
	for _, n := range s.Notes {
		out = append(out, notesLines(n)...)
	}
	for _, v := range s.Values {
		out = append(out, valuesLeaves(v.Source, "", "", v.Values)...)
	}
	return out
}

// notesLines gives each line of a rendered NOTES.txt to the rules on its
// own (a finding names its line), and the whole text once more, for rules
// whose match spans lines (a private key block), named by its first line.
func notesLines(n manifests.RenderedDoc) []scannedValue {
	res := "NOTES.txt (" + n.Source + ", as rendered)"
	lines := strings.Split(string(n.YAML), "\n")
	var out []scannedValue
	for i, l := range lines {
		if strings.TrimSpace(l) != "" {
			out = append(out, scannedValue{resource: res, field: fmt.Sprintf("line %d", i+1), context: "NOTES", text: l})
		}
	}
	if len(out) > 1 {
		out = append(out, scannedValue{resource: res, field: fmt.Sprintf("lines 1-%d (the whole text)", len(lines)), context: "NOTES", text: string(n.YAML)})
	}
	return out
}

// valuesLeaves walks a values map: each scalar is scanned under its key name
// (so a keyword in the key, such as password or token, is seen as in a
// values file), and named by its path (.Values.a.b[0]).
func valuesLeaves(source, path, key string, v any) []scannedValue {
	var out []scannedValue
	switch x := v.(type) {
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			p := k
			if path != "" {
				p = path + "." + k
			}
			out = append(out, valuesLeaves(source, p, k, x[k])...)
		}
	case []any:
		for i, e := range x {
			out = append(out, valuesLeaves(source, fmt.Sprintf("%s[%d]", path, i), key, e)...)
		}
	case nil:
	default:
		text := fmt.Sprint(x)
		if text != "" {
			out = append(out, scannedValue{resource: source, field: ".Values." + path, context: key, text: text})
		}
	}
	return out
}
