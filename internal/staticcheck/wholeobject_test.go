package staticcheck

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/puretasks/k8s-conformance/internal/manifests"
)

// wholeObjectCases break a field no field-by-field check names, or one the
// API server defaults written with another value, and say exactly what the
// finding reads (without the resource's source, which holds a path).
var wholeObjectCases = []struct {
	mutation
	findings []string
}{
	{mutation{"publishNotReadyAddresses", def, []string{"BS-1"}, func(t testing.TB, s *manifests.Set) {
		svc(t, s, "backend-service").Spec.PublishNotReadyAddresses = true
	}}, []string{`BS-1 spec.publishNotReadyAddresses: expected <unset>, actual true`}},
	{mutation{"terminationGracePeriodSeconds 0", def, []string{"BD-4"}, func(t testing.TB, s *manifests.Set) {
		deploy(t, s, "backend").Spec.Template.Spec.TerminationGracePeriodSeconds = ptrTo(int64(0))
	}}, []string{`BD-4 spec.template.spec.terminationGracePeriodSeconds: expected 30, actual 0`}},
	{mutation{"stdin true", per, []string{"FD-4"}, func(t testing.TB, s *manifests.Set) {
		ctr0(t, s, "frontend").Stdin = true
	}}, []string{`FD-4 spec.template.spec.containers[frontend].stdin: expected <unset>, actual true`}},
	// Baseline pod security forbids it too (SEC-4).
	{mutation{"privileged container", def, []string{"SEC-4", "BD-4"}, func(t testing.TB, s *manifests.Set) {
		ctr0(t, s, "backend").SecurityContext = &corev1.SecurityContext{Privileged: ptrTo(true)}
	}}, []string{
		`SEC-4 spec.template.spec: expected "Pod Security Standards baseline:v1.36", actual "privileged (container \"backend\" must not set securityContext.privileged=true)"`,
		`BD-4 spec.template.spec.containers[backend].securityContext.privileged: expected <unset>, actual true`}},
	{mutation{"extra Deployment selector key (also on the pods)", def, []string{"BD-1"}, func(t testing.TB, s *manifests.Set) {
		d := deploy(t, s, "backend")
		d.Spec.Selector.MatchLabels["track"] = "stable"
		d.Spec.Template.Labels["track"] = "stable"
	}}, []string{`BD-1 spec.selector.matchLabels: expected {app=backend}, actual {app=backend, track=stable}`}},
	{mutation{"extra Service selector key (also on the pods)", def, []string{"FS-1"}, func(t testing.TB, s *manifests.Set) {
		deploy(t, s, "frontend").Spec.Template.Labels["track"] = "stable"
		svc(t, s, "frontend-service").Spec.Selector["track"] = "stable"
	}}, []string{`FS-1 spec.selector: expected {app=frontend}, actual {app=frontend, track=stable}`}},
	{mutation{"default-able field written with another value: terminationMessagePolicy", def, []string{"FD-4"}, func(t testing.TB, s *manifests.Set) {
		ctr0(t, s, "frontend").TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	}}, []string{`FD-4 spec.template.spec.containers[frontend].terminationMessagePolicy: expected "File", actual "FallbackToLogsOnError"`}},
	{mutation{"default-able field written with another value: revisionHistoryLimit", per, []string{"BD-3"}, func(t testing.TB, s *manifests.Set) {
		deploy(t, s, "backend").Spec.RevisionHistoryLimit = ptrTo(int32(0))
	}}, []string{`BD-3 spec.revisionHistoryLimit: expected 10, actual 0`}},
	{mutation{"default-able field written with another value: internalTrafficPolicy", def, []string{"FS-1"}, func(t testing.TB, s *manifests.Set) {
		p := corev1.ServiceInternalTrafficPolicyLocal
		svc(t, s, "frontend-service").Spec.InternalTrafficPolicy = &p
	}}, []string{`FS-1 spec.internalTrafficPolicy: expected "Cluster", actual "Local"`}},
	{mutation{"default-able field written with another value: probe successThreshold", def, []string{"BD-7"}, func(t testing.TB, s *manifests.Set) {
		ctr0(t, s, "backend").ReadinessProbe.SuccessThreshold = 3
	}}, []string{`BD-7 spec.template.spec.containers[backend].readinessProbe.successThreshold: expected "1 (the default)", actual 3`}},
	{mutation{"default-able field written with another value: dnsPolicy", def, []string{"FD-4"}, func(t testing.TB, s *manifests.Set) {
		deploy(t, s, "frontend").Spec.Template.Spec.DNSPolicy = corev1.DNSDefault
	}}, []string{`FD-4 spec.template.spec.dnsPolicy: expected "ClusterFirst", actual "Default"`}},
	{mutation{"ConfigMap immutable", def, []string{"CM-1"}, func(t testing.TB, s *manifests.Set) {
		object[*corev1.ConfigMap](t, s, "ConfigMap", "todo-app-config").Immutable = ptrTo(true)
	}}, []string{`CM-1 immutable: expected <unset>, actual true`}},
	{mutation{"Secret immutable", def, []string{"SEC-1"}, func(t testing.TB, s *manifests.Set) {
		secret(t, s).Immutable = ptrTo(true)
	}}, []string{`SEC-1 immutable: expected <unset>, actual true`}},
	{mutation{"Namespace with another finalizer", def, []string{"NS-1"}, func(t testing.TB, s *manifests.Set) {
		object[*corev1.Namespace](t, s, "Namespace", "todo-app").Spec.Finalizers = []corev1.FinalizerName{"example.com/hold"}
	}}, []string{`NS-1 spec.finalizers: expected ["kubernetes"], actual ["example.com/hold","kubernetes"]`}},
	{mutation{"PVC volumeMode Block", per, []string{"PVC-1"}, func(t testing.TB, s *manifests.Set) {
		m := corev1.PersistentVolumeBlock
		object[*corev1.PersistentVolumeClaim](t, s, "PersistentVolumeClaim", "backend-uploads-pvc").Spec.VolumeMode = &m
	}}, []string{`PVC-1 spec.volumeMode: expected "Filesystem", actual "Block"`}},
	{mutation{"PV mount options", per, []string{"PV-1"}, func(t testing.TB, s *manifests.Set) {
		object[*corev1.PersistentVolume](t, s, "PersistentVolume", "backend-uploads-pv").Spec.MountOptions = []string{"ro"}
	}}, []string{`PV-1 spec.mountOptions: expected <unset>, actual ["ro"]`}},
	{mutation{"Deployment paused", def, []string{"FD-3"}, func(t testing.TB, s *manifests.Set) {
		deploy(t, s, "frontend").Spec.Paused = true
	}}, []string{`FD-3 spec.paused: expected <unset>, actual true`}},
	{mutation{"extra env var", def, []string{"BD-5"}, func(t testing.TB, s *manifests.Set) {
		c := ctr0(t, s, "backend")
		c.Env = append(c.Env, corev1.EnvVar{Name: "DEBUG", Value: "1"})
	}}, []string{`BD-5 spec.template.spec.containers[backend].env.DEBUG: expected <none>, actual "present (not in the seed)"`}},
	{mutation{"emptyDir on memory", def, []string{"BD-8"}, func(t testing.TB, s *manifests.Set) {
		deploy(t, s, "backend").Spec.Template.Spec.Volumes[0].EmptyDir.Medium = corev1.StorageMediumMemory
	}}, []string{`BD-8 spec.template.spec.volumes[uploads].emptyDir: expected "{}", actual "medium \"Memory\", sizeLimit <nil>"`}},
	{mutation{"an extra Service selects nothing", def, []string{"X-1"}, func(t testing.TB, s *manifests.Set) {
		addObject(s, manifests.Object{Object: &corev1.Service{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: metav1.ObjectMeta{Namespace: "todo-app", Name: "metrics"},
			Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "metrics"}, Ports: []corev1.ServicePort{{Port: 9090}}},
		}, Source: "metrics.yaml:1"})
	}}, []string{`X-1 spec.selector: expected "selects the pods of a Deployment in todo-app", actual "{app=metrics} selects none"`}},
	{mutation{"targetPort as a quoted number", def, []string{"BS-1", "X-1"}, func(t testing.TB, s *manifests.Set) {
		svc(t, s, "backend-service").Spec.Ports[0].TargetPort = intstr.FromString("8000")
	}}, []string{
		`BS-1 spec.ports[0].targetPort: expected 8000, actual "8000" (a string: taken as a port name, and no container port is named "8000"; write 8000 unquoted)`,
		`X-1 spec.ports[0].targetPort: expected "a TCP container port of Deployment backend [http=8000]", actual "8000"`,
	}},
	{mutation{"strategy with a quoted maxSurge", def, []string{"FD-3"}, func(t testing.TB, s *manifests.Set) {
		ms := intstr.FromString("1")
		deploy(t, s, "frontend").Spec.Strategy.RollingUpdate.MaxSurge = &ms
	}}, []string{`FD-3 spec.strategy.rollingUpdate.maxSurge: expected 1, actual "1" (a string: taken as a percentage, and it lacks the %; write 1 unquoted)`}},
}

