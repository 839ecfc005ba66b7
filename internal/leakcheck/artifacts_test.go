package leakcheck

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/puretasks/k8s-conformance/internal/fakesecrets"
)

// Environment the post-run check reads.
const (
	envArtifacts = "ARTIFACTS"         // the run's artifacts directory (the Makefile's default: _artifacts/)
	envRequire   = "LEAKCHECK_REQUIRE" // 1: no artifacts to check is a failure, not a skip
)

// TestNoFakeSecretInArtifacts is the post-run leak check (SEC-2): after
// `make conformance`, passed or failed, no fake value injected from
// fixtures/secrets.fake.env may appear anywhere under $ARTIFACTS, plain or
// encoded. Without artifacts it skips and says why; with LEAKCHECK_REQUIRE=1
// it fails instead, so a pipeline cannot pass it by producing nothing.
func TestNoFakeSecretInArtifacts(t *testing.T) {
	root := moduleRoot(t)
	required := os.Getenv(envRequire) == "1"
	nothing := func(reason string) {
		t.Helper()
		if required {
			t.Fatalf("%s=1, but %s: there is no run output to check", envRequire, reason)
		}
		t.Skipf("%s: nothing to check (run `make conformance`, then this test with %s set to its artifacts; %s=1 makes this a failure)", reason, envArtifacts, envRequire)
	}
	dir := os.Getenv(envArtifacts)
	if dir == "" {
		nothing("$" + envArtifacts + " is unset")
		return
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir) // go test runs in the package's directory
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		nothing("$" + envArtifacts + " (" + dir + ") does not exist")
		return
	} else if err != nil {
		t.Fatalf("$%s: %v", envArtifacts, err)
	}
	fake, err := fakesecrets.Read(fakesecrets.Path(root))
	if err != nil {
		t.Fatalf("reading the fake values: %v", err)
	}
	needles, err := Needles(fake)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Scan(dir, needles)
	if err != nil {
		t.Fatal(err)
	}
	if r.Files == 0 {
		nothing("$" + envArtifacts + " (" + dir + ") holds no files")
		return
	}
	t.Logf("read %d files under %s for %d fake values in %d forms", r.Files, dir, len(fake), len(needles))
	for _, s := range r.Skipped {
		t.Logf("not a regular file, not read: %s", s)
	}
	for _, l := range r.Leaks {
		t.Errorf("SEC-2 %s", l)
	}
}

// moduleRoot is the directory holding go.mod, above the test's directory.
func moduleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.mod above %s", dir)
		}
	}
}
