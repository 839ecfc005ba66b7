package lanes

import (
	"context"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/spec"
	"github.com/puretasks/k8s-conformance/internal/traffic"
)

// manifestsRepo is a git repository whose first commit holds a copy of the
// project's manifests; the work tree is the test's to change.
func manifestsRepo(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	root := t.TempDir()
	require.NoError(t, os.CopyFS(filepath.Join(root, "manifests"), os.DirFS(filepath.Join("..", "..", "manifests"))))
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"-c", "user.email=t@example.invalid", "-c", "user.name=t", "add", "-A"},
		{"-c", "user.email=t@example.invalid", "-c", "user.name=t", "commit", "-q", "-m", "release 1"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
	}
	return root
}

func rewrite(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Contains(t, string(b), old)
	require.NoError(t, os.WriteFile(path, []byte(strings.ReplaceAll(string(b), old, new)), 0o644))
}

func TestPlanUpgradeUnchanged(t *testing.T) {
	root := manifestsRepo(t)
	p, err := PlanUpgrade(context.Background(), filepath.Join(root, "manifests"), "HEAD")
	require.NoError(t, err)
	assert.True(t, p.Unchanged())
	assert.Empty(t, p.Rolls)
	assert.Contains(t, p.Summary(), "did not change between HEAD (")
	assert.Len(t, p.Commit, 40)
}

func TestPlanUpgradeSeesAPortThatMoves(t *testing.T) {
	root := manifestsRepo(t)
	base := filepath.Join(root, "manifests", "base")
	rewrite(t, filepath.Join(base, "backend-deployment.yaml"), "8000", "8080")
	rewrite(t, filepath.Join(base, "backend-service.yaml"), "targetPort: 8000", "targetPort: 8080")
	p, err := PlanUpgrade(context.Background(), filepath.Join(root, "manifests"), "main")
	require.NoError(t, err)
	require.False(t, p.Unchanged())
	assert.Equal(t, map[string]bool{spec.Seed.Backend.Deployment.Name: true}, p.Rolls, "only the backend's pod template changes")
	var text []string
	for _, c := range p.Changes {
		text = append(text, c.String())
	}
	all := strings.Join(text, "\n")
	assert.Contains(t, all, "Service todo-app/backend-service spec.ports[http].targetPort: 8000 → 8080")
	assert.Contains(t, all, "containerPort: 8000 → 8080")
	assert.Contains(t, p.Summary(), "the pod template of backend changes")
}

func TestPlanUpgradeNeverShowsASecretValue(t *testing.T) {
	root := manifestsRepo(t)
	secret := filepath.Join(root, "manifests", "base", "secret.yaml")
	b, err := os.ReadFile(secret)
	require.NoError(t, err)
	// A new value under every key the manifest gives one.
	const planted = "fake-upgrade-value-4242"
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if k, _, ok := strings.Cut(line, ": "); ok && strings.HasPrefix(line, "  ") && !strings.HasPrefix(strings.TrimSpace(k), "#") && strings.ToUpper(strings.TrimSpace(k)) == strings.TrimSpace(k) {
			line = k + ": " + base64.StdEncoding.EncodeToString([]byte(planted))
		}
		out = append(out, line)
	}
	require.NoError(t, os.WriteFile(secret, []byte(strings.Join(out, "\n")), 0o644))
	p, err := PlanUpgrade(context.Background(), filepath.Join(root, "manifests"), "HEAD")
	require.NoError(t, err)
	require.False(t, p.Unchanged(), "the Secret's values changed")
	for _, c := range p.Changes {
		assert.NotContains(t, c.String(), planted)
		assert.NotContains(t, c.String(), base64.StdEncoding.EncodeToString([]byte(planted)), "nor base64 of it")
	}
}

