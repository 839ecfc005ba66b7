package staticcheck

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/puretasks/k8s-conformance/internal/manifests"
)

// synthetic returns n characters of alphabet from a fixed pseudo-random
// sequence: high-entropy text that is obviously made up, built at test time.
func synthetic(n int, alphabet string, seed uint32) string {
	var b strings.Builder
	x := seed
	for range n {
		x = x*1664525 + 1013904223
		b.WriteByte(alphabet[(x>>16)%uint32(len(alphabet))])
	}
	return b.String()
}

const (
	alnum   = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	digits  = "0123456789"
	base32  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	urlSafe = alnum + "_-"
)

// syntheticToken is a token in a provider's published format. Each is
// assembled here, by concatenation, so the repository never holds a literal
// a secret scanner (ours, or CI's) would flag.
type syntheticToken struct {
	provider string
	key      string // the key name it sits under
	rule     string // the gitleaks rule that must find it
	value    string
}

var syntheticTokens = []syntheticToken{
	{"OpenAI project key", "OPENAI_API_KEY", "openai-api-key",
		"sk-" + "proj-" + synthetic(58, urlSafe, 1) + "T3Blbk" + "FJ" + synthetic(58, urlSafe, 2)},
	{"Anthropic API key", "ANTHROPIC_API_KEY", "anthropic-api-key",
		"sk-" + "ant-" + "api03-" + synthetic(93, urlSafe, 3) + "AA"},
	{"GitHub personal access token", "GITHUB_TOKEN", "github-pat",
		"gh" + "p_" + synthetic(36, alnum, 4)},
	{"AWS access key id", "AWS_ACCESS_KEY_ID", "aws-access-token",
		"AK" + "IA" + synthetic(16, base32, 5)},
	{"Slack bot token", "SLACK_BOT_TOKEN", "slack-bot-token",
		"xo" + "xb-" + synthetic(12, digits, 6) + "-" + synthetic(12, digits, 7) + "-" + synthetic(24, alnum, 8)},
	{"Stripe live secret key", "STRIPE_KEY", "stripe-access-token",
		"sk" + "_live_" + synthetic(24, alnum, 9)},
	{"generic high-entropy api_key", "api_key", "generic-api-key",
		synthetic(32, alnum, 10)},
}

// location places a value under a key somewhere in a set and says which
// object and field the finding must name.
type location struct {
	name     string
	resource string // substring of the finding's resource
	field    func(key string) string
	place    func(t testing.TB, s *manifests.Set, key, value string)
}

func addObject(s *manifests.Set, o manifests.Object) { s.Objects = append(s.Objects, o) }

func newSecret(ns, name string) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Type:       corev1.SecretTypeOpaque,
	}
}

