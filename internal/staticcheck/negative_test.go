package staticcheck

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/puretasks/k8s-conformance/internal/manifests"
)

// repoSets loads the repository's own manifests (never $MANIFESTS_DIR: the
// negative cases mutate the real set, in memory).
func repoSets(t testing.TB) map[manifests.Profile]*manifests.Set {
	t.Helper()
	root, err := manifests.ModuleRoot()
	require.NoError(t, err)
	sets, err := manifests.Discover(root + "/manifests")
	require.NoError(t, err)
	out := map[manifests.Profile]*manifests.Set{}
	for _, s := range sets {
		// The first set of each profile is the kustomize one (base/,
		// persistent-uploads/); the Helm renders that follow are held equal
		// to them by the chart's own equality test.
		if _, ok := out[s.Profile]; !ok {
			out[s.Profile] = s.Set
		}
	}
	require.Len(t, out, 2, "the repository holds the default set and the persistent-uploads variant")
	return out
}

func object[T any](t testing.TB, s *manifests.Set, kind, name string) T {
	t.Helper()
	o, ok := s.Find(kind, "*", name)
	require.True(t, ok, "%s %s in set %s", kind, name, s.Name)
	return o.Object.(T)
}

func deploy(t testing.TB, s *manifests.Set, name string) *appsv1.Deployment {
	return object[*appsv1.Deployment](t, s, "Deployment", name)
}
func ctr0(t testing.TB, s *manifests.Set, name string) *corev1.Container {
	return &deploy(t, s, name).Spec.Template.Spec.Containers[0]
}
func svc(t testing.TB, s *manifests.Set, name string) *corev1.Service {
	return object[*corev1.Service](t, s, "Service", name)
}
func secret(t testing.TB, s *manifests.Set) *corev1.Secret {
	return object[*corev1.Secret](t, s, "Secret", "todo-app-secrets")
}
func remove(t testing.TB, s *manifests.Set, kind, name string) {
	s.Objects = slices.DeleteFunc(s.Objects, func(o manifests.Object) bool {
		return manifests.KeyOf(o).Kind == kind && o.GetName() == name
	})
}

type mutation struct {
	name    string
	profile manifests.Profile
	want    []string // exactly these IDs fail
	mutate  func(t testing.TB, s *manifests.Set)
}

var def, per = manifests.Default, manifests.Persistent

