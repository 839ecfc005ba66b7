package staticcheck

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/puretasks/k8s-conformance/internal/printsafe"
)

// The URL rule joins gitleaks' defaults without replacing them: a default
// rule still fires, the URL rule fires on a password in user-info, and a
// URL without a password or with a placeholder or a $(VAR) reference does
// not.
func TestURLPasswordRuleExtendsTheDefaults(t *testing.T) {
	d, err := credentialDetector()
	require.NoError(t, err)
	rules := func(key, value string) []string {
		t.Helper()
		r, err := detectRules(d, scanLine(scannedValue{context: key, text: value}))
		require.NoError(t, err)
		return r
	}
	for _, tok := range syntheticTokens {
		assert.Equal(t, []string{tok.rule}, rules(tok.key, tok.value), "default rule for %s", tok.provider)
	}
	fires := []string{
		"postgres://app:" + plantedPassword + "@db:5432/todo",
		"postgresql://migrator:" + plantedPassword + "@db.example.com/todo?sslmode=require",
		"redis://:" + plantedPassword + "@cache:6379/0",
		"amqp://guest:p@ss" + plantedPassword + "@mq/vhost", // a raw '@' in the password
		"--db=mysql://root:" + plantedPassword + "@127.0.0.1:3306/app",
	}
	for _, v := range fires {
		assert.Equal(t, []string{urlPasswordRuleID}, rules("DATABASE_URL", v), v)
	}
	quiet := []string{
		"postgres://user@host/db",
		"postgres://user:REPLACE_ME@host/db",
		"postgres://user:$(DB_PASSWORD)@host/db",
		"postgres://user:${DB_PASSWORD}@host/db",
		"postgres://user:***@host/db",
		"http://backend-service:8000",
		"http://host:8080/path@v2",
		"REPLACE_ME",
	}
	for _, v := range quiet {
		assert.Empty(t, rules("DATABASE_URL", v), v)
	}
}

func TestRedactMasksTheURLPasswordAndKeepsTheRest(t *testing.T) {
	cases := map[string]string{
		"postgres://user:" + plantedPassword + "@db.example.com:5432/todo": "postgres://user:***@db.example.com:5432/todo",
		"amqp://guest:p@ss" + plantedPassword + "@mq/vhost":                "amqp://guest:***@mq/vhost",
		"http://backend-service:8000":                                      "http://backend-service:8000",
		"postgres://user@host/db":                                          "postgres://user@host/db",
		"DEBUG":                                                            "DEBUG",
	}
	for in, want := range cases {
		assert.Equal(t, want, Redact("DATABASE_URL", in))
	}
	// A value under a key that names a credential is not shown, whatever
	// its entropy; a provider token is named by its rule.
	assert.Equal(t, "<redacted: the key names a credential>", Redact("data.DB_PASSWORD", plantedPassword))
	assert.Equal(t, "<redacted: the key names a credential>", Redact("spec.template.spec.containers[api].env[API_TOKEN].value", plantedPassword))
	assert.Contains(t, Redact("data.LOG_LEVEL", syntheticTokens[2].value), "github-pat")
}

func TestPrintableEscapesControlCharacters(t *testing.T) {
	in := "a\n--- PASS: TestFake (0.00s)\r\n::warning::x\x1b[2J\u202eb\xff"
	out := printsafe.String(in)
	assert.Equal(t, `a\n--- PASS: TestFake (0.00s)\r\n::warning::x\x1b[2J\u202eb\xff`, out)
	assert.Equal(t, out, printsafe.String(out), "escaping twice changes nothing more")
}

// A hostile manifest writes control characters into a key, a name and a
// value: no finding's text holds a line break, an escape or a carriage
// return, so nothing can print a fake "--- PASS" or a "::warning" of its own.
func TestNoFindingCanWriteALineOfItsOwn(t *testing.T) {
	s := repoSets(t)[def].DeepCopy()
	evil := "\n--- PASS: TestStaticConformance (0.00s)\n::warning file=x::y\x1b]0;title\x07\r"
	cm := object[*corev1.ConfigMap](t, s, "ConfigMap", "todo-app-config")
	cm.Data["LOG_LEVEL"] = "INFO" + evil
	cm.Data["EXTRA"+evil] = "x"
	addHook(s, newService("todo-app", "svc"+evil, corev1.ServiceTypeLoadBalancer, map[string]string{"app": "backend" + evil}, 80))
	r := Run(s, def)
	require.Subset(t, r.Failed(), []string{"CM-1", "X-2", "X-3"})
	for _, fs := range r.Findings {
		for _, f := range fs {
			line := f.String()
			assert.NotContains(t, line, "\n")
			assert.NotContains(t, line, "\r")
			assert.NotContains(t, line, "\x1b")
			assert.NotContains(t, line, "\x07")
			for _, part := range []string{f.Resource, f.Field, f.Expected, f.Actual} {
				assert.Equal(t, part, printsafe.String(part), "the finding is escaped when recorded, not only when printed")
			}
		}
	}
}