var credentialLocations = []location{
	{"second Secret, data", "Secret todo-app/other-secrets", func(k string) string { return "data." + k + " (decoded)" },
		func(t testing.TB, s *manifests.Set, k, v string) {
			sec := newSecret("todo-app", "other-secrets")
			sec.Data = map[string][]byte{k: []byte(v)}
			addObject(s, manifests.Object{Object: sec, Source: "test.yaml:1"})
		}},
	{"second todo-app-secrets without namespace", "Secret/todo-app-secrets", func(k string) string { return "data." + k + " (decoded)" },
		func(t testing.TB, s *manifests.Set, k, v string) {
			sec := newSecret("", "todo-app-secrets")
			sec.Data = map[string][]byte{k: []byte(v)}
			addObject(s, manifests.Object{Object: sec, Source: "test.yaml:1"})
		}},
	{"Secret in another namespace", "Secret billing/billing-keys", func(k string) string { return "data." + k + " (decoded)" },
		func(t testing.TB, s *manifests.Set, k, v string) {
			sec := newSecret("billing", "billing-keys")
			sec.Data = map[string][]byte{k: []byte(v)}
			addObject(s, manifests.Object{Object: sec, Source: "test.yaml:1"})
			addObject(s, manifests.Object{Object: &corev1.Namespace{ // so X-1 holds: only SEC-2 fails
				TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}, ObjectMeta: metav1.ObjectMeta{Name: "billing"},
			}, Source: "test.yaml:2"})
		}},
	{"Secret stringData", "Secret todo-app/other-secrets", func(k string) string { return "stringData." + k },
		func(t testing.TB, s *manifests.Set, k, v string) {
			sec := newSecret("todo-app", "other-secrets")
			sec.StringData = map[string]string{k: v}
			addObject(s, manifests.Object{Object: sec, Source: "test.yaml:1"})
		}},
	{"unstructured Secret (a loader's untyped object)", "Secret todo-app/raw-secrets", func(k string) string { return "data." + k + " (decoded)" },
		func(t testing.TB, s *manifests.Set, k, v string) {
			sec := newSecret("todo-app", "raw-secrets")
			sec.Data = map[string][]byte{k: []byte(v)}
			m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(sec)
			require.NoError(t, err)
			addObject(s, manifests.Object{Object: &unstructured.Unstructured{Object: m}, Source: "test.yaml:1"})
		}},
	{"the app's ConfigMap", "ConfigMap todo-app/todo-app-config", func(k string) string { return "data." + k },
		func(t testing.TB, s *manifests.Set, k, v string) {
			object[*corev1.ConfigMap](t, s, "ConfigMap", "todo-app-config").Data[k] = v
		}},
	{"another ConfigMap's binaryData", "ConfigMap todo-app/extra", func(k string) string { return "binaryData." + k + " (decoded)" },
		func(t testing.TB, s *manifests.Set, k, v string) {
			addObject(s, manifests.Object{Object: &corev1.ConfigMap{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
				ObjectMeta: metav1.ObjectMeta{Namespace: "todo-app", Name: "extra"},
				BinaryData: map[string][]byte{k: []byte(v)},
			}, Source: "test.yaml:1"})
		}},
	{"container env value", "Deployment todo-app/backend", func(k string) string {
		return "spec.template.spec.containers[backend].env[" + k + "].value"
	}, func(t testing.TB, s *manifests.Set, k, v string) {
		c := ctr0(t, s, "backend")
		c.Env = append(c.Env, corev1.EnvVar{Name: k, Value: v})
	}},
	{"initContainer env value", "Deployment todo-app/frontend", func(k string) string {
		return "spec.template.spec.initContainers[migrate].env[" + k + "].value"
	}, func(t testing.TB, s *manifests.Set, k, v string) {
		p := &deploy(t, s, "frontend").Spec.Template.Spec
		p.InitContainers = append(p.InitContainers, corev1.Container{Name: "migrate", Env: []corev1.EnvVar{{Name: k, Value: v}}})
	}},
	{"ephemeralContainer env value", "Deployment todo-app/backend", func(k string) string {
		return "spec.template.spec.ephemeralContainers[debug].env[" + k + "].value"
	}, func(t testing.TB, s *manifests.Set, k, v string) {
		p := &deploy(t, s, "backend").Spec.Template.Spec
		p.EphemeralContainers = append(p.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Env: []corev1.EnvVar{{Name: k, Value: v}}}})
	}},
	{"env of another workload kind (StatefulSet)", "StatefulSet todo-app/worker", func(k string) string {
		return "spec.template.spec.containers[worker].env[" + k + "].value"
	}, func(t testing.TB, s *manifests.Set, k, v string) {
		addObject(s, manifests.Object{Object: &appsv1.StatefulSet{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "StatefulSet"},
			ObjectMeta: metav1.ObjectMeta{Namespace: "todo-app", Name: "worker"},
			Spec: appsv1.StatefulSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "worker", Env: []corev1.EnvVar{{Name: k, Value: v}}}}}}},
		}, Source: "test.yaml:1"})
	}},
	{"env of an unstructured workload (CronJob)", "CronJob todo-app/nightly", func(k string) string {
		return "spec.jobTemplate.spec.template.spec.containers[job].env[" + k + "].value"
	}, func(t testing.TB, s *manifests.Set, k, v string) {
		u := &unstructured.Unstructured{Object: map[string]any{
			"spec": map[string]any{"jobTemplate": map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
				"containers": []any{map[string]any{"name": "job", "env": []any{map[string]any{"name": k, "value": v}}}},
			}}}}},
		}}
		u.SetGroupVersionKind(schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "CronJob"})
		u.SetNamespace("todo-app")
		u.SetName("nightly")
		addObject(s, manifests.Object{Object: u, Source: "test.yaml:1"})
	}},
	{"object annotation", "Service todo-app/backend-service", func(k string) string { return "metadata.annotations[" + k + "]" },
		func(t testing.TB, s *manifests.Set, k, v string) {
			svc(t, s, "backend-service").Annotations = map[string]string{k: v}
		}},
	{"pod template annotation", "Deployment todo-app/frontend", func(k string) string { return "spec.template.metadata.annotations[" + k + "]" },
		func(t testing.TB, s *manifests.Set, k, v string) {
			deploy(t, s, "frontend").Spec.Template.Annotations = map[string]string{k: v}
		}},
	{"object label", "ConfigMap todo-app/todo-app-config", func(k string) string { return "metadata.labels[" + k + "]" },
		func(t testing.TB, s *manifests.Set, k, v string) {
			object[*corev1.ConfigMap](t, s, "ConfigMap", "todo-app-config").Labels[k] = v
		}},
	{"pod template label", "Deployment todo-app/backend", func(k string) string { return "spec.template.metadata.labels[" + k + "]" },
		func(t testing.TB, s *manifests.Set, k, v string) {
			deploy(t, s, "backend").Spec.Template.Labels[k] = v
		}},
	{"container args (--key=value on the command line)", "Deployment todo-app/backend", func(k string) string {
		return "spec.template.spec.containers[backend].args[0]"
	}, func(t testing.TB, s *manifests.Set, k, v string) {
		c := ctr0(t, s, "backend")
		require.Empty(t, c.Args)
		c.Args = []string{"--" + k + "=" + v}
	}},
	{"container command", "Deployment todo-app/frontend", func(k string) string {
		return "spec.template.spec.containers[frontend].command[2]"
	}, func(t testing.TB, s *manifests.Set, k, v string) {
		c := ctr0(t, s, "frontend")
		require.Empty(t, c.Command)
		c.Command = []string{"sh", "-c", "export " + k + "=" + v + " && exec server"}
	}},
	{"probe HTTP header", "Deployment todo-app/backend", func(k string) string {
		return "spec.template.spec.containers[backend].startupProbe.httpGet.httpHeaders[" + k + "].value"
	}, func(t testing.TB, s *manifests.Set, k, v string) {
		p := ctr0(t, s, "backend").StartupProbe
		require.NotNil(t, p)
		require.NotNil(t, p.HTTPGet)
		p.HTTPGet.HTTPHeaders = append(p.HTTPGet.HTTPHeaders, corev1.HTTPHeader{Name: k, Value: v})
	}},
}