// negativeCases: every static check has at least one mutation that makes
// exactly that check fail; others show which checks a broader break trips.
var negativeCases = []mutation{
	{"namespace label", def, []string{"NS-1"}, func(t testing.TB, s *manifests.Set) {
		object[*corev1.Namespace](t, s, "Namespace", "todo-app").Labels["environment"] = "production"
	}},
	{"namespace missing", def, []string{"NS-1", "X-1"}, func(t testing.TB, s *manifests.Set) { remove(t, s, "Namespace", "todo-app") }},
	{"configmap value", def, []string{"CM-1"}, func(t testing.TB, s *manifests.Set) {
		object[*corev1.ConfigMap](t, s, "ConfigMap", "todo-app-config").Data["LOG_LEVEL"] = "DEBUG"
	}},
	{"configmap key missing", def, []string{"CM-1"}, func(t testing.TB, s *manifests.Set) {
		delete(object[*corev1.ConfigMap](t, s, "ConfigMap", "todo-app-config").Data, "FROM_EMAIL")
	}},
	{"configmap extra key", per, []string{"CM-1"}, func(t testing.TB, s *manifests.Set) {
		object[*corev1.ConfigMap](t, s, "ConfigMap", "todo-app-config").Data["DEBUG"] = "1"
	}},
	{"configmap missing", def, []string{"CM-1", "X-1"}, func(t testing.TB, s *manifests.Set) { remove(t, s, "ConfigMap", "todo-app-config") }},
	{"secret type", def, []string{"SEC-1"}, func(t testing.TB, s *manifests.Set) { secret(t, s).Type = corev1.SecretTypeBasicAuth }},
	{"secret JWT algorithm", def, []string{"SEC-1"}, func(t testing.TB, s *manifests.Set) { secret(t, s).Data["JWT_ALGORITHM"] = []byte("RS256") }},
	{"secret key missing", per, []string{"SEC-1"}, func(t testing.TB, s *manifests.Set) { delete(secret(t, s).Data, "RESEND_API_KEY") }},
	{"secret key via stringData extra", def, []string{"SEC-1"}, func(t testing.TB, s *manifests.Set) {
		secret(t, s).StringData = map[string]string{"EXTRA_KEY": "REPLACE_ME"}
	}},
	{"real-looking credential committed", def, []string{"SEC-2"}, func(t testing.TB, s *manifests.Set) {
		secret(t, s).Data["DATABASE_URL"] = []byte("postgresql://admin:hunter2@db.example.com/prod")
	}},
	{"credential in stringData", per, []string{"SEC-2"}, func(t testing.TB, s *manifests.Set) {
		delete(secret(t, s).Data, "OPENAI_API_KEY")
		secret(t, s).StringData = map[string]string{"OPENAI_API_KEY": "sk-not-a-placeholder"}
	}},
	// SEC-2's credential scan: one row per location, each with a synthetic
	// provider token (credentials_test.go builds them at test time).
	{"token in a second Secret", def, []string{"SEC-2"}, placeAt("second Secret, data", "GitHub personal access token")},
	{"token in a second todo-app-secrets without namespace", per, []string{"SEC-2"}, placeAt("second todo-app-secrets without namespace", "Anthropic API key")},
	{"token in a Secret of another namespace", def, []string{"SEC-2"}, placeAt("Secret in another namespace", "AWS access key id")},
	{"token in a Secret's stringData", def, []string{"SEC-2"}, placeAt("Secret stringData", "Stripe live secret key")},
	{"token in an unstructured Secret", def, []string{"SEC-2"}, placeAt("unstructured Secret (a loader's untyped object)", "Slack bot token")},
	{"token in the app's ConfigMap", def, []string{"CM-1", "SEC-2"}, placeAt("the app's ConfigMap", "OpenAI project key")},
	{"token in another ConfigMap's binaryData", per, []string{"SEC-2"}, placeAt("another ConfigMap's binaryData", "generic high-entropy api_key")},
	{"token in the backend's env", def, []string{"SEC-2", "BD-5"}, placeAt("container env value", "OpenAI project key")},
	{"token in an initContainer's env", def, []string{"SEC-2", "FD-4"}, placeAt("initContainer env value", "GitHub personal access token")},
	{"token in an ephemeralContainer's env", def, []string{"SEC-2", "BD-4"}, placeAt("ephemeralContainer env value", "Anthropic API key")},
	{"token in a StatefulSet's env", def, []string{"SEC-2"}, placeAt("env of another workload kind (StatefulSet)", "Slack bot token")},
	{"token in an unstructured CronJob's env", def, []string{"SEC-2"}, placeAt("env of an unstructured workload (CronJob)", "AWS access key id")},
	{"token in an object annotation", def, []string{"SEC-2"}, placeAt("object annotation", "Stripe live secret key")},
	{"token in a pod template annotation", per, []string{"SEC-2"}, placeAt("pod template annotation", "generic high-entropy api_key")},
	{"frontend mounts the secret", def, []string{"SEC-3"}, func(t testing.TB, s *manifests.Set) {
		d := deploy(t, s, "frontend")
		d.Spec.Template.Spec.Volumes = append(d.Spec.Template.Spec.Volumes, corev1.Volume{
			Name: "secrets", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "todo-app-secrets"}}})
	}},
	{"frontend envFrom secret", def, []string{"SEC-3", "FD-5"}, func(t testing.TB, s *manifests.Set) {
		c := ctr0(t, s, "frontend")
		c.EnvFrom = append(c.EnvFrom, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "todo-app-secrets"}}})
	}},
	{"backend template label", def, []string{"BD-1"}, func(t testing.TB, s *manifests.Set) {
		deploy(t, s, "backend").Spec.Template.Labels["component"] = "web"
	}},
	{"backend selector matches nothing", def, []string{"BD-1", "X-1"}, func(t testing.TB, s *manifests.Set) {
		deploy(t, s, "backend").Spec.Selector.MatchLabels["app"] = "api"
	}},
	{"backend replicas", def, []string{"BD-2"}, func(t testing.TB, s *manifests.Set) { *deploy(t, s, "backend").Spec.Replicas = 2 }},
	{"backend maxUnavailable 1", def, []string{"BD-3"}, func(t testing.TB, s *manifests.Set) {
		mu := intstr.FromInt32(1)
		deploy(t, s, "backend").Spec.Strategy.RollingUpdate.MaxUnavailable = &mu
	}},
	{"backend maxSurge as percent", per, []string{"BD-3"}, func(t testing.TB, s *manifests.Set) {
		ms := intstr.FromString("25%")
		deploy(t, s, "backend").Spec.Strategy.RollingUpdate.MaxSurge = &ms
	}},
	{"backend Recreate", def, []string{"BD-3"}, func(t testing.TB, s *manifests.Set) {
		d := deploy(t, s, "backend")
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	}},
	{"backend imagePullPolicy Always", def, []string{"BD-4"}, func(t testing.TB, s *manifests.Set) { ctr0(t, s, "backend").ImagePullPolicy = corev1.PullAlways }},
	{"backend port name", def, []string{"BD-4"}, func(t testing.TB, s *manifests.Set) { ctr0(t, s, "backend").Ports[0].Name = "web" }},
	{"backend envFrom without secret", def, []string{"BD-5"}, func(t testing.TB, s *manifests.Set) {
		c := ctr0(t, s, "backend")
		c.EnvFrom = c.EnvFrom[:1]
	}},
	{"backend memory limit", def, []string{"BD-6"}, func(t testing.TB, s *manifests.Set) {
		ctr0(t, s, "backend").Resources.Limits[corev1.ResourceMemory] = resource.MustParse("1Gi")
	}},
	{"backend readiness period", def, []string{"BD-7"}, func(t testing.TB, s *manifests.Set) { ctr0(t, s, "backend").ReadinessProbe.PeriodSeconds = 10 }},
	{"backend startup threshold", per, []string{"BD-7"}, func(t testing.TB, s *manifests.Set) { ctr0(t, s, "backend").StartupProbe.FailureThreshold = 3 }},
	{"backend liveness path", def, []string{"BD-7"}, func(t testing.TB, s *manifests.Set) { ctr0(t, s, "backend").LivenessProbe.HTTPGet.Path = "/healthz" }},
	{"backend liveness tcp", def, []string{"BD-7"}, func(t testing.TB, s *manifests.Set) {
		p := ctr0(t, s, "backend").LivenessProbe
		p.HTTPGet = nil
		p.TCPSocket = &corev1.TCPSocketAction{Port: intstr.FromInt32(8000)}
	}},
	{"backend uploads on hostPath", def, []string{"SEC-4", "BD-8"}, func(t testing.TB, s *manifests.Set) {
		deploy(t, s, "backend").Spec.Template.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp"}}
	}},
	{"persistent variant keeps emptyDir", per, []string{"BD-8"}, func(t testing.TB, s *manifests.Set) {
		deploy(t, s, "backend").Spec.Template.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
	}},
	{"uploads mount path", per, []string{"BD-8"}, func(t testing.TB, s *manifests.Set) {
		ctr0(t, s, "backend").VolumeMounts[0].MountPath = "/uploads"
	}},
	{"backend-service sessionAffinity", def, []string{"BS-1"}, func(t testing.TB, s *manifests.Set) {
		svc(t, s, "backend-service").Spec.SessionAffinity = corev1.ServiceAffinityClientIP
	}},
	{"backend-service targetPort 8080", def, []string{"BS-1", "X-1"}, func(t testing.TB, s *manifests.Set) {
		svc(t, s, "backend-service").Spec.Ports[0].TargetPort = intstr.FromInt32(8080)
	}},
	{"backend-service selector matches nothing", def, []string{"BS-1", "X-1"}, func(t testing.TB, s *manifests.Set) {
		svc(t, s, "backend-service").Spec.Selector = map[string]string{"app": "backend-v2"}
	}},
	{"backend-service NodePort", def, []string{"BS-1", "X-3"}, func(t testing.TB, s *manifests.Set) {
		svc(t, s, "backend-service").Spec.Type = corev1.ServiceTypeNodePort
	}},
	{"frontend object label", def, []string{"FD-1"}, func(t testing.TB, s *manifests.Set) { deploy(t, s, "frontend").Labels["tier"] = "web" }},
	{"frontend replicas", def, []string{"FD-2"}, func(t testing.TB, s *manifests.Set) { *deploy(t, s, "frontend").Spec.Replicas = 3 }},
	{"frontend maxSurge 2", def, []string{"FD-3"}, func(t testing.TB, s *manifests.Set) {
		ms := intstr.FromInt32(2)
		deploy(t, s, "frontend").Spec.Strategy.RollingUpdate.MaxSurge = &ms
	}},
	{"frontend image tag", def, []string{"FD-4"}, func(t testing.TB, s *manifests.Set) { ctr0(t, s, "frontend").Image = "todo-frontend:v2" }},
	{"frontend API URL", def, []string{"FD-5"}, func(t testing.TB, s *manifests.Set) { ctr0(t, s, "frontend").Env[0].Value = "http://backend:8000" }},
	{"frontend gets the ConfigMap (seed prose, not its YAML)", def, []string{"FD-5"}, func(t testing.TB, s *manifests.Set) {
		c := ctr0(t, s, "frontend")
		c.EnvFrom = append(c.EnvFrom, corev1.EnvFromSource{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "todo-app-config"}}})
	}},
	{"frontend cpu request", def, []string{"FD-6"}, func(t testing.TB, s *manifests.Set) {
		ctr0(t, s, "frontend").Resources.Requests[corev1.ResourceCPU] = resource.MustParse("250m")
	}},
	{"frontend liveness initial delay", def, []string{"FD-7"}, func(t testing.TB, s *manifests.Set) { ctr0(t, s, "frontend").LivenessProbe.InitialDelaySeconds = 30 }},
	{"frontend probe port", per, []string{"FD-7"}, func(t testing.TB, s *manifests.Set) {
		ctr0(t, s, "frontend").StartupProbe.HTTPGet.Port = intstr.FromInt32(8000)
	}},
	{"frontend nodePort", def, []string{"FS-1"}, func(t testing.TB, s *manifests.Set) { svc(t, s, "frontend-service").Spec.Ports[0].NodePort = 30080 }},
	{"frontend-service ClusterIP", def, []string{"FS-1"}, func(t testing.TB, s *manifests.Set) {
		f := svc(t, s, "frontend-service")
		f.Spec.Type = corev1.ServiceTypeClusterIP
		f.Spec.Ports[0].NodePort = 0
	}},
	{"PV reclaim Delete", per, []string{"PV-1"}, func(t testing.TB, s *manifests.Set) {
		object[*corev1.PersistentVolume](t, s, "PersistentVolume", "backend-uploads-pv").Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimDelete
	}},
	{"PV hostPath", per, []string{"PV-1"}, func(t testing.TB, s *manifests.Set) {
		object[*corev1.PersistentVolume](t, s, "PersistentVolume", "backend-uploads-pv").Spec.HostPath.Path = "/data"
	}},
	{"PV smaller than the claim", per, []string{"PV-1", "X-1"}, func(t testing.TB, s *manifests.Set) {
		object[*corev1.PersistentVolume](t, s, "PersistentVolume", "backend-uploads-pv").Spec.Capacity[corev1.ResourceStorage] = resource.MustParse("1Gi")
	}},
	{"PV missing from the variant", per, []string{"PV-1", "X-1"}, func(t testing.TB, s *manifests.Set) { remove(t, s, "PersistentVolume", "backend-uploads-pv") }},
	{"PVC label", per, []string{"PVC-1"}, func(t testing.TB, s *manifests.Set) {
		object[*corev1.PersistentVolumeClaim](t, s, "PersistentVolumeClaim", "backend-uploads-pvc").Labels["app"] = "frontend"
	}},
	{"PVC storage class", per, []string{"PVC-1", "X-1"}, func(t testing.TB, s *manifests.Set) {
		class := "standard"
		object[*corev1.PersistentVolumeClaim](t, s, "PersistentVolumeClaim", "backend-uploads-pvc").Spec.StorageClassName = &class
	}},
	{"PV reserved for another claim", per, []string{"PV-1", "X-1"}, func(t testing.TB, s *manifests.Set) {
		object[*corev1.PersistentVolume](t, s, "PersistentVolume", "backend-uploads-pv").Spec.ClaimRef = &corev1.ObjectReference{Namespace: "todo-app", Name: "other-claim"}
	}},
	{"mount of a volume the pod lacks", def, []string{"FD-4", "X-1"}, func(t testing.TB, s *manifests.Set) {
		c := ctr0(t, s, "frontend")
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "cache", MountPath: "/cache"})
	}},
	{"Secret over 1 MiB of data", def, []string{"X-2"}, func(t testing.TB, s *manifests.Set) {
		sec := newSecret("todo-app", "big")
		sec.Data = map[string][]byte{"a": make([]byte, maxDataBytes/2), "b": make([]byte, maxDataBytes/2)}
		sec.StringData = map[string]string{"c": "x"} // merged into data: one byte over
		addObject(s, manifests.Object{Object: sec, Source: "big.yaml:1"})
	}},
	{"ConfigMap data + binaryData over 1 MiB", per, []string{"X-2"}, func(t testing.TB, s *manifests.Set) {
		addObject(s, manifests.Object{Object: &corev1.ConfigMap{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
			ObjectMeta: metav1.ObjectMeta{Namespace: "todo-app", Name: "big"},
			Data:       map[string]string{"text": strings.Repeat("a", maxDataBytes/2)},
			BinaryData: map[string][]byte{"bin": make([]byte, maxDataBytes/2+1)},
		}, Source: "big.yaml:1"})
	}},
	{"annotations over 256 KiB", def, []string{"X-2"}, func(t testing.TB, s *manifests.Set) {
		svc(t, s, "frontend-service").Annotations = map[string]string{"note": strings.Repeat("a", 256*1024)}
	}},
}

