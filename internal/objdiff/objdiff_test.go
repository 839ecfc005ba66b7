package objdiff

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/puretasks/k8s-conformance/internal/manifests"
)

func deployment(image string, ports ...int32) *appsv1.Deployment {
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "backend", Namespace: "todo-app"},
	}
	c := corev1.Container{Name: "backend", Image: image}
	for _, p := range ports {
		c.Ports = append(c.Ports, corev1.ContainerPort{Name: "p" + string(rune('a'+p%26)), ContainerPort: p})
	}
	d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "sidecar", Image: "s"}, c}
	return d
}

func secret(v string) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "todo-app-secrets", Namespace: "todo-app"},
		StringData: map[string]string{"OPENAI_API_KEY": v},
		Data:       map[string][]byte{"JWT": []byte(v)},
	}
}

func svc(port int) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: "backend-service", Namespace: "todo-app"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8000, TargetPort: intstr.FromInt(port)}}},
	}
}

func TestDiffFieldByField(t *testing.T) {
	old := []manifests.Object{{Object: deployment("todo-backend:1", 8000)}, {Object: secret("fake-old-value-1")}, {Object: svc(8000)}}
	new := []manifests.Object{{Object: deployment("todo-backend:2", 8000)}, {Object: secret("fake-new-value-2")}, {Object: svc(8080)},
		{Object: &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Name: "extra", Namespace: "todo-app"}}}}
	changes, err := Diff(old, new, nil)
	require.NoError(t, err)
	var lines []string
	for _, c := range changes {
		lines = append(lines, c.String())
	}
	text := strings.Join(lines, "\n")
	t.Log(text)
	assert.Contains(t, text, `Deployment todo-app/backend spec.template.spec.containers[backend].image: "todo-backend:1" → "todo-backend:2"`)
	assert.NotContains(t, text, "containers[sidecar]", "an unchanged container matched by name is not reported")
	assert.Contains(t, text, "Service todo-app/backend-service spec.ports[http].targetPort: 8000 → 8080")
	assert.Contains(t, text, "ConfigMap todo-app/extra: (absent) → added")
	assert.Contains(t, text, "Secret todo-app/todo-app-secrets stringData.OPENAI_API_KEY: (not shown) → (changed, not shown)")
	assert.Contains(t, text, "Secret todo-app/todo-app-secrets data.JWT: (not shown) → (changed, not shown)")
	for _, planted := range []string{"fake-old-value-1", "fake-new-value-2", "ZmFrZS1"} {
		assert.NotContains(t, text, planted, "a Secret value is never shown")
	}
}

func TestDiffRedactsOtherValues(t *testing.T) {
	a := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "n"},
		Data: map[string]string{"DATABASE_URL": "postgres://u:fake-pass-1@db/x"}}
	b := a.DeepCopy()
	b.Data["DATABASE_URL"] = "postgres://u:fake-pass-2@db/x"
	changes, err := Diff([]manifests.Object{{Object: a}}, []manifests.Object{{Object: b}}, func(key, s string) string {
		assert.Equal(t, "DATABASE_URL", key, "the redactor is told the key the value sits under")
		return strings.ReplaceAll(strings.ReplaceAll(s, "fake-pass-1", "***"), "fake-pass-2", "***")
	})
	require.NoError(t, err)
	require.Len(t, changes, 1)
	assert.Equal(t, `ConfigMap n/c data.DATABASE_URL: "postgres://u:***@db/x" → "postgres://u:***@db/x"`, changes[0].String())
}

func TestDiffUnchanged(t *testing.T) {
	changes, err := Diff([]manifests.Object{{Object: svc(8000)}}, []manifests.Object{{Object: svc(8000)}}, nil)
	require.NoError(t, err)
	assert.Empty(t, changes)
}

func TestDiffNeverShowsASecretsAnnotations(t *testing.T) {
	a := &corev1.Secret{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"}, ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "n",
		Labels:      map[string]string{"tier": "old"},
		Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"data":{"K":"ZmFrZS1vbGQ="}}`}}}
	b := a.DeepCopy()
	b.Labels["tier"] = "new"
	b.Annotations["kubectl.kubernetes.io/last-applied-configuration"] = `{"data":{"K":"ZmFrZS1uZXc="}}`
	changes, err := Diff([]manifests.Object{{Object: a}}, []manifests.Object{{Object: b}}, nil)
	require.NoError(t, err)
	text := fmt.Sprint(changes)
	assert.Contains(t, text, `metadata.labels.tier: "old" → "new"`, "a Secret's labels are shown")
	assert.Contains(t, text, "last-applied-configuration: (not shown) → (changed, not shown)")
	assert.NotContains(t, text, "ZmFrZS1", "a Secret's annotation may hold its data: never shown")
}

func TestValueKey(t *testing.T) {
	for path, want := range map[string]string{
		"spec.template.spec.containers[backend].env[DB_PASSWORD].value": "DB_PASSWORD",
		"data.DATABASE_URL": "DATABASE_URL",
		"spec.replicas":     "replicas",
		"kind":              "kind",
	} {
		assert.Equal(t, want, valueKey(path), path)
	}
}

// A credential on the command line or under an env name given twice is
// redacted as one in the environment is (the redactor gets its name).
func TestDiffRedactsArgsAndRepeatedEnvNames(t *testing.T) {
	dep := func(pass string) *appsv1.Deployment {
		d := &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}, ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "n"}}
		d.Spec.Template.Spec.Containers = []corev1.Container{{Name: "c",
			Args: []string{"--db-password=" + pass, "--token", pass, "--port=8080"},
			Env:  []corev1.EnvVar{{Name: "DB_PASSWORD", Value: pass}, {Name: "DB_PASSWORD", Value: pass}}}}
		return d
	}
	var keys []string
	redact := func(key, s string) string {
		keys = append(keys, key)
		if strings.Contains(key, "PASSWORD") || key == "TOKEN" {
			return "<redacted>"
		}
		return s
	}
	changes, err := Diff([]manifests.Object{{Object: dep("Hunter2horse")}}, []manifests.Object{{Object: dep("Battery9staple")}}, redact)
	require.NoError(t, err)
	text := fmt.Sprint(changes)
	assert.NotContains(t, text, "Hunter2horse")
	assert.NotContains(t, text, "Battery9staple")
	assert.Contains(t, text, "args[0]")
	assert.Contains(t, text, "args[2]", "the value after --token is under TOKEN")
	assert.Contains(t, text, "env[DB_PASSWORD#1].value")
	assert.Subset(t, keys, []string{"DB_PASSWORD", "TOKEN"})
}
