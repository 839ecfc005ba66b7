package staticcheck

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
)

// maxDataBytes is the API server's cap on a ConfigMap's or a Secret's data.
// k8s.io/kubernetes pkg/apis/core/validation: ValidateSecret and
// ValidateConfigMap add up len(value) over data (a ConfigMap's binaryData
// too; a Secret's stringData is merged into data before validation) and
// reject a total over core.MaxSecretSize = 1 * 1024 * 1024. Keys are not
// counted. The constant lives in an internal package of k8s.io/kubernetes,
// which is not importable, hence this copy.
const maxDataBytes = 1 * 1024 * 1024

// checkAPILimits is X-2: every object of the set is within the size limits
// the API server enforces, so `kubectl apply` cannot reject the set for its
// size. It is its own ID because it holds for every object, not for the
// seed's (CM-1 and SEC-1 check the two named objects), and it is not a
// cross-reference. Limits:
//   - a ConfigMap's or Secret's data: 1 MiB (maxDataBytes);
//   - an object's annotations: 256 KiB, keys and values, measured by
//     apimachinery's own ValidateAnnotationsSize;
//   - every key of a ConfigMap's data and binaryData and of a Secret's data
//     and stringData is a valid key (apimachinery's IsConfigMapKey, which
//     ValidateConfigMap and ValidateSecret call), and no key is in both a
//     ConfigMap's data and its binaryData.
//
// It reads every object applying the set creates, hooks included.
func checkAPILimits(c *checker) {
	for _, o := range c.set.Installed() {
		res := resourceName(o)
		if err := apivalidation.ValidateAnnotationsSize(o.GetAnnotations()); err != nil {
			c.fail(res, "metadata.annotations", fmt.Sprintf("at most %d bytes of keys and values (API server limit)", apivalidation.TotalAnnotationSizeLimitB), err.Error())
		}
		var obj runtime.Object = o.Object
		if u, ok := obj.(*unstructured.Unstructured); ok {
			typed, err := typedPayload(u)
			if err != nil {
				c.fail(res, "data", "a readable "+u.GetKind(), err.Error())
				continue
			}
			obj = typed
		}
		switch x := obj.(type) {
		case *corev1.Secret:
			total := 0
			for _, v := range secretKeys(x) {
				total += len(v)
			}
			c.dataSize(res, "data (decoded, with stringData)", total)
			c.validKeys(res, "data", slices.Collect(maps.Keys(x.Data)))
			c.validKeys(res, "stringData", slices.Collect(maps.Keys(x.StringData)))
		case *corev1.ConfigMap:
			total := 0
			for _, v := range x.Data {
				total += len(v)
			}
			for _, v := range x.BinaryData {
				total += len(v)
			}
			c.dataSize(res, "data + binaryData", total)
			c.validKeys(res, "data", slices.Collect(maps.Keys(x.Data)))
			c.validKeys(res, "binaryData", slices.Collect(maps.Keys(x.BinaryData)))
			for _, k := range slices.Sorted(maps.Keys(x.BinaryData)) {
				if _, ok := x.Data[k]; ok {
					c.fail(res, "binaryData."+k, "a key not also in data (API server rule)", "a duplicate of data."+k)
				}
			}
		}
	}
}

func (c *checker) dataSize(res, field string, total int) {
	if total > maxDataBytes {
		c.fail(res, field, fmt.Sprintf("at most %d bytes of values (API server limit, 1 MiB)", maxDataBytes), fmt.Sprintf("%d bytes", total))
	}
}

// validKeys: the API server refuses a ConfigMap or Secret with a key that is
// not a valid config key ([-._a-zA-Z0-9]+, at most 253 characters, not "."
// or ".."). The key is named in the field path, which findings redact when
// it holds a credential.
func (c *checker) validKeys(res, field string, keys []string) {
	slices.Sort(keys)
	for _, k := range keys {
		if errs := validation.IsConfigMapKey(k); len(errs) > 0 {
			// IsConfigMapKey describes the rule, never the key.
			c.fail(res, field+"["+k+"]", "a valid key (API server: IsConfigMapKey)", authored(strings.Join(errs, "; ")))
		}
	}
}
