package staticcheck

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/puretasks/k8s-conformance/internal/manifests"
)

// Negative rows for X-3, SEC-4, the SEC-2 URL rule and X-2's key rule. Most
// put the offending object among the set's Hooks, as a chart's hook would
// arrive: the rules read every installed object, and a hook is not held to
// the seed's object checks (X-1 and the like), so the row fails exactly the
// rule it is about.
func init() {
	negativeCases = append(negativeCases,
		mutation{"another Service selects the backend pods", def, []string{"X-3"}, func(t testing.TB, s *manifests.Set) {
			addObject(s, manifests.Object{Object: newService("todo-app", "backend-debug", corev1.ServiceTypeClusterIP, map[string]string{"app": "backend"}, 8000), Source: "debug.yaml:1"})
		}},
		mutation{"hook Service exposes the backend", per, []string{"X-3"}, func(t testing.TB, s *manifests.Set) {
			addHook(s, newService("todo-app", "backend-public", corev1.ServiceTypeNodePort, map[string]string{"app": "backend"}, 8000))
		}},
		mutation{"hook LoadBalancer Service in another namespace", def, []string{"X-3"}, func(t testing.TB, s *manifests.Set) {
			addHook(s, newService("monitoring", "grafana", corev1.ServiceTypeLoadBalancer, map[string]string{"app": "grafana"}, 3000))
		}},
		mutation{"hook Job carries the frontend's pod labels", def, []string{"X-3"}, func(t testing.TB, s *manifests.Set) {
			j := job("todo-app", "smoke")
			j.Spec.Template.Labels = map[string]string{"app": "frontend", "component": "smoke"}
			addHook(s, j)
		}},
		mutation{"hook Ingress to frontend-service", def, []string{"X-3"}, func(t testing.TB, s *manifests.Set) {
			addHook(s, ingress("todo-app", "web", "frontend-service"))
		}},
		mutation{"hook HTTPRoute to backend-service", per, []string{"X-3"}, func(t testing.TB, s *manifests.Set) {
			addHook(s, httpRoute(t, "todo-app", "api", "backend-service"))
		}},
		mutation{"hostPort on the frontend", def, []string{"SEC-4", "FD-4", "X-3"}, func(t testing.TB, s *manifests.Set) {
			ctr0(t, s, "frontend").Ports[0].HostPort = 3000
		}},
		mutation{"hook pod with hostNetwork", def, []string{"SEC-4", "X-3"}, func(t testing.TB, s *manifests.Set) {
			p := pod("todo-app", "debug")
			p.Spec.HostNetwork = true
			addHook(s, p)
		}},
		mutation{"privileged hook Job", def, []string{"SEC-4"}, func(t testing.TB, s *manifests.Set) {
			j := job("todo-app", "migrate")
			j.Spec.Template.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
			addHook(s, j)
		}},
		mutation{"hook CronJob mounts a hostPath", per, []string{"SEC-4"}, func(t testing.TB, s *manifests.Set) {
			j := job("todo-app", "backup")
			j.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib"}}}}
			addHook(s, &batchv1.CronJob{
				TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
				ObjectMeta: metav1.ObjectMeta{Namespace: "todo-app", Name: "backup"},
				Spec:       batchv1.CronJobSpec{Schedule: "@daily", JobTemplate: batchv1.JobTemplateSpec{Spec: j.Spec}},
			})
		}},
		mutation{"password in a URL in another ConfigMap", def, []string{"SEC-2"}, func(t testing.TB, s *manifests.Set) {
			addObject(s, manifests.Object{Object: configMap("todo-app", "db", map[string]string{"DATABASE_URL": "postgres://app:" + plantedPassword + "@db:5432/todo"}), Source: "db.yaml:1"})
		}},
		mutation{"password in a URL in a Job's args", per, []string{"SEC-2"}, func(t testing.TB, s *manifests.Set) {
			j := job("todo-app", "migrate")
			j.Spec.Template.Spec.Containers[0].Args = []string{"--db", "postgresql://migrator:" + plantedPassword + "@db/todo"}
			addObject(s, manifests.Object{Object: j, Source: "migrate.yaml:1"})
		}},
		mutation{"invalid ConfigMap key", def, []string{"X-2"}, func(t testing.TB, s *manifests.Set) {
			addObject(s, manifests.Object{Object: configMap("todo-app", "extra", map[string]string{"not a key": "x"}), Source: "extra.yaml:1"})
		}},
	)
}

// plantedPassword is an obviously fake password; no finding may show it.
const plantedPassword = "fake-planted-password-123"

