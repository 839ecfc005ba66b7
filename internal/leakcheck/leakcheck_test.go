package leakcheck

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/puretasks/k8s-conformance/internal/fakesecrets"
)

// testFakes are values as the fixture holds them; one has characters JSON
// and XML escape, so those forms differ from the plain one.
var testFakes = map[string]string{
	"DATABASE_URL":   "postgresql://fake-user:fake-password@fake-db.invalid:5432/fake",
	"OPENAI_API_KEY": "fake-openai-key",
	"GMAIL_EMAIL":    "fake<mail>&co@example.invalid",
	"JWT_SECRET":     "fake-jwt-secret-for-tests-only~?>", // base64 has '+': std and URL forms differ
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

func gzipped(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, err := w.Write(b)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

// assertNamesNoValue: a leak report names file, key and form, and holds no
// 8 bytes in a row of any fake value ("fake" alone is in the report's words).
func assertNamesNoValue(t *testing.T, msg string) {
	t.Helper()
	for _, v := range testFakes {
		for i := 0; i+8 <= len(v); i++ {
			assert.NotContains(t, msg, v[i:i+8])
		}
	}
}

func TestScanFindsEveryPlantedForm(t *testing.T) {
	needles, err := Needles(testFakes)
	require.NoError(t, err)
	db := testFakes["DATABASE_URL"]
	mail := testFakes["GMAIL_EMAIL"]
	seam := bytes.Repeat([]byte("x"), chunk-5) // the value straddles the first chunk's end
	cases := []struct {
		file, key, form string
		content         []byte
	}{
		{"conformance.log", "DATABASE_URL", "plain", []byte("applying... DATABASE_URL=" + db + "\nPASS\n")},
		{"evidence/objects/secret.yaml", "DATABASE_URL", "base64", []byte("data:\n  DATABASE_URL: " + base64.StdEncoding.EncodeToString([]byte(db)) + "\n")},
		{"evidence/env.txt", "JWT_SECRET", "base64url", []byte("token=" + base64.URLEncoding.EncodeToString([]byte(testFakes["JWT_SECRET"])))},
		{"report.json", "GMAIL_EMAIL", "JSON-escaped", []byte(`{"actual":"fake\u003cmail\u003e\u0026co@example.invalid"}`)},
		{"junit.xml", "GMAIL_EMAIL", "XML-escaped", []byte(`<failure message="got fake&lt;mail&gt;&amp;co@example.invalid"/>`)},
		{"kind-logs/kubelet.log.gz", "OPENAI_API_KEY", "plain", gzipped(t, []byte("env OPENAI_API_KEY=fake-openai-key"))},
		{"big/seam.log", "OPENAI_API_KEY", "plain", append(seam, []byte("fake-openai-key tail")...)},
		{"plain-json.json", "GMAIL_EMAIL", "plain", []byte(`{"v":"` + mail + `"}`)},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			dir := t.TempDir()
			write(t, filepath.Join(dir, tc.file), tc.content)
			write(t, filepath.Join(dir, "clean.txt"), []byte("nothing here: REPLACE_ME, OPENAI_API_KEY, fake"))
			r, err := Scan(dir, needles)
			require.NoError(t, err)
			assert.Equal(t, 2, r.Files)
			require.Len(t, r.Leaks, 1, "%v", r.Leaks)
			assert.Equal(t, Leak{File: tc.file, Key: tc.key, Form: tc.form}, r.Leaks[0])
			assertNamesNoValue(t, r.Leaks[0].String())
		})
	}
}

