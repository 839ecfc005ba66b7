// Package reach judges promises of reachability that hold "from everywhere":
// a NodePort answers on every node's address (L-NODEPORT), and the backend
// Service resolves and answers from a pod on every schedulable node (L-DNS).
// A promise kept on one node and broken on another (externalTrafficPolicy:
// Local with the pods on one node, a NetworkPolicy, a broken kube-proxy on
// one node) fails, naming each node that broke it. The e2e checks gather the
// answers; the judgement here is plain functions, tested with fake answers.
package reach

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Node is a node the promise covers: its name and its address.
type Node struct {
	Name    string
	Address string // InternalIP, else ExternalIP; "" when it reports neither
}

// NodesOf lists every node with its address: a NodePort is promised on all
// of them.
func NodesOf(nodes []corev1.Node) []Node {
	var out []Node
	for _, n := range nodes {
		out = append(out, Node{Name: n.Name, Address: address(n)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Schedulable lists the nodes a pod can land on (no NoSchedule or NoExecute
// taint, not cordoned): L-DNS asks from a pod on each.
func Schedulable(nodes []corev1.Node) []Node {
	var keep []corev1.Node
	for _, n := range nodes {
		if n.Spec.Unschedulable || slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool {
			return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
		}) {
			continue
		}
		keep = append(keep, n)
	}
	return NodesOf(keep)
}

func address(n corev1.Node) string {
	for _, want := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP} {
		for _, a := range n.Status.Addresses {
			if a.Type == want && a.Address != "" {
				return a.Address
			}
		}
	}
	return ""
}

// Outcome is what was seen from (or at) one node: nothing wrong when
// Problems is empty.
type Outcome struct {
	Node     string
	Problems []string
}

// Broken names every node whose outcome has a problem, and a node that was
// expected but has no outcome at all (never asked is not kept). nil when
// every expected node kept the promise; an empty expectation is itself a
// failure (a promise "on every node" checked on none proves nothing).
func Broken(expected []Node, outcomes []Outcome) []Outcome {
	if len(expected) == 0 {
		return []Outcome{{Node: "(none)", Problems: []string{"no node to check: the cluster lists none"}}}
	}
	byNode := map[string]Outcome{}
	for _, o := range outcomes {
		prev := byNode[o.Node]
		byNode[o.Node] = Outcome{Node: o.Node, Problems: append(prev.Problems, o.Problems...)}
	}
	var out []Outcome
	for _, n := range expected {
		o, ok := byNode[n.Name]
		switch {
		case !ok:
			out = append(out, Outcome{Node: n.Name, Problems: []string{"not checked"}})
		case len(o.Problems) > 0:
			out = append(out, o)
		}
	}
	return out
}

// Summary is one line naming the nodes that broke the promise, for the
// check's verdict: "2 of 5 nodes: kind-worker (...), kind-worker2 (...)".
func Summary(expected []Node, broken []Outcome) string {
	var parts []string
	for _, b := range broken {
		parts = append(parts, fmt.Sprintf("%s (%s)", b.Node, strings.Join(b.Problems, "; ")))
	}
	return fmt.Sprintf("%d of %d nodes: %s", len(broken), len(expected), strings.Join(parts, ", "))
}

// ByOp splits one pod's answers by the probe command that printed them
// (`probe resolve ... then get ...` prints both kinds): each line's "op". A
// line with no op, or one not listed in ops, is a problem, never dropped.
func ByOp(lines []json.RawMessage, ops ...string) (map[string][]json.RawMessage, []string) {
	out := map[string][]json.RawMessage{}
	var problems []string
	for _, l := range lines {
		var a struct {
			Op string `json:"op"`
		}
		if err := json.Unmarshal(l, &a); err != nil || !slices.Contains(ops, a.Op) {
			problems = append(problems, fmt.Sprintf("unexpected answer %s (not one of %v)", l, ops))
			continue
		}
		out[a.Op] = append(out[a.Op], l)
	}
	return out, problems
}

// ResolveProblems judges one pod's `probe resolve` answers: each name must
// resolve to the Service's ClusterIP.
func ResolveProblems(lines []json.RawMessage, clusterIP string, names ...string) []string {
	var problems []string
	resolved := map[string]bool{}
	for _, l := range lines {
		var r struct {
			Name  string   `json:"name"`
			Addrs []string `json:"addrs"`
			Error string   `json:"error"`
		}
		if err := json.Unmarshal(l, &r); err != nil {
			problems = append(problems, fmt.Sprintf("unreadable answer %s: %v", l, err))
			continue
		}
		if !slices.Contains(r.Addrs, clusterIP) {
			problems = append(problems, fmt.Sprintf("%s: expected to resolve to ClusterIP %s, got %v %s", r.Name, clusterIP, r.Addrs, r.Error))
			continue
		}
		resolved[r.Name] = true
	}
	for _, n := range names {
		if !resolved[n] && !slices.ContainsFunc(problems, func(p string) bool { return strings.HasPrefix(p, n+":") }) {
			problems = append(problems, fmt.Sprintf("%s: no answer (%d answers)", n, len(lines)))
		}
	}
	return problems
}

// GetAnswer is one `probe get` answer.
type GetAnswer struct {
	Status    int    `json:"status"`
	Pod       string `json:"pod"`
	Error     string `json:"error"`
	LatencyMs int64  `json:"latencyMs"`
}

// GetProblems judges one pod's `probe get` answers: at least one, each a 200
// from one of the pods allowed to answer (nil allows any).
func GetProblems(lines []json.RawMessage, url string, allowed map[string]bool) (answers []GetAnswer, problems []string) {
	for _, l := range lines {
		var g GetAnswer
		if err := json.Unmarshal(l, &g); err != nil {
			problems = append(problems, fmt.Sprintf("unreadable answer %s: %v", l, err))
			continue
		}
		answers = append(answers, g)
		switch {
		case g.Status != 200:
			problems = append(problems, fmt.Sprintf("GET %s: expected 200, got %d %s", url, g.Status, g.Error))
		case allowed != nil && !allowed[g.Pod]:
			problems = append(problems, fmt.Sprintf("GET %s: answered by %q, not one of %v", url, g.Pod, sortedKeys(allowed)))
		}
	}
	if len(answers) == 0 && len(problems) == 0 {
		problems = append(problems, fmt.Sprintf("GET %s: no answer", url))
	}
	return answers, problems
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
