// Package depsanchor keeps the renderer and scanner modules in go.mod while
// the code that uses them is written. Delete once they are imported for real.
package depsanchor

import (
	_ "github.com/zricethezav/gitleaks/v8/detect"
	_ "helm.sh/helm/v3/pkg/chart/loader"
	_ "helm.sh/helm/v3/pkg/chartutil"
	_ "helm.sh/helm/v3/pkg/engine"
	_ "sigs.k8s.io/kustomize/api/krusty"
	_ "sigs.k8s.io/kustomize/kyaml/filesys"
)
