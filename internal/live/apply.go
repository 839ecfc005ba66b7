package live

import (
	"context"
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/puretasks/k8s-conformance/internal/manifests"
)

// FieldOwner is the server-side apply field manager of the suite.
const FieldOwner = "k8s-conformance"

// ApplyResult says what the server answered for each object.
type ApplyResult struct {
	DryRunErrors []string
	ApplyErrors  []string
	Applied      []string
}

// Err joins the errors, dry-run first.
func (r ApplyResult) Err() error {
	var errs []error
	for _, e := range r.DryRunErrors {
		errs = append(errs, errors.New("dry-run: "+e))
	}
	for _, e := range r.ApplyErrors {
		errs = append(errs, errors.New("apply: "+e))
	}
	return errors.Join(errs...)
}

// ApplySet server-side applies a set in dependency order: cluster-scoped
// objects and Namespaces first (dry-run, then for real), because a namespaced
// object's dry-run needs its namespace to exist; then the rest, dry-run for
// all of them before any is applied.
func ApplySet(ctx context.Context, c client.Client, objs []client.Object) ApplyResult {
	var first, rest []client.Object
	for _, o := range objs {
		if o.GetNamespace() == "" {
			first = append(first, o)
		} else {
			rest = append(rest, o)
		}
	}
	var r ApplyResult
	for _, group := range [][]client.Object{first, rest} {
		for _, o := range group {
			if err := apply(ctx, c, o, true); err != nil {
				r.DryRunErrors = append(r.DryRunErrors, describe(o)+": "+err.Error())
			}
		}
		if len(r.DryRunErrors) > 0 {
			return r
		}
		for _, o := range group {
			if err := apply(ctx, c, o, false); err != nil {
				r.ApplyErrors = append(r.ApplyErrors, describe(o)+": "+err.Error())
				continue
			}
			r.Applied = append(r.Applied, describe(o))
		}
	}
	return r
}

func describe(o client.Object) string {
	k := manifests.KeyOf(o)
	return k.String()
}

func apply(ctx context.Context, c client.Client, o client.Object, dryRun bool) error {
	u, err := toUnstructured(o)
	if err != nil {
		return err
	}
	opts := []client.ApplyOption{client.FieldOwner(FieldOwner), client.ForceOwnership}
	if dryRun {
		opts = append(opts, client.DryRunAll)
	}
	return c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), opts...)
}

// toUnstructured drops what a manifest never sets but a typed object always
// carries (status, a null creationTimestamp), so apply claims only the
// manifest's fields.
func toUnstructured(o client.Object) (*unstructured.Unstructured, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(o.GetObjectKind().GroupVersionKind())
	delete(u.Object, "status")
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "spec", "template", "metadata", "creationTimestamp")
	if u.GetAPIVersion() == "" || u.GetKind() == "" {
		return nil, fmt.Errorf("%s has no apiVersion/kind", strings.TrimSpace(o.GetName()))
	}
	return u, nil
}

// TemplateChanges reports whether applying d over the live Deployment of the
// same name would change its pod template as the API server stores it: a
// server-side dry-run apply, defaulted and admitted, compared with the live
// object. That, not the manifests' text, is what makes the Deployment
// controller replace pods (a manifest that only spells out a default, such
// as protocol: TCP, changes nothing).
func TemplateChanges(ctx context.Context, cs kubernetes.Interface, d *appsv1.Deployment) (bool, error) {
	u, err := toUnstructured(d)
	if err != nil {
		return false, err
	}
	body, err := u.MarshalJSON()
	if err != nil {
		return false, err
	}
	deps := cs.AppsV1().Deployments(d.Namespace)
	current, err := deps.Get(ctx, d.Name, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Errorf("reading the live Deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	dry, err := deps.Patch(ctx, d.Name, types.ApplyPatchType, body,
		metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}, FieldManager: FieldOwner, Force: ptr.To(true)})
	if err != nil {
		return false, fmt.Errorf("server-side dry-run of Deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	return !equality.Semantic.DeepEqual(current.Spec.Template, dry.Spec.Template), nil
}

// Prune deletes objects the new revision no longer has, as `kubectl apply
// --prune` (or a GitOps tool's prune, or helm upgrade) does; one already
// gone is fine.
func Prune(ctx context.Context, c client.Client, objs []client.Object) error {
	var errs []error
	for _, o := range objs {
		u, err := toUnstructured(o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := c.Delete(ctx, u, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting %s: %w", describe(o), err))
		}
	}
	return errors.Join(errs...)
}