func init() {
	for _, tc := range wholeObjectCases {
		negativeCases = append(negativeCases, tc.mutation)
	}
}

func TestWholeObjectFindingsReadExactly(t *testing.T) {
	sets := repoSets(t)
	for _, tc := range wholeObjectCases {
		t.Run(tc.name, func(t *testing.T) {
			s := sets[tc.profile].DeepCopy()
			tc.mutate(t, s)
			r := Run(s, tc.profile)
			var got []string
			for _, id := range r.Failed() {
				for _, f := range r.Findings[id] {
					got = append(got, f.ID+" "+f.Field+": expected "+f.Expected+", actual "+f.Actual)
				}
			}
			assert.Equal(t, tc.findings, got)
		})
	}
}

// The repository's own sets, defaulted, equal the expected objects: no
// difference at all, not only none that fails a check.
func TestRepositoryObjectsEqualTheSeedOnceDefaulted(t *testing.T) {
	for p, s := range repoSets(t) {
		for key, want := range expectedObjects(p) {
			if key.Kind != "Namespace" && key.Kind != "PersistentVolume" {
				key.Namespace = "todo-app"
			}
			o, ok := s.Find(key.Kind, key.Namespace, key.Name)
			if p == manifests.Default && (key.Kind == "PersistentVolume" || key.Kind == "PersistentVolumeClaim") {
				assert.False(t, ok)
				continue
			}
			if !assert.True(t, ok, "%s in %s", key, p) {
				continue
			}
			var diffs []string
			for _, d := range compareObjects(want, o.Object) {
				diffs = append(diffs, d.path)
			}
			if key.Kind == "Deployment" && key.Name == "backend" && p == manifests.Persistent {
				assert.Empty(t, diffs, "the persistent variant's volume is the expected one")
			}
			assert.Empty(t, diffs, "%s in %s", key, p)
		}
	}
}