func TestPlanUpgradeBadInput(t *testing.T) {
	root := manifestsRepo(t)
	dir := filepath.Join(root, "manifests")
	_, err := PlanUpgrade(context.Background(), dir, "no-such-ref")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"no-such-ref" names no commit`)
	assert.NotContains(t, err.Error(), "\n", "one line")

	_, err = PlanUpgrade(context.Background(), dir, "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), UpgradeFromEnv)

	// manifests that do not load at the ref say so, naming the ref.
	rewrite(t, filepath.Join(dir, "base", "kustomization.yaml"), "resources:", "resources:\n  - missing.yaml")
	git := exec.Command("git", "-c", "user.email=t@example.invalid", "-c", "user.name=t", "commit", "-qam", "broken")
	git.Dir = root
	out, gerr := git.CombinedOutput()
	require.NoError(t, gerr, "%s", out)
	_, err = PlanUpgrade(context.Background(), dir, "HEAD")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the manifests at HEAD (")
}

func TestUpgradeInvariant(t *testing.T) {
	w := spec.Seed.Backend
	inv := UpgradeInvariant(w, 1, 3)
	assert.Equal(t, int32(1)-w.Deployment.MaxUnavailable, inv.Desired, "ready never below the smaller count")
	assert.Equal(t, int32(3)+w.Deployment.MaxSurge, inv.MaxPods, "pods never above the larger count plus surge")
}

func TestJudgeUpgradeTraffic(t *testing.T) {
	ok := traffic.Summary{Sent: 100, Pods: map[string]int{"a": 50, "b": 50}, Replaced: true}
	for _, tc := range []struct {
		name  string
		rolls bool
		s     traffic.Summary
		want  string // "" passes
	}{
		{"rollout spanned, nothing failed", true, ok, ""},
		{"no rollout, nothing failed", false, traffic.Summary{Sent: 50, Pods: map[string]int{"a": 50}}, ""},
		{"a failed request", true, traffic.Summary{Sent: 100, Failed: 1, Pods: map[string]int{"a": 50, "b": 50}, Replaced: true, Errors: map[string]int{"connection refused": 1}}, "expected zero failed requests across the upgrade, got 1 of 100"},
		{"traffic that did not span the rollout", true, traffic.Summary{Sent: 100, Pods: map[string]int{"a": 50}}, "expected the traffic to span the rollout"},
		{"nothing sent is no measurement", false, traffic.Summary{}, "ERROR(no-measurement)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ft, _ := newRecorder("L-UPGRADE")
			JudgeUpgradeTraffic(r, "http://backend-service:8000/api/health", tc.rolls, tc.s)
			if tc.want == "" {
				assert.Empty(t, ft.failures())
				assert.Contains(t, ft.measurements(), "sent")
				return
			}
			assert.Contains(t, ft.failures(), tc.want)
		})
	}
}

func TestJudgeUpgradeRollout(t *testing.T) {
	w := spec.Seed.Backend
	inv := UpgradeInvariant(w, 1, 1)
	for _, tc := range []struct {
		name  string
		rolls bool
		obs   live.RolloutObservation
		err   error
		want  string
	}{
		{"template change rolled", true, live.RolloutObservation{Events: 4, NewPods: []string{"new"}}, nil, ""},
		{"no template change, no events", false, live.RolloutObservation{}, live.ErrTooFewEvents{Seen: 0, Want: 2}, ""},
		{"template change not observed", true, live.RolloutObservation{}, live.ErrTooFewEvents{Seen: 0, Want: 2}, "ERROR(api)"},
		{"rollout stuck", true, live.RolloutObservation{}, errors.New("deadline exceeded"), "expected the Deployment to complete its update"},
		{"invariant broken", true, live.RolloutObservation{Events: 4, NewPods: []string{"new"}, Violations: []string{"t+1s update: ready 0 (want >= 1)"}}, nil, "invariant broken across the upgrade"},
		{"template change, no new pod", true, live.RolloutObservation{Events: 4}, nil, "saw no new pod"},
		{"no template change, pods replaced", false, live.RolloutObservation{Events: 4, NewPods: []string{"x"}}, nil, "expected no pod replaced"},
		{"no template change, one replica added", false, live.RolloutObservation{Events: 3, NewPods: []string{"x"}}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, ft, _ := newRecorder("L-UPGRADE")
			grown := int32(0)
			if tc.name == "no template change, one replica added" {
				grown = 1
			}
			judgeUpgradeRollout(r, w, inv, tc.rolls, grown, tc.obs, tc.err)
			if tc.want == "" {
				assert.Empty(t, ft.failures())
				return
			}
			assert.Contains(t, ft.failures(), tc.want)
		})
	}
}

// A previous revision that does not apply, or does not serve, leaves the
// change unjudged: an ERROR, and the manifests under test are never applied.
func TestUpgradeWhosePreviousRevisionFailsIsAnError(t *testing.T) {
	p := &UpgradePlan{Ref: "v1", Commit: strings.Repeat("a", 40), Rolls: map[string]bool{}}
	var applied [][]client.Object
	failing := func(_ context.Context, objs []client.Object) live.ApplyResult {
		applied = append(applied, objs)
		return live.ApplyResult{ApplyErrors: []string{"Deployment todo-app/backend: the server is unavailable"}}
	}
	r, ft, _ := newRecorder("L-UPGRADE")
	env := Env{Clientset: fake.NewClientset()}
	up := UpgradeUnderTraffic(context.Background(), env, r, p, []client.Object{}, []client.Object{}, UpgradeOps{Apply: failing}, "img")
	assert.Nil(t, up)
	assert.Len(t, applied, 1, "the manifests under test are not applied over a revision that never came up")
	assert.Contains(t, ft.failures(), "ERROR(setup) revision v1 (aaaaaaaaaaaa): the previous revision did not apply")

	// Applied, but its Deployments never become Available: the wait's
	// deadline, with what was last seen.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, ft, _ = newRecorder("L-UPGRADE")
	d := &appsv1.Deployment{}
	d.Name, d.Namespace = spec.Seed.Backend.Deployment.Name, spec.Namespace
	env = Env{Clientset: fake.NewClientset([]runtime.Object{d}...)}
	ok := func(context.Context, []client.Object) live.ApplyResult { return live.ApplyResult{} }
	assert.Nil(t, UpgradeUnderTraffic(ctx, env, r, p, nil, nil, UpgradeOps{Apply: ok}, "img"))
	assert.Contains(t, ft.failures(), "the previous revision did not serve")
}

// What rolls is the API server's answer: a manifest that only spells out a
// default changes no stored template, and a failure to ask is an ERROR.
func TestUpgradeAsksTheServerWhatRolls(t *testing.T) {
	p := &UpgradePlan{Ref: "v1", Commit: strings.Repeat("b", 40), Rolls: map[string]bool{spec.Seed.Backend.Deployment.Name: true}}
	ready := func(name string) *appsv1.Deployment {
		d := &appsv1.Deployment{}
		d.Name, d.Namespace, d.Generation = name, spec.Namespace, 1
		d.Spec.Replicas = ptrTo(int32(1))
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
		return d
	}
	b, f := ready(spec.Seed.Backend.Deployment.Name), ready(spec.Seed.Frontend.Deployment.Name)
	env := Env{Clientset: fake.NewClientset(b, f)}
	ok := func(context.Context, []client.Object) live.ApplyResult { return live.ApplyResult{} }
	asked := 0
	ops := UpgradeOps{Apply: ok, TemplateChanges: func(context.Context, *appsv1.Deployment) (bool, error) {
		asked++
		return false, errors.New("the server is currently unable to handle the request")
	}}
	r, ft, _ := newRecorder("L-UPGRADE")
	assert.Nil(t, UpgradeUnderTraffic(context.Background(), env, r, p, []client.Object{b, f}, []client.Object{b.DeepCopy(), f.DeepCopy()}, ops, "img"))
	assert.Equal(t, 1, asked)
	assert.Contains(t, ft.failures(), "ERROR(api) Deployment todo-app/backend: could not tell whether the new revision replaces its pods")
}

func ptrTo[T any](v T) *T { return &v }

func TestRemovedIn(t *testing.T) {
	cm := func(name string) client.Object {
		c := &corev1.ConfigMap{}
		c.APIVersion, c.Kind = "v1", "ConfigMap"
		c.Name, c.Namespace = name, spec.Namespace
		return c
	}
	got := removedIn([]client.Object{cm("a"), cm("b")}, []client.Object{cm("b"), cm("c")})
	require.Len(t, got, 1)
	assert.Equal(t, "a", got[0].GetName())
}

// One change for every watch, run once, after all of them have synced; its
// error ends each watch.
func TestWatchTogetherRunsTheChangeOnce(t *testing.T) {
	ready := func(name string) *appsv1.Deployment {
		d := &appsv1.Deployment{}
		d.Name, d.Namespace, d.Generation = name, "ns", 1
		d.Spec.Replicas = ptrTo(int32(1))
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}
		return d
	}
	cs := fake.NewClientset(ready(spec.Seed.Backend.Deployment.Name), ready(spec.Seed.Frontend.Deployment.Name))
	var calls atomic.Int32
	ws := WatchTogether(context.Background(), cs, "ns", Workloads(), func(w spec.Workload) live.Invariant { return InvariantOf(w, 1) }, func() error {
		calls.Add(1)
		return errors.New("apply refused")
	})
	assert.Equal(t, int32(1), calls.Load())
	require.Len(t, ws, 2)
	for _, w := range ws {
		require.Error(t, w.Err, w.Workload.Deployment.Name)
		assert.Contains(t, w.Err.Error(), "apply refused")
	}
}
