//go:build storedlive

package staticcheck

// The golden table's live side: each object of the repository's two sets is
// created with dryRun=All on the cluster E2E_KUBECONFIG points at, and what
// the API server returns (admitted, defaulted, not persisted) is compared
// with testdata/stored/<profile>.json, or written there with -update-stored.
//
//	E2E_KUBECONFIG=_build/kubeconfig-dev go test ./internal/staticcheck -tags storedlive -run TestStoredObjectsMatchTheAPIServer -count=1 [-update-stored]
//
// Its own tag keeps it out of `go test ./e2e -tags e2e` and the static tier.
// It needs no images and starts no pods; the only object it persists is the
// todo-app Namespace when the cluster lacks it (a dry-run create of a
// namespaced object needs its namespace), deleted again at the end.

import (
	"context"
	"flag"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/puretasks/k8s-conformance/internal/spec"
)

var updateStored = flag.Bool("update-stored", false, "write testdata/stored from the API server's dry-run responses")

func TestStoredObjectsMatchTheAPIServer(t *testing.T) {
	kubeconfig := os.Getenv("E2E_KUBECONFIG")
	require.NotEmpty(t, kubeconfig, "E2E_KUBECONFIG names the cluster whose API server records the stored objects")
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	require.NoError(t, err)
	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	cleanup := ensureNamespace(ctx, t, c)
	defer cleanup()
	for p, s := range repoSets(t) {
		t.Run(string(p), func(t *testing.T) {
			server := map[string]map[string]any{}
			for _, o := range s.Objects {
				obj := o.Object.DeepCopyObject().(client.Object)
				if ns, ok := obj.(*corev1.Namespace); ok {
					obj = namespaceDryRun(ctx, t, c, ns)
				} else {
					require.NoError(t, c.Create(ctx, obj, client.DryRunAll), "dry-run create %s", storedKey(o))
					// The typed client's response has no TypeMeta; storedForm
					// needs the kind (a Secret's values are never recorded).
					obj.GetObjectKind().SetGroupVersionKind(o.Object.GetObjectKind().GroupVersionKind())
				}
				m, err := storedForm(obj)
				require.NoError(t, err)
				server[storedKey(o)] = normalise(t, m)
			}
			if *updateStored {
				writeStored(t, p, server)
				t.Logf("wrote %s from the API server", storedPath(p))
				return
			}
			golden := readStored(t, p)
			assert.Equal(t, len(golden), len(server))
			for k, want := range server {
				assert.Equal(t, want, golden[k], "%s: what the API server stores differs from %s (run with -update-stored, then fix defaults.go until TestDefaultingMatchesTheStoredObjects passes)", k, storedPath(p))
			}
		})
	}
}

// ensureNamespace creates the todo-app Namespace when the cluster lacks it,
// and returns what removes it again (nothing when it was there).
func ensureNamespace(ctx context.Context, t *testing.T, c client.Client) func() {
	t.Helper()
	ns := &corev1.Namespace{}
	ns.Name = spec.Namespace
	err := c.Create(ctx, ns)
	if apierrors.IsAlreadyExists(err) {
		return func() {}
	}
	require.NoError(t, err)
	return func() {
		assert.NoError(t, client.IgnoreNotFound(c.Delete(context.Background(), ns)))
	}
}

// namespaceDryRun records the Namespace as stored. The real todo-app
// Namespace exists by now, so the dry run creates a twin under another name
// and names the response back: the server's defaults for a Namespace
// (its kubernetes.io/metadata.name label, the kubernetes finalizer) depend
// on nothing but the name.
func namespaceDryRun(ctx context.Context, t *testing.T, c client.Client, ns *corev1.Namespace) client.Object {
	t.Helper()
	twin := ns.DeepCopy()
	twin.Name = ns.Name + "-stored-twin"
	require.NoError(t, c.Create(ctx, twin, client.DryRunAll), "dry-run create Namespace %s", twin.Name)
	twin.Name = ns.Name
	if twin.Labels[corev1.LabelMetadataName] == ns.Name+"-stored-twin" {
		twin.Labels[corev1.LabelMetadataName] = ns.Name
	}
	twin.SetGroupVersionKind(ns.GroupVersionKind())
	return twin
}
