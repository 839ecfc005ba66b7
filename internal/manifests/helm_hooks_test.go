package manifests

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Every hook is decoded and listed: built-in kinds into their types (a Job
// and a Pod, which the seed's kinds do not include), a custom kind kept
// unstructured, none dropped. NOTES.txt, the values and the lookup call are
// carried for the checks and the output.
func TestHooksAreDecodedAndListed(t *testing.T) {
	s, err := Load(filepath.Join(badInputsDir(t), "helm-hook-credential"))
	require.NoError(t, err)
	require.Len(t, s.Objects, 1)

	byName := map[string]Object{}
	for _, h := range s.Hooks {
		byName[h.GetName()] = h
	}
	require.Len(t, byName, 4)
	assert.IsType(t, &corev1.Secret{}, byName["hooked-migration-token"].Object)
	assert.IsType(t, &batchv1.Job{}, byName["hooked-migrate"].Object)
	assert.IsType(t, &corev1.Pod{}, byName["hooked-test-connection"].Object)
	assert.IsType(t, &unstructured.Unstructured{}, byName["hooked-widget"].Object)
	assert.Len(t, s.Installed(), 5)

	var lines []string
	for _, h := range s.HookList {
		lines = append(lines, h.String())
	}
	assert.ElementsMatch(t, []string{
		"Secret todo-app/hooked-migration-token, phase pre-install, pre-upgrade, from hooked/templates/hooks/token-secret.yaml, kept after it runs (no helm.sh/hook-delete-policy); decoded strictly",
		"Job todo-app/hooked-migrate, phase pre-install, from hooked/templates/hooks/migrate-job.yaml, delete policy hook-succeeded; decoded strictly",
		"Widget todo-app/hooked-widget, phase post-install, from hooked/templates/hooks/widget.yaml, kept after it runs (no helm.sh/hook-delete-policy); not a built-in Kubernetes kind: read as unstructured data (credential scan only)",
		"Pod todo-app/hooked-test-connection, phase test, from hooked/templates/tests/connection.yaml, kept after it runs (no helm.sh/hook-delete-policy); decoded strictly",
	}, lines)

	assert.Equal(t, []string{"hooked/templates/configmap.yaml"}, s.Lookups)
	require.Len(t, s.Notes, 1)
	assert.Equal(t, "hooked/templates/NOTES.txt", s.Notes[0].Source)
	assert.Contains(t, string(s.Notes[0].YAML), "Your API token: REPLACE_ME")
	require.Len(t, s.Values, 2)
	assert.Equal(t, userValuesSource, s.Values[0].Source)
	assert.Equal(t, "hooked/values.yaml", s.Values[1].Source)
	assert.Equal(t, "REPLACE_ME", s.Values[1].Values["hookToken"])

	c := s.DeepCopy()
	c.Hooks[0].SetName("changed")
	assert.NotEqual(t, "changed", s.Hooks[0].GetName(), "DeepCopy copies hooks")
}

// A hook is decoded as strictly as any object: an unknown field fails.
func TestHookWithUnknownFieldIsRefused(t *testing.T) {
	dir := demoChart(t, map[string]string{"templates/job.yaml": `apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations:
    helm.sh/hook: pre-install
spec:
  backofLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: m
        image: busybox
`})
	_, err := Load(dir)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `demo/templates/job.yaml:8: batch/v1 Job/migrate: unknown field "spec.backofLimit" (kubectl apply's strict field validation rejects it) (a Helm hook, rendered from `)
}

// The X-3 fixture: the app's chart and a post-install hook Service, kept in
// the cluster, that opens a NodePort on the backend's pods. The hook is a
// typed Service in Installed(), where the exposure rule reads it.
func TestHookServiceExposingTheBackendIsInstalled(t *testing.T) {
	s, err := Load(filepath.Join(badInputsDir(t), "helm-hook-exposes-backend"))
	require.NoError(t, err)
	require.Len(t, s.Hooks, 1)
	svc, ok := s.Hooks[0].Object.(*corev1.Service)
	require.True(t, ok, "%T", s.Hooks[0].Object)
	assert.Equal(t, "backend-debug", svc.Name)
	assert.Equal(t, corev1.ServiceTypeNodePort, svc.Spec.Type)
	assert.Equal(t, map[string]string{"app": "backend"}, svc.Spec.Selector)
	assert.Equal(t, []string{"post-install"}, s.HookList[0].Events)
	assert.Empty(t, s.HookList[0].DeletePolicies)
	assert.Len(t, s.Installed(), 8)
}