// Defaults the seed leaves out compare as their defaults, on both sides.
func TestOmittedDefaultsCompareAsTheirDefaults(t *testing.T) {
	s := repoSets(t)[def].DeepCopy()
	b := svc(t, s, "backend-service")
	b.Spec.Type, b.Spec.SessionAffinity, b.Spec.Ports[0].Protocol = "", "", ""
	b.Spec.Ports[0].TargetPort = intstr.IntOrString{}
	d := deploy(t, s, "frontend")
	d.Spec.Replicas = nil
	d.Spec.Strategy.Type = ""
	c := &d.Spec.Template.Spec.Containers[0]
	c.Ports[0].Protocol = ""
	c.ReadinessProbe.HTTPGet.Scheme = ""
	c.StartupProbe.SuccessThreshold = 0
	secret(t, s).Type = ""
	r := Run(s, def)
	assert.Empty(t, r.Failed(), "%v", r.Findings)

	// Spelled out, the same defaults pass too.
	d.Spec.RevisionHistoryLimit = ptrTo(int32(10))
	d.Spec.ProgressDeadlineSeconds = ptrTo(int32(600))
	d.Spec.Template.Spec.TerminationGracePeriodSeconds = ptrTo(int64(30))
	d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
	d.Spec.Template.Spec.SchedulerName = "default-scheduler"
	c.TerminationMessagePath = "/dev/termination-log"
	c.LivenessProbe.SuccessThreshold = 1
	ip := corev1.ServiceInternalTrafficPolicyCluster
	b.Spec.InternalTrafficPolicy = &ip
	b.Spec.ClusterIP = "10.96.0.17" // per object: allowed
	r = Run(s, def)
	assert.Empty(t, r.Failed(), "%v", r.Findings)
}

