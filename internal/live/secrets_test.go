package live

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/spec"
)

// SEC-2: the fixtures inject obviously fake values, for every credential key
// of the seed and none of the spec-fixed ones.
func TestFakeSecretFixtureSEC2(t *testing.T) {
	root, err := manifests.ModuleRoot()
	require.NoError(t, err)
	fake, err := FakeSecrets(filepath.Join(root, "fixtures/secrets.fake.env"))
	require.NoError(t, err)
	for _, k := range spec.Seed.Secret.Keys {
		if _, fixed := spec.Seed.Secret.Fixed[k]; fixed {
			assert.NotContains(t, fake, k)
			continue
		}
		assert.Contains(t, fake[k], "fake", k)
	}
}

func TestFakeSecretsRejectsRealLookingValues(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.env")
	require.NoError(t, os.WriteFile(p, []byte("OPENAI_API_KEY=sk-live-123\n"), 0o600))
	_, err := FakeSecrets(p)
	assert.ErrorContains(t, err, "not obviously fake")
}

func TestInjectKeepsKeySetAndFixedValues(t *testing.T) {
	s := &corev1.Secret{Data: map[string][]byte{"DATABASE_URL": []byte("REPLACE_ME"), "JWT_ALGORITHM": []byte("HS256")}}
	InjectFakeSecrets(s, map[string]string{"DATABASE_URL": "fake-db", "JWT_SECRET": "fake-jwt"})
	assert.Equal(t, "fake-db", string(s.Data["DATABASE_URL"]))
	assert.Equal(t, "HS256", string(s.Data["JWT_ALGORITHM"]))
	assert.NotContains(t, s.Data, "JWT_SECRET", "a key the manifest lacks stays missing")
}
