package staticcheck

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/puretasks/k8s-conformance/internal/manifests"
)

// Equivalent rewrites of the real manifests stay green: keys in another
// order, every object in one file or one file each, JSON instead of YAML,
// and quantities spelled differently but equal in value.
func TestEquivalentRewritesStayGreen(t *testing.T) {
	for profile, s := range repoSets(t) {
		layouts := map[string]func(dir string, docs [][]byte){
			"one file": func(dir string, docs [][]byte) {
				writeFile(t, filepath.Join(dir, "all.yaml"), []byte("---\n"+string(joinDocs(docs))))
			},
			"one file each, nested": func(dir string, docs [][]byte) {
				for i, d := range docs {
					writeFile(t, filepath.Join(dir, fmt.Sprintf("n%d/obj-%d.yml", i%3, i)), d)
				}
			},
			"json": func(dir string, docs [][]byte) {
				for i, d := range docs {
					js, err := yaml.YAMLToJSON(d)
					require.NoError(t, err)
					writeFile(t, filepath.Join(dir, fmt.Sprintf("%d.json", i)), js)
				}
			},
		}
		for name, layout := range layouts {
			t.Run(string(profile)+"/"+name, func(t *testing.T) {
				c := s.DeepCopy()
				b := ctr0(t, c, "frontend")
				b.Resources.Limits[corev1.ResourceMemory] = resource.MustParse("1024Mi") // 1Gi
				b.Resources.Limits[corev1.ResourceCPU] = resource.MustParse("1")         // 1000m
				dir := t.TempDir()
				layout(dir, reversedKeyDocs(t, c))
				sets, err := manifests.Discover(dir)
				require.NoError(t, err)
				require.Len(t, sets, 1)
				assert.Equal(t, profile, sets[0].Profile)
				r := Run(sets[0].Set, sets[0].Profile)
				assert.Empty(t, r.Failed(), "%v", r.Findings)
			})
		}
	}
}

// reversedKeyDocs renders each object as YAML with its top-level keys in
// reverse order (sigs.k8s.io/yaml sorts them; reversing changes the order).
func reversedKeyDocs(t *testing.T, s *manifests.Set) [][]byte {
	var docs [][]byte
	for _, o := range s.Objects {
		js, err := json.Marshal(o.Object)
		require.NoError(t, err)
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(js, &m))
		keys := slices.Sorted(maps.Keys(m))
		var b strings.Builder
		for _, k := range slices.Backward(keys) {
			y, err := yaml.JSONToYAML([]byte(`{"` + k + `":` + string(m[k]) + `}`))
			require.NoError(t, err)
			b.Write(y)
		}
		docs = append(docs, []byte(b.String()))
	}
	return docs
}

func joinDocs(docs [][]byte) []byte {
	var parts []string
	for _, d := range docs {
		parts = append(parts, string(d))
	}
	return []byte(strings.Join(parts, "---\n"))
}

func writeFile(t *testing.T, p string, b []byte) {
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, b, 0o644))
}

// BenchmarkStaticTier measures the whole static tier over the repository's
// manifests: discover + load + render the overlay + every check on both sets.
func BenchmarkStaticTier(b *testing.B) {
	root, err := manifests.ModuleRoot()
	require.NoError(b, err)
	dir := filepath.Join(root, "manifests")
	b.ReportAllocs()
	for b.Loop() {
		sets, err := manifests.Discover(dir)
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range sets {
			if r := Run(s.Set, s.Profile); len(r.Failed()) > 0 {
				b.Fatal(r.Failed())
			}
		}
	}
}

// BenchmarkChecksOnly is the checks without file I/O and decoding.
func BenchmarkChecksOnly(b *testing.B) {
	sets := repoSets(b)
	b.ReportAllocs()
	for b.Loop() {
		for p, s := range sets {
			Run(s, p)
		}
	}
}