// Every synthetic token is found in every location, named by object, field
// and rule, and no finding holds any part of it.
func TestCredentialScanFindsEveryTokenInEveryLocation(t *testing.T) {
	base := repoSets(t)[def]
	for _, tok := range syntheticTokens {
		for _, loc := range credentialLocations {
			t.Run(tok.provider+"/"+loc.name, func(t *testing.T) {
				s := base.DeepCopy()
				loc.place(t, s, tok.key, tok.value)
				findings := RunOne(sec2(t), s, def)
				var found bool
				for _, f := range findings {
					if strings.Contains(f.Resource, loc.resource) && f.Field == loc.field(tok.key) && strings.Contains(f.Actual, tok.rule) {
						found = true
					}
					assertNoPartOf(t, tok.value, f, tok.rule)
				}
				assert.True(t, found, "no SEC-2 finding naming %s, %s and rule %s; got %v", loc.resource, loc.field(tok.key), tok.rule, findings)
			})
		}
	}
}

// A neutral key name in a Secret is still a Secret: a high-entropy value
// there is found though the key says nothing (see secretContext).
func TestHighEntropyValueUnderNeutralSecretKeyIsFound(t *testing.T) {
	s := repoSets(t)[def].DeepCopy()
	sec := newSecret("todo-app", "other")
	sec.Data = map[string][]byte{"FOO": []byte(synthetic(32, alnum, 11))}
	addObject(s, manifests.Object{Object: sec, Source: "test.yaml:1"})
	findings := RunOne(sec2(t), s, def)
	require.Len(t, findings, 1)
	assert.Contains(t, findings[0].Actual, "generic-api-key")
}