func TestNegativeMutations(t *testing.T) {
	sets := repoSets(t)
	for _, tc := range negativeCases {
		t.Run(tc.want[0]+"/"+tc.name, func(t *testing.T) {
			s := sets[tc.profile].DeepCopy()
			tc.mutate(t, s)
			r := Run(s, tc.profile)
			assert.Equal(t, tc.want, r.Failed(), "failing checks after mutation %q", tc.name)
			for _, id := range tc.want {
				for _, f := range r.Findings[id] {
					assert.Equal(t, id, f.ID)
					assert.NotEmpty(t, f.Resource)
					assert.NotEmpty(t, f.Field)
					t.Log(f)
				}
			}
		})
	}
}

// TestEveryStaticCheckHasAnExactNegativeCase holds the table to the catalogue.
func TestEveryStaticCheckHasAnExactNegativeCase(t *testing.T) {
	exact := map[string]bool{}
	for _, tc := range negativeCases {
		if len(tc.want) == 1 {
			exact[tc.want[0]] = true
		}
	}
	for _, id := range IDs() {
		assert.True(t, exact[id], "no mutation makes exactly %s fail", id)
	}
}

func TestRepositorySetsAreClean(t *testing.T) {
	for p, s := range repoSets(t) {
		r := Run(s, p)
		assert.Empty(t, r.Failed(), "set %s: %v", p, r.Findings)
	}
}