// TestNoPlantedValueInAnyFindingOutput plants one obviously fake password
// in every table a check reads (ConfigMap values and keys, Secret values,
// env values, labels and selectors, annotation values and keys, args,
// hooks), in the shapes a credential takes (URL user-info, a value under a
// credential-named key), then greps every finding and the SEC-4
// information for it.
func TestNoPlantedValueInAnyFindingOutput(t *testing.T) {
	for p, base := range repoSets(t) {
		t.Run(string(p), func(t *testing.T) {
			s := base.DeepCopy()
			url := "postgres://app:" + plantedPassword + "@db:5432/todo"
			cm := object[*corev1.ConfigMap](t, s, "ConfigMap", "todo-app-config")
			cm.Data["LOG_LEVEL"] = url                          // CM-1 compares the value
			cm.Data["DB_PASSWORD"] = plantedPassword            // CM-1: an extra key
			cm.Data["postgres://u:"+plantedPassword+"@h"] = "x" // a key holding a URL: CM-1, X-2
			sec := secret(t, s)
			sec.Data["DATABASE_URL"] = []byte(url)
			sec.Data["JWT_ALGORITHM"] = []byte(plantedPassword) // SEC-1 compares this one
			fe := ctr0(t, s, "frontend")
			fe.Env[0].Value = "http://u:" + plantedPassword + "@backend-service:8000" // FD-5
			fe.Env = append(fe.Env, corev1.EnvVar{Name: "DB_PASSWORD", Value: plantedPassword})
			be := ctr0(t, s, "backend")
			be.Env = append(be.Env, corev1.EnvVar{Name: "SESSION_TOKEN", Value: plantedPassword})
			be.Args = []string{"--db=" + url}
			tl := deploy(t, s, "backend").Spec.Template.Labels
			tl["component"] = url            // BD-1 compares it
			tl["password"] = plantedPassword // an extra label, shown in X-1's selector message
			bs := svc(t, s, "backend-service")
			bs.Spec.Selector["token"] = plantedPassword // BS-1, X-1
			bs.Annotations = map[string]string{"db": url, "postgres://u:" + plantedPassword + "@h": "x"}
			nsl := object[*corev1.Namespace](t, s, "Namespace", "todo-app").Labels
			nsl["environment"] = url        // NS-1 compares it
			nsl["secret"] = plantedPassword // an extra label
			hook := job("todo-app", "migrate")
			hook.Spec.Template.Labels = map[string]string{"app": "backend", "api_key": plantedPassword}
			hook.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "DATABASE_URL", Value: url}}
			hook.Spec.Template.Spec.Containers[0].Args = []string{"--db", url}
			hook.Spec.Template.Spec.HostNetwork = true // SEC-4, X-3
			addHook(s, hook)
			addHook(s, newService("todo-app", "db-public", corev1.ServiceTypeNodePort, map[string]string{"app": "frontend", "credential": plantedPassword}, 80))
			addHook(s, &corev1.Secret{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
				ObjectMeta: metav1.ObjectMeta{Namespace: "todo-app", Name: "hook-secret"},
				StringData: map[string]string{"url": url, "bad key": plantedPassword},
			})

			r := Run(s, p)
			for _, id := range []string{"NS-1", "CM-1", "SEC-1", "SEC-2", "SEC-4", "BD-1", "FD-5", "BS-1", "X-1", "X-2", "X-3"} {
				assert.NotEmpty(t, r.Findings[id], "%s judged a planted value", id)
			}
			var out []string
			for _, fs := range r.Findings {
				for _, f := range fs {
					out = append(out, f.String())
				}
			}
			notes, err := RestrictedProfileReport(s)
			require.NoError(t, err)
			out = append(out, notes...)
			all := strings.Join(out, "\n")
			for _, part := range []string{plantedPassword, "planted-password", "password-123"} {
				assert.NotContains(t, all, part)
			}
			assert.Contains(t, all, "postgres://app:***@db:5432/todo", "a URL is shown with its password masked")
			if t.Failed() {
				return
			}
			t.Logf("%d findings, none shows the planted value", len(out))
		})
	}
}
