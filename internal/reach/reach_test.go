package reach

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name, ip string, taints ...corev1.Taint) corev1.Node {
	return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: ip}}}}
}

var cluster = []corev1.Node{
	node("kind-worker2", "172.18.0.4"),
	node("kind-control-plane", "172.18.0.2", corev1.Taint{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}),
	node("kind-worker", "172.18.0.3"),
}

func TestNodesAndSchedulableNodes(t *testing.T) {
	assert.Equal(t, []Node{{"kind-control-plane", "172.18.0.2"}, {"kind-worker", "172.18.0.3"}, {"kind-worker2", "172.18.0.4"}}, NodesOf(cluster),
		"a NodePort is promised on every node, tainted or not")
	cordoned := node("kind-worker3", "172.18.0.5")
	cordoned.Spec.Unschedulable = true
	prefer := node("kind-worker4", "172.18.0.6", corev1.Taint{Key: "x", Effect: corev1.TaintEffectPreferNoSchedule})
	assert.Equal(t, []Node{{"kind-worker", "172.18.0.3"}, {"kind-worker2", "172.18.0.4"}, {"kind-worker4", "172.18.0.6"}},
		Schedulable(append(cluster, cordoned, prefer)), "L-DNS asks from the nodes a pod can land on")
}

// L-NODEPORT with externalTrafficPolicy: Local and the pods on one node:
// the other nodes' addresses do not answer, and each is named.
func TestOneNodeFailingFailsNamingIt(t *testing.T) {
	nodes := NodesOf(cluster)
	outcomes := []Outcome{
		{Node: "kind-control-plane"},
		{Node: "kind-worker", Problems: []string{"GET http://172.18.0.3:30000/api/health: dial tcp 172.18.0.3:30000: i/o timeout"}},
		{Node: "kind-worker2"},
	}
	broken := Broken(nodes, outcomes)
	require.Len(t, broken, 1)
	assert.Equal(t, "kind-worker", broken[0].Node)
	assert.Equal(t, "1 of 3 nodes: kind-worker (GET http://172.18.0.3:30000/api/health: dial tcp 172.18.0.3:30000: i/o timeout)", Summary(nodes, broken))

	assert.Empty(t, Broken(nodes, []Outcome{{Node: "kind-control-plane"}, {Node: "kind-worker"}, {Node: "kind-worker2"}}), "every node answered: kept")
}

func TestANodeNeverAskedIsNotKept(t *testing.T) {
	broken := Broken(NodesOf(cluster), []Outcome{{Node: "kind-control-plane"}, {Node: "kind-worker"}})
	assert.Equal(t, []Outcome{{Node: "kind-worker2", Problems: []string{"not checked"}}}, broken)
	assert.NotEmpty(t, Broken(nil, nil), "a promise on every node checked on none is no pass")
}

func lines(t *testing.T, vs ...any) []json.RawMessage {
	var out []json.RawMessage
	for _, v := range vs {
		raw, err := json.Marshal(v)
		require.NoError(t, err)
		out = append(out, raw)
	}
	return out
}

type resolved struct {
	Name  string   `json:"name"`
	Addrs []string `json:"addrs,omitempty"`
	Error string   `json:"error,omitempty"`
}

// L-DNS from a pod on each schedulable node: one node whose pod resolves
// nothing fails, named.
func TestDNSFromEachNode(t *testing.T) {
	const ip = "10.96.12.34"
	names := []string{"backend-service", "backend-service.todo-app.svc.cluster.local"}
	good := lines(t, resolved{Name: names[0], Addrs: []string{ip}}, resolved{Name: names[1], Addrs: []string{ip}})
	bad := lines(t, resolved{Name: names[0], Error: "lookup backend-service: i/o timeout"}, resolved{Name: names[1], Addrs: []string{"10.0.0.9"}})
	assert.Empty(t, ResolveProblems(good, ip, names...))
	problems := ResolveProblems(bad, ip, names...)
	assert.Len(t, problems, 2)
	assert.Contains(t, problems[0], "backend-service: expected to resolve to ClusterIP 10.96.12.34, got [] lookup backend-service: i/o timeout")
	assert.Equal(t, []string{"backend-service: no answer (0 answers)", "backend-service.todo-app.svc.cluster.local: no answer (0 answers)"}, ResolveProblems(nil, ip, names...))

	nodes := Schedulable(cluster)
	broken := Broken(nodes, []Outcome{{Node: "kind-worker", Problems: ResolveProblems(good, ip, names...)}, {Node: "kind-worker2", Problems: problems}})
	require.Len(t, broken, 1)
	assert.Equal(t, "kind-worker2", broken[0].Node)
	assert.Contains(t, Summary(nodes, broken), "1 of 2 nodes: kind-worker2 (backend-service: expected")
}

func TestGetProblems(t *testing.T) {
	url := "http://backend-service:8000/api/health"
	allowed := map[string]bool{"backend-1": true}
	_, p := GetProblems(lines(t, GetAnswer{Status: 200, Pod: "backend-1"}), url, allowed)
	assert.Empty(t, p)
	_, p = GetProblems(lines(t, GetAnswer{Status: 0, Error: "dial tcp: i/o timeout"}), url, allowed)
	assert.Equal(t, []string{"GET " + url + ": expected 200, got 0 dial tcp: i/o timeout"}, p)
	_, p = GetProblems(lines(t, GetAnswer{Status: 200, Pod: "impostor"}), url, allowed)
	assert.Equal(t, []string{"GET " + url + `: answered by "impostor", not one of [backend-1]`}, p)
	_, p = GetProblems(nil, url, allowed)
	assert.Equal(t, []string{"GET " + url + ": no answer"}, p)
	_, p = GetProblems([]json.RawMessage{json.RawMessage(`not json`)}, url, nil)
	assert.Len(t, p, 1)
}

// One pod's chained answers are split by command; a stray line is a
// problem, not dropped.
func TestByOp(t *testing.T) {
	in := []json.RawMessage{
		json.RawMessage(`{"op":"resolve","name":"backend-service","addrs":["10.96.0.10"],"ok":true}`),
		json.RawMessage(`{"op":"get","url":"http://backend-service:8000/api/health","status":200,"pod":"backend-1"}`),
		json.RawMessage(`{"op":"load","sent":1}`),
		json.RawMessage(`{"status":200}`),
		json.RawMessage(`not json`),
	}
	by, problems := ByOp(in, "resolve", "get")
	assert.Len(t, by["resolve"], 1)
	assert.Len(t, by["get"], 1)
	assert.Len(t, problems, 3)
	assert.Contains(t, problems[0], `{"op":"load","sent":1}`)
}