func TestScanCleanDirPasses(t *testing.T) {
	needles, err := Needles(testFakes)
	require.NoError(t, err)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "junit.xml"), []byte(`<testsuite name="e2e"><testcase name="SEC-2"/></testsuite>`))
	write(t, filepath.Join(dir, "report.json"), []byte(`{"secrets":{"DATABASE_URL":"<redacted>","OPENAI_API_KEY":"<redacted>"}}`))
	write(t, filepath.Join(dir, "evidence/secret.yaml"), []byte("data:\n  DATABASE_URL: UkVEQUNURUQ=\n"))
	write(t, filepath.Join(dir, "conformance.log"), []byte("fake values injected: 10 keys (values not shown)\n"))
	require.NoError(t, os.Symlink("/dev/zero", filepath.Join(dir, "link")))
	r, err := Scan(dir, needles)
	require.NoError(t, err)
	assert.Equal(t, 4, r.Files)
	assert.Equal(t, []string{"link"}, r.Skipped, "a symlink is listed, not followed")
	assert.Empty(t, r.Leaks)
}

func TestNeedlesRejectTooShortValues(t *testing.T) {
	_, err := Needles(map[string]string{"K": "fake"})
	assert.ErrorContains(t, err, "K")
}

// Every value of the real fixture has its forms, and the test below plants
// one of them.
func TestNeedlesCoverTheFixture(t *testing.T) {
	fake, err := fakesecrets.Read(fakesecrets.Path(moduleRoot(t)))
	require.NoError(t, err)
	needles, err := Needles(fake)
	require.NoError(t, err)
	for k := range fake {
		var forms []string
		for _, n := range needles {
			if n.Key == k {
				forms = append(forms, n.Form)
			}
		}
		assert.Subset(t, forms, []string{"plain", "base64"}, k)
	}
}

// TestNoFakeSecretInArtifacts as a run would meet it: the test binary is run
// again with the environment a pipeline would give it.
func TestPostRunCheckOutcomes(t *testing.T) {
	fake, err := fakesecrets.Read(fakesecrets.Path(moduleRoot(t)))
	require.NoError(t, err)
	keys := make([]string, 0, len(fake))
	for k := range fake {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	key := keys[0]

	empty := t.TempDir()
	clean := t.TempDir()
	write(t, filepath.Join(clean, "conformance.log"), []byte("--- PASS: TestConformance\n"))
	write(t, filepath.Join(clean, "junit.xml"), []byte("<testsuites/>"))
	leaky := t.TempDir()
	write(t, filepath.Join(leaky, "conformance.log"), []byte("ok\n"))
	write(t, filepath.Join(leaky, "evidence/secret.yaml"), []byte(base64.StdEncoding.EncodeToString([]byte(fake[key]))))

	cases := []struct {
		name, artifacts, require string
		pass                     bool
		want                     string
	}{
		{"unset skips", "", "", true, "--- SKIP"},
		{"unset fails when required", "", "1", false, "is unset: there is no run output"},
		{"missing dir skips", filepath.Join(empty, "none"), "", true, "does not exist"},
		{"empty dir skips", empty, "", true, "holds no files"},
		{"empty dir fails when required", empty, "1", false, "holds no files"},
		{"clean run passes", clean, "1", true, "--- PASS"},
		{"planted value fails", leaky, "", false, "evidence/secret.yaml: holds the fake value of " + key + " (base64)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestNoFakeSecretInArtifacts$", "-test.v", "-test.count=1")
			cmd.Env = withoutEnv(os.Environ(), envArtifacts, envRequire)
			if tc.artifacts != "" {
				cmd.Env = append(cmd.Env, envArtifacts+"="+tc.artifacts)
			}
			if tc.require != "" {
				cmd.Env = append(cmd.Env, envRequire+"="+tc.require)
			}
			out, err := cmd.CombinedOutput()
			assert.Equal(t, tc.pass, err == nil, "exit: %v\n%s", err, out)
			assert.Contains(t, string(out), tc.want)
			for i := 0; i+8 <= len(fake[key]); i++ {
				assert.NotContains(t, string(out), fake[key][i:i+8], "the output shows part of the value")
			}
		})
	}
}

func withoutEnv(env []string, names ...string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				return true
			}
		}
		return false
	})
}
