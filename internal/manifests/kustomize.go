package manifests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// kustomization is the subset of kustomize's Kustomization this loader
// renders. Any other field is an error rather than silently ignored, so the
// suite never checks something different from what `kubectl apply -k` applies.
type kustomization struct {
	APIVersion            string   `json:"apiVersion"`
	Kind                  string   `json:"kind"`
	Resources             []string `json:"resources"`
	Patches               []patch  `json:"patches"`
	PatchesStrategicMerge []string `json:"patchesStrategicMerge"`
}

type patch struct {
	Path string `json:"path"`
}

var kustomizationFields = map[string]bool{
	"apiVersion": true, "kind": true, "resources": true, "patches": true, "patchesStrategicMerge": true,
}

func (l *loader) renderKustomization(dir string, visiting map[string]bool) ([]Object, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if visiting[abs] {
		return nil, fmt.Errorf("manifests: kustomization cycle through %s", dir)
	}
	visiting[abs] = true
	defer delete(visiting, abs)

	file := kustomizationIn(dir)
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("manifests: %w", err)
	}
	var fields map[string]any
	if err := yaml.Unmarshal(raw, &fields); err != nil {
		return nil, fmt.Errorf("manifests: %s: malformed YAML: %w", file, err)
	}
	var unknown []string
	for f := range fields {
		if !kustomizationFields[f] {
			unknown = append(unknown, f)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("manifests: %s: unsupported kustomization field(s) %s (this suite renders resources and strategic-merge patches only)", file, strings.Join(unknown, ", "))
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(raw, &k); err != nil {
		return nil, fmt.Errorf("manifests: %s: %w", file, err)
	}
	var objs []Object
	for _, r := range k.Resources {
		p := filepath.Join(dir, r)
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("manifests: %s: resource %q: %w", file, r, err)
		}
		var got []Object
		if st.IsDir() {
			if kustomizationIn(p) == "" {
				return nil, fmt.Errorf("manifests: %s: resource %q is a directory without a kustomization", file, r)
			}
			got, err = l.renderKustomization(p, visiting)
		} else {
			got, err = l.decodeFile(p)
		}
		if err != nil {
			return nil, err
		}
		objs = append(objs, got...)
	}
	if err := checkDuplicates(objs); err != nil {
		return nil, err
	}
	patches := k.PatchesStrategicMerge
	for _, p := range k.Patches {
		if p.Path == "" {
			return nil, fmt.Errorf("manifests: %s: only patches with a path are supported", file)
		}
		patches = append(patches, p.Path)
	}
	for _, p := range patches {
		if err := applyPatchFile(objs, filepath.Join(dir, p)); err != nil {
			return nil, err
		}
	}
	return objs, nil
}

// applyPatchFile applies each document of a strategic-merge patch file to
// the object it names.
func applyPatchFile(objs []Object, path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("manifests: patch: %w", err)
	}
	docs, err := splitDocuments(path, raw)
	if err != nil {
		return fmt.Errorf("manifests: malformed YAML: %w", err)
	}
	for _, d := range docs {
		if isEmptyDocument(d.raw) {
			continue
		}
		where := fmt.Sprintf("%s:%d", path, d.line+firstContentLine(d.raw))
		patchJSON, err := yaml.YAMLToJSON(d.raw)
		if err != nil {
			return fmt.Errorf("manifests: %s: malformed YAML: %w", where, err)
		}
		var target struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(patchJSON, &target); err != nil {
			return fmt.Errorf("manifests: %s: %w", where, err)
		}
		i := -1
		for j, o := range objs {
			k := KeyOf(o)
			if k.Kind == target.Kind && k.Name == target.Metadata.Name &&
				(target.Metadata.Namespace == "" || k.Namespace == target.Metadata.Namespace) {
				i = j
				break
			}
		}
		if i < 0 {
			return fmt.Errorf("manifests: %s: patch target %s %s/%s is not among the kustomization's resources", where, target.Kind, target.Metadata.Namespace, target.Metadata.Name)
		}
		patched, err := strategicMerge(objs[i].Object, patchJSON)
		if err != nil {
			return fmt.Errorf("manifests: %s: %w", where, err)
		}
		objs[i] = Object{Object: patched, Source: objs[i].Source + " patched by " + where}
	}
	return nil
}

func strategicMerge(obj client.Object, patchJSON []byte) (client.Object, error) {
	gvk := obj.GetObjectKind().GroupVersionKind()
	orig, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	merged, err := strategicpatch.StrategicMergePatch(orig, patchJSON, obj)
	if err != nil {
		return nil, fmt.Errorf("strategic merge patch on %s/%s: %w", gvk.Kind, obj.GetName(), err)
	}
	out, err := scheme.Scheme.New(gvk)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(merged, out); err != nil {
		return nil, err
	}
	co := out.(client.Object)
	co.GetObjectKind().SetGroupVersionKind(gvk)
	return co, nil
}