// addHook adds an object as a chart's hook arrives: in Set.Hooks.
func addHook(s *manifests.Set, o client.Object) {
	s.Hooks = append(s.Hooks, manifests.Object{Object: o, Source: "hook.yaml:1"})
}

func newService(ns, name string, typ corev1.ServiceType, selector map[string]string, port int32) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{Type: typ, Selector: selector, Ports: []corev1.ServicePort{
			{Name: "http", Port: port, TargetPort: intstr.FromInt32(port), Protocol: corev1.ProtocolTCP}}},
	}
}

func configMap(ns, name string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Data:       data,
	}
}

func podSpec() corev1.PodSpec {
	return corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "main", Image: "busybox:1.36"}}}
}

func job(ns, name string) *batchv1.Job {
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: map[string]string{"helm.sh/hook": "pre-install"}},
		Spec:       batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: podSpec()}},
	}
}

func pod(ns, name string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: map[string]string{"helm.sh/hook": "test"}},
		Spec:       podSpec(),
	}
}

func ingress(ns, name, backend string) *networkingv1.Ingress {
	prefix := networkingv1.PathTypePrefix
	return &networkingv1.Ingress{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "Ingress"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "todo.example.com", IngressRuleValue: networkingv1.IngressRuleValue{
			HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{
				Service: &networkingv1.IngressServiceBackend{Name: backend, Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}},
	}
}

// httpRoute is a Gateway API HTTPRoute, which no Go type of the Kubernetes
// scheme describes: it reaches the rules unstructured.
func httpRoute(t testing.TB, ns, name, backend string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
		"metadata": map[string]any{"namespace": ns, "name": name},
		"spec": map[string]any{
			"parentRefs": []any{map[string]any{"name": "public"}},
			"rules":      []any{map[string]any{"backendRefs": []any{map[string]any{"name": backend, "port": int64(8000)}}}},
		},
	}}
	require.Equal(t, "HTTPRoute", u.GetKind())
	return u
}

func findingsOf(t *testing.T, s *manifests.Set, p manifests.Profile, id string) []Finding {
	t.Helper()
	r := Run(s, p)
	return r.Findings[id]
}

// The two cases the issue names, with what the finding must say.
func TestHookServiceExposingTheBackendFailsX3(t *testing.T) {
	s := repoSets(t)[def].DeepCopy()
	addHook(s, newService("todo-app", "backend-public", corev1.ServiceTypeNodePort, map[string]string{"app": "backend"}, 8000))
	fs := findingsOf(t, s, def, "X-3")
	require.Len(t, fs, 2, "%v", fs)
	assert.Contains(t, fs[0].Resource, "Service todo-app/backend-public (hook.yaml:1)")
	assert.Equal(t, "spec.selector", fs[0].Field)
	assert.Contains(t, fs[0].Expected, "no Service but backend-service selects the backend pods")
	assert.Equal(t, "spec.type", fs[1].Field)
	assert.Contains(t, fs[1].Actual, "NodePort")
}

func TestHookPodWithHostNetworkFailsSEC4(t *testing.T) {
	s := repoSets(t)[per].DeepCopy()
	p := pod("todo-app", "debug")
	p.Spec.HostNetwork = true
	addHook(s, p)
	fs := findingsOf(t, s, per, "SEC-4")
	require.Len(t, fs, 1, "%v", fs)
	assert.Contains(t, fs[0].Resource, "Pod todo-app/debug (hook.yaml:1)")
	assert.Equal(t, "spec", fs[0].Field)
	assert.Contains(t, fs[0].Expected, "baseline")
	assert.Contains(t, fs[0].Actual, "host namespaces", "the finding names the control")
	assert.Contains(t, fs[0].Actual, "hostNetwork=true")
}

// Objects that do not expose the app stay clean: a Service of another app,
// a Service in another namespace selecting app=backend (it selects that
// namespace's pods), a Job without the app's labels, an Ingress to another
// Service, a route to a Service of another kind.
func TestExposureLeavesOtherAppsAlone(t *testing.T) {
	s := repoSets(t)[def].DeepCopy()
	addHook(s, newService("todo-app", "metrics", corev1.ServiceTypeClusterIP, map[string]string{"app": "metrics"}, 9090))
	addHook(s, newService("other", "backend", corev1.ServiceTypeClusterIP, map[string]string{"app": "backend"}, 8000))
	j := job("todo-app", "migrate")
	j.Spec.Template.Labels = map[string]string{"app": "migrate", "component": "api"}
	addHook(s, j)
	addHook(s, ingress("todo-app", "docs", "docs-service"))
	addHook(s, httpRoute(t, "other", "api", "backend-service"))
	assert.Empty(t, findingsOf(t, s, def, "X-3"))
	assert.Empty(t, findingsOf(t, s, def, "SEC-4"))
}

