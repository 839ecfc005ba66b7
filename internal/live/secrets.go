package live

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// FakeSecrets reads KEY=value lines. Every value must be obviously fake
// (contain "fake"), so a real credential can never slip in through fixtures.
func FakeSecrets(path string) (map[string]string, error) {
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
	return out, sc.Err()
}

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
