package staticcheck

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/puretasks/k8s-conformance/internal/manifests"
)

// The golden table of what the API server stores: testdata/stored/<profile>.json
// holds the repository's objects (manifests/base, manifests/persistent-uploads)
// as a dry-run create returns them, keyed Kind/name, without what the server
// fills per object or per cluster (storedForm). golden_live_test.go (build
// tag e2e) regenerates and compares it against a cluster; this test holds
// the defaulting functions (defaults.go) to it.

var storedFromSource = flag.Bool("stored-from-source", false,
	"write testdata/stored from defaults.go instead of comparing (only when no cluster is at hand; golden_live_test.go -update-stored records the server's own)")

func storedPath(p manifests.Profile) string {
	return filepath.Join("testdata", "stored", string(p)+".json")
}

// storedForm is an object as the golden table records it: without status
// (reset on create), the fields the server fills per object (serverFilled;
// a Service's cluster IPs, IP families and allocated ports), and the
// Secret's values (never written anywhere).
func storedForm(o runtime.Object) (map[string]any, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return nil, err
	}
	for f := range serverFilled {
		deletePath(m, f)
	}
	deleteNil(m)
	if kind, _ := m["kind"].(string); kind == "Secret" || o.GetObjectKind().GroupVersionKind().Kind == "Secret" {
		delete(m, "data")
		delete(m, "stringData")
	}
	if spec, ok := m["spec"].(map[string]any); ok {
		for _, f := range []string{"clusterIP", "clusterIPs", "ipFamilies", "healthCheckNodePort"} {
			delete(spec, f)
		}
	}
	// A kind the set's typed objects carry as TypeMeta; the server's
	// response may leave it empty on a typed client.
	delete(m, "apiVersion")
	delete(m, "kind")
	return m, nil
}

func deletePath(m map[string]any, path string) {
	for {
		i := indexByte(path, '.')
		if i < 0 {
			delete(m, path)
			return
		}
		next, ok := m[path[:i]].(map[string]any)
		if !ok {
			return
		}
		m, path = next, path[i+1:]
	}
}

func indexByte(s string, b byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return i
		}
	}
	return -1
}

func deleteNil(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e == nil {
				delete(x, k)
				continue
			}
			deleteNil(e)
		}
	case []any:
		for _, e := range x {
			deleteNil(e)
		}
	}
}

func storedKey(o manifests.Object) string {
	return o.GetObjectKind().GroupVersionKind().Kind + "/" + o.GetName()
}

func readStored(t testing.TB, p manifests.Profile) map[string]map[string]any {
	t.Helper()
	raw, err := os.ReadFile(storedPath(p))
	require.NoError(t, err)
	var golden map[string]map[string]any
	require.NoError(t, json.Unmarshal(raw, &golden))
	return golden
}

func writeStored(t testing.TB, p manifests.Profile, golden map[string]map[string]any) {
	t.Helper()
	raw, err := json.MarshalIndent(golden, "", "  ")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(storedPath(p), append(raw, '\n'), 0o644))
}

// normalise makes a converted map compare with one read back from JSON
// (numbers become float64).
func normalise(t testing.TB, m map[string]any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(m)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out))
	return out
}

func TestDefaultingMatchesTheStoredObjects(t *testing.T) {
	for p, s := range repoSets(t) {
		t.Run(string(p), func(t *testing.T) {
			ours := map[string]map[string]any{}
			for _, o := range s.Objects {
				m, err := storedForm(defaulted(o.Object))
				require.NoError(t, err)
				ours[storedKey(o)] = normalise(t, m)
			}
			if *storedFromSource {
				writeStored(t, p, ours)
				t.Logf("wrote %s from defaults.go (source-derived, not recorded from a server)", storedPath(p))
				return
			}
			golden := readStored(t, p)
			assert.Equal(t, len(golden), len(ours), "objects in %s", storedPath(p))
			for k, want := range golden {
				assert.Equal(t, want, ours[k], "%s: the repository's object defaulted by defaults.go differs from what the API server stores (%s)", k, storedPath(p))
			}
		})
	}
}