// Labels are a floor: extra labels and annotations pass everywhere.
func TestExtraLabelsAndAnnotationsPass(t *testing.T) {
	for p, s := range repoSets(t) {
		c := s.DeepCopy()
		for _, o := range c.Objects {
			l := o.GetLabels()
			if l == nil {
				l = map[string]string{}
			}
			l["app.kubernetes.io/managed-by"] = "Helm"
			l["helm.sh/chart"] = "todo-app-0.1.0"
			o.SetLabels(l)
			o.SetAnnotations(map[string]string{"meta.helm.sh/release-name": "todo"})
			if d, ok := o.Object.(*appsv1.Deployment); ok {
				d.Spec.Template.Labels["app.kubernetes.io/name"] = d.Name
				d.Spec.Template.Annotations = map[string]string{"checksum/config": "abc"}
			}
		}
		r := Run(c, p)
		assert.Empty(t, r.Failed(), "%s: %v", p, r.Findings)
	}
}

// No value the credential rules recognise reaches a whole-object finding.
func TestWholeObjectFindingsRedactCredentials(t *testing.T) {
	s := repoSets(t)[def].DeepCopy()
	var token string
	for _, tok := range syntheticTokens {
		if tok.provider == "Slack bot token" {
			token = tok.value
		}
	}
	ctr0(t, s, "backend").Args = []string{"--token=" + token}
	deploy(t, s, "backend").Spec.Template.Spec.Hostname = token
	r := Run(s, def)
	assert.Equal(t, []string{"SEC-2", "BD-4"}, r.Failed())
	for _, f := range r.Findings["BD-4"] {
		assert.NotContains(t, f.String(), token)
		assert.True(t, strings.Contains(f.Actual, "redacted"), f.String())
	}
}

func TestLookAlikeNamesAreNamed(t *testing.T) {
	cases := []struct{ name, rename, want string }{
		{"Cyrillic a", "b\u0430ckend-service", `BS-1 (object): expected "present in the set", actual missing; Service "bаckend-service" looks like "backend-service" but is another name (U+0430 CYRILLIC SMALL LETTER A at 2) (metrics.yaml:1)`},
		{"case", "Backend-Service", `BS-1 (object): expected "present in the set", actual missing; Service "Backend-Service" looks like "backend-service" but is another name (U+0042 LATIN CAPITAL LETTER B at 1, U+0053 LATIN CAPITAL LETTER S at 9) (metrics.yaml:1)`},
		{"unrelated", "api", `BS-1 (object): expected "present in the set", actual "missing"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := repoSets(t)[def].DeepCopy()
			for i, o := range s.Objects {
				if o.GetName() == "backend-service" {
					o.SetName(tc.rename)
					s.Objects[i].Source = "metrics.yaml:1"
				}
			}
			var got []string
			for _, f := range Run(s, def).Findings["BS-1"] {
				got = append(got, f.ID+" "+f.Field+": expected "+f.Expected+", actual "+f.Actual)
			}
			assert.Equal(t, []string{tc.want}, got)
		})
	}
}

// fixtures/equivalent holds rewrites of manifests/base that the API server
// stores as the same objects (WHY.txt in each says which): each must pass
// every check, and must not be the base set verbatim.
func TestEquivalentFixturesPass(t *testing.T) {
	root, err := manifests.ModuleRoot()
	require.NoError(t, err)
	dirs, err := filepath.Glob(filepath.Join(root, "fixtures", "equivalent", "*"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(dirs), 4)
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			sets, err := manifests.Discover(dir)
			require.NoError(t, err)
			require.Len(t, sets, 1)
			assert.Equal(t, manifests.Default, sets[0].Profile)
			assert.Len(t, sets[0].Objects, 7)
			r := Run(sets[0].Set, sets[0].Profile)
			assert.Empty(t, r.Failed(), "%v", r.Findings)
		})
	}
}
