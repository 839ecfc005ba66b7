package live

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/puretasks/k8s-conformance/internal/fakesecrets"
)

// FakeSecrets reads the fake values of fixtures/secrets.fake.env (KEY=value
// lines, each value containing "fake"); fakesecrets.Read is the one parser,
// shared with the post-run leak check.
func FakeSecrets(path string) (map[string]string, error) { return fakesecrets.Read(path) }

// InjectFakeSecrets replaces the placeholder values of the keys the Secret
// has with fake ones. Keys the manifest lacks are not added (that would hide
// a missing key from L-ENV); spec-fixed values stay as the manifest has them.
func InjectFakeSecrets(s *corev1.Secret, fake map[string]string) {
	for k := range s.Data {
		if v, ok := fake[k]; ok {
			s.Data[k] = []byte(v)
		}
	}
	for k := range s.StringData {
		if v, ok := fake[k]; ok {
			s.StringData[k] = v
		}
	}
}