func TestSecretValuesNeverAppearInFindings(t *testing.T) {
	s := repoSets(t)[def].DeepCopy()
	const value = "postgresql://admin:hunter2@db.example.com/prod"
	secret(t, s).Data["DATABASE_URL"] = []byte(value)
	secret(t, s).Data["JWT_ALGORITHM"] = []byte(value)
	r := Run(s, def)
	require.NotEmpty(t, r.Failed())
	for _, fs := range r.Findings {
		for _, f := range fs {
			assert.NotContains(t, f.String(), "hunter2")
		}
	}
}

// placedLocations records the credential locations the table covers.
var placedLocations = map[string]bool{}

// placeAt is a mutation that puts a synthetic token at a credential location.
func placeAt(locationName, provider string) func(t testing.TB, s *manifests.Set) {
	placedLocations[locationName] = true
	return func(t testing.TB, s *manifests.Set) {
		for _, tok := range syntheticTokens {
			if tok.provider != provider {
				continue
			}
			for _, loc := range credentialLocations {
				if loc.name == locationName {
					loc.place(t, s, tok.key, tok.value)
					return
				}
			}
		}
		t.Fatalf("no location %q or token %q", locationName, provider)
	}
}

// Every credential location SEC-2 scans has a row in the negative table.
func TestEveryCredentialLocationHasANegativeCase(t *testing.T) {
	for _, loc := range credentialLocations {
		assert.True(t, placedLocations[loc.name], "no negative case puts a token in: %s", loc.name)
	}
}
