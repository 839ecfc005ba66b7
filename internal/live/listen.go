package live

import (
	"fmt"
	"slices"

	"github.com/google/go-containerregistry/pkg/name"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/stubimage"
)

// ListenEnv is the stub's setting for the address it listens on
// (stubs/stubserver). The live tier sets it to the port the container
// declares, as the real app is configured to listen where its manifest says:
// a port that moves between revisions then behaves live as it would in
// production, and L-UPGRADE sees the requests it drops.
const ListenEnv = "STUB_LISTEN"

// ListenOnDeclaredPort tells every stub container (stubImages: only theirs)
// of a Deployment to listen
// on the port it declares (DeclaredPort). A container that declares no port
// is left to the stub's default, the seed's port, as the app's own default.
// A container that already sets ListenEnv is left as it is.
func ListenOnDeclaredPort(o client.Object) {
	d, ok := o.(*appsv1.Deployment)
	if !ok {
		return
	}
	cs := d.Spec.Template.Spec.Containers
	for i := range cs {
		c := &cs[i]
		if !slices.ContainsFunc(stubImages(), func(st stubimage.Stub) bool { return sameImage(st.Tag, c.Image) }) {
			continue
		}
		port, ok := DeclaredPort(*c)
		if !ok || slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == ListenEnv }) {
			continue
		}
		c.Env = append(c.Env, corev1.EnvVar{Name: ListenEnv, Value: fmt.Sprintf(":%d", port)})
	}
}

// DeclaredPort is the port a single-port app listens on by its container's
// declaration: the only TCP containerPort, else the one named "http", else
// the first TCP one.
func DeclaredPort(c corev1.Container) (int32, bool) {
	var tcp []corev1.ContainerPort
	for _, p := range c.Ports {
		if p.Protocol == "" || p.Protocol == corev1.ProtocolTCP {
			tcp = append(tcp, p)
		}
	}
	if len(tcp) == 0 {
		return 0, false
	}
	for _, p := range tcp {
		if p.Name == "http" {
			return p.ContainerPort, true
		}
	}
	return tcp[0].ContainerPort, true
}

// Deployable returns copies of the set's objects as the run applies them:
// the Secret's placeholders replaced by the fixtures' fake values
// (InjectFakeSecrets) and each stub container listening on its declared
// port (ListenOnDeclaredPort). Nothing else of the manifests is changed.
func Deployable(set *manifests.Set, fake map[string]string) []client.Object {
	if set == nil {
		return nil
	}
	var out []client.Object
	for _, o := range set.DeepCopy().Objects {
		if sec, ok := o.Object.(*corev1.Secret); ok {
			InjectFakeSecrets(sec, fake)
		}
		ListenOnDeclaredPort(o.Object)
		out = append(out, o.Object)
	}
	return out
}

// sameImage compares image references as the container runtime resolves
// them: todo-backend:latest, docker.io/library/todo-backend:latest and
// todo-backend are one image.
func sameImage(a, b string) bool {
	ra, errA := name.ParseReference(a)
	rb, errB := name.ParseReference(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return ra.Name() == rb.Name()
}
