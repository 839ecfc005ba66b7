// Package fakesecrets reads fixtures/secrets.fake.env: the obviously fake
// values the live tier puts into todo-app-secrets before applying, and that
// the post-run leak check (internal/leakcheck) must never find in artifacts.
package fakesecrets

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Fixture is the file's path relative to the module root.
const Fixture = "fixtures/secrets.fake.env"

// Path is the fixture's path under the module root.
func Path(moduleRoot string) string { return filepath.Join(moduleRoot, Fixture) }

// Read reads KEY=value lines (blank lines and # comments skipped). Every
// value must be obviously fake (contain "fake"), so a real credential can
// never slip in through fixtures.
func Read(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	line := 0
	for sc.Scan() {
		line++
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want KEY=value", path, line)
		}
		if !strings.Contains(strings.ToLower(v), "fake") {
			return nil, fmt.Errorf("%s:%d: %s is not obviously fake (values must contain \"fake\")", path, line, k)
		}
		out[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", path, line, err)
	}
	return out, nil
}
