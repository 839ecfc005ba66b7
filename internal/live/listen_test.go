package live

import (
	"testing"

	"github.com/stretchr/testify/assert"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/puretasks/k8s-conformance/internal/spec"
)

func deploymentWith(cs ...corev1.Container) *appsv1.Deployment {
	d := &appsv1.Deployment{}
	d.Spec.Template.Spec.Containers = cs
	return d
}

func envOf(c corev1.Container) map[string]string {
	out := map[string]string{}
	for _, e := range c.Env {
		out[e.Name] = e.Value
	}
	return out
}

func TestListenOnDeclaredPort(t *testing.T) {
	backend := spec.Seed.Backend.Deployment.Container.Image
	d := deploymentWith(
		corev1.Container{Name: "app", Image: backend, Ports: []corev1.ContainerPort{{ContainerPort: 8080}}},
		corev1.Container{Name: "sidecar", Image: "example.invalid/sidecar:1", Ports: []corev1.ContainerPort{{ContainerPort: 9000}}},
		corev1.Container{Name: "noport", Image: backend},
		corev1.Container{Name: "named", Image: backend, Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9090}, {Name: "http", ContainerPort: 8001}}},
		corev1.Container{Name: "set", Image: backend, Ports: []corev1.ContainerPort{{ContainerPort: 8002}}, Env: []corev1.EnvVar{{Name: ListenEnv, Value: ":7000"}}},
		corev1.Container{Name: "udp", Image: backend, Ports: []corev1.ContainerPort{{ContainerPort: 53, Protocol: corev1.ProtocolUDP}, {ContainerPort: 8003}}},
	)
	ListenOnDeclaredPort(d)
	cs := d.Spec.Template.Spec.Containers
	assert.Equal(t, ":8080", envOf(cs[0])[ListenEnv], "a stub listens on the port it declares")
	assert.NotContains(t, envOf(cs[1]), ListenEnv, "only the stub images are told")
	assert.NotContains(t, envOf(cs[2]), ListenEnv, "no declared port: the stub's default, the seed's port")
	assert.Equal(t, ":8001", envOf(cs[3])[ListenEnv], "several ports: the one named http")
	assert.Equal(t, []corev1.EnvVar{{Name: ListenEnv, Value: ":7000"}}, cs[4].Env, "a setting of the manifest's own is kept")
	assert.Equal(t, ":8003", envOf(cs[5])[ListenEnv], "a UDP port is not where HTTP listens")

	svc := &corev1.Service{}
	ListenOnDeclaredPort(svc) // not a Deployment: nothing to do, no panic
}

func TestSameImage(t *testing.T) {
	assert.True(t, sameImage("todo-backend:latest", "docker.io/library/todo-backend:latest"))
	assert.True(t, sameImage("todo-backend:latest", "todo-backend"))
	assert.False(t, sameImage("todo-backend:latest", "todo-backend:v2"))
	assert.False(t, sameImage("todo-backend:latest", "example.invalid/todo-backend:latest"))
}