// An object without a namespace may land in the app's: kubectl puts it in
// the context's namespace. A Service there selecting the frontend counts.
func TestExposureJudgesAnObjectWithoutNamespaceAsTheApps(t *testing.T) {
	s := repoSets(t)[def].DeepCopy()
	addHook(s, newService("", "frontend-alias", corev1.ServiceTypeClusterIP, map[string]string{"app": "frontend"}, 3000))
	fs := findingsOf(t, s, def, "X-3")
	require.Len(t, fs, 1, "%v", fs)
	assert.Contains(t, fs[0].Resource, "Service/frontend-alias")
}

// An unstructured object of a scheme kind (a renderer's untyped hook) is
// read as its type: a hostNetwork DaemonSet is caught either way.
func TestUnstructuredWorkloadIsJudgedAsItsType(t *testing.T) {
	s := repoSets(t)[def].DeepCopy()
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "DaemonSet",
		"metadata": map[string]any{"namespace": "todo-app", "name": "agent"},
		"spec": map[string]any{
			"selector": map[string]any{"matchLabels": map[string]any{"app": "agent"}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": "agent"}},
				"spec":     map[string]any{"hostNetwork": true, "containers": []any{map[string]any{"name": "agent", "image": "agent:1"}}},
			},
		},
	}}
	addHook(s, u)
	x3 := findingsOf(t, s, def, "X-3")
	require.Len(t, x3, 1, "%v", x3)
	assert.Equal(t, "spec.template.spec.hostNetwork", x3[0].Field)
	sec4 := findingsOf(t, s, def, "SEC-4")
	require.Len(t, sec4, 1, "%v", sec4)
	assert.Equal(t, "spec.template.spec", sec4[0].Field)
}

// The repository's manifests, every layout (kustomize base, the persistent
// variant, the Helm chart's renders), meet the baseline and expose nothing
// beyond the spec; the persistent variant's hostPath PersistentVolume is no
// pod hostPath volume. The restricted profile is reported, not failed.
func TestRepositoryManifestsMeetBaselineAndExposeNothingElse(t *testing.T) {
	root, err := manifests.ModuleRoot()
	require.NoError(t, err)
	sets, err := manifests.Discover(root + "/manifests")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(sets), 3, "base, persistent-uploads and the chart")
	var sawHostPathPV bool
	for _, s := range sets {
		for _, pv := range manifests.Typed[*corev1.PersistentVolume](s.Set) {
			sawHostPathPV = sawHostPathPV || pv.Spec.HostPath != nil
		}
		for _, id := range []string{"SEC-4", "X-3"} {
			assert.Empty(t, findingsOf(t, s.Set, s.Profile, id), "%s on %s", id, s.Name)
		}
		notes, err := RestrictedProfileReport(s.Set)
		require.NoError(t, err)
		assert.NotEmpty(t, notes, "the seed's pods set no securityContext: restricted is not met, and says so")
		for _, n := range notes {
			t.Logf("%s: %s", s.Name, n)
		}
	}
	assert.True(t, sawHostPathPV, "a set with the hostPath PersistentVolume was judged")
}

// The restricted report names controls, not values.
func TestRestrictedReportNamesTheControl(t *testing.T) {
	s := repoSets(t)[def]
	notes, err := RestrictedProfileReport(s)
	require.NoError(t, err)
	joined := strings.Join(notes, "\n")
	assert.Contains(t, joined, "Deployment todo-app/backend")
	assert.Contains(t, joined, "allowPrivilegeEscalation")
	assert.Contains(t, joined, "runAsNonRoot")
}

// BenchmarkExposureAndPodSecurity is X-3 and SEC-4 alone over one loaded set.
func BenchmarkExposureAndPodSecurity(b *testing.B) {
	var checks []Check
	for _, c := range Catalogue {
		if c.ID == "X-3" || c.ID == "SEC-4" {
			checks = append(checks, c)
		}
	}
	require.Len(b, checks, 2)
	for p, s := range repoSets(b) {
		b.Run(string(p), func(b *testing.B) {
			loopWithCPU(b, func() {
				for _, c := range checks {
					if f := RunOne(c, s, p); len(f) > 0 {
						b.Fatal(f)
					}
				}
			})
		})
	}
}