// The obviously fake values the live tier injects, and the placeholders,
// are not credentials to the rules: the placeholder rule alone reports them.
func TestPlaceholdersAndLowEntropyValuesPass(t *testing.T) {
	s := repoSets(t)[def].DeepCopy()
	cm := object[*corev1.ConfigMap](t, s, "ConfigMap", "todo-app-config")
	cm.Data["SOME_API_URL"] = "http://backend-service:8000/api"
	cm.Data["TOKEN_TTL"] = "3600"
	deploy(t, s, "backend").Spec.Template.Annotations = map[string]string{"checksum/config": synthetic(64, "0123456789abcdef", 12)}
	assert.Empty(t, RunOne(sec2(t), s, def))
}

// No check, whichever compares a value with the spec, prints a credential:
// a token in the ConfigMap (CM-1) or in the frontend's env (FD-5) is named
// by rule, not shown. Provider tokens only: a random string under LOG_LEVEL
// is no credential to the rules (generic-api-key needs a key-like name), so
// CM-1 shows it as the value it is.
func TestNoCheckPrintsACredential(t *testing.T) {
	for _, tok := range syntheticTokens {
		if tok.rule == "generic-api-key" {
			continue
		}
		t.Run(tok.provider, func(t *testing.T) {
			s := repoSets(t)[def].DeepCopy()
			object[*corev1.ConfigMap](t, s, "ConfigMap", "todo-app-config").Data["LOG_LEVEL"] = tok.value
			ctr0(t, s, "frontend").Env[0].Value = tok.value
			secret(t, s).Data["JWT_ALGORITHM"] = []byte(tok.value)
			r := Run(s, def)
			for _, id := range []string{"CM-1", "FD-5", "SEC-1", "SEC-2"} {
				assert.NotEmpty(t, r.Findings[id], id)
			}
			for _, fs := range r.Findings {
				for _, f := range fs {
					assertNoPartOf(t, tok.value, f, tok.rule)
				}
			}
		})
	}
}

func sec2(t testing.TB) Check {
	for _, c := range Catalogue {
		if c.ID == "SEC-2" {
			return c
		}
	}
	t.Fatal("SEC-2 not in the catalogue")
	return Check{}
}

// assertNoPartOf fails when any 4 characters in a row of value appear in the
// finding, except where they are part of the rule's own name (the rule for
// sk-ant-api03-... is called anthropic-api-key: "-api" is the rule's).
func assertNoPartOf(t testing.TB, value string, f Finding, rule string) {
	t.Helper()
	msg := f.String()
	for i := 0; i+4 <= len(value); i++ {
		part := value[i : i+4]
		if strings.Contains(msg, part) && !strings.Contains(rule, part) {
			assert.Failf(t, "finding shows part of the value", "%q of the value appears in: %s", part, msg)
			return
		}
	}
}

// The synthetic tokens really have the providers' shapes: each is found on
// its own line by exactly the rule named, so a test above that finds it
// proves the location, not a lucky match of another rule.
func TestSyntheticTokensMatchTheirRule(t *testing.T) {
	d, err := credentialDetector()
	require.NoError(t, err)
	for _, tok := range syntheticTokens {
		var rules []string
		for _, f := range d.DetectString(fmt.Sprintf("%s=%s", tok.key, tok.value)) {
			rules = append(rules, f.RuleID)
		}
		assert.Equal(t, []string{tok.rule}, rules, tok.provider)
	}
}

// The placeholder rule holds for every todo-app-secrets, not the first one
// found: a low-entropy password no rule knows still fails in a second copy.
func TestPlaceholderRuleHoldsForEveryCopyOfTheAppSecret(t *testing.T) {
	s := repoSets(t)[def].DeepCopy()
	sec := newSecret("", "todo-app-secrets")
	sec.Data = map[string][]byte{"DATABASE_URL": []byte("hunter2")}
	addObject(s, manifests.Object{Object: sec, Source: "copy.yaml:1"})
	findings := RunOne(sec2(t), s, def)
	require.Len(t, findings, 1)
	assert.Contains(t, findings[0].Resource, "Secret/todo-app-secrets (copy.yaml:1)")
	assert.Equal(t, "data.DATABASE_URL (decoded)", findings[0].Field)
	assertNoPartOf(t, "hunter2", findings[0], "")
}
