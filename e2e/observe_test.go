//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/puretasks/k8s-conformance/internal/lanes"
	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/reach"
	"github.com/puretasks/k8s-conformance/internal/report"
	"github.com/puretasks/k8s-conformance/internal/spec"
	"github.com/puretasks/k8s-conformance/internal/traffic"
)

// podsOf lists the running pods of w in todo-app; none is a failure.
func podsOf(ctx context.Context, t *testing.T, c *live.Check, w spec.Workload) []corev1.Pod {
	t.Helper()
	pods, err := live.Pods(ctx, c.Suite.Clientset, spec.Namespace, w.Deployment.Selector)
	if err != nil {
		c.Abort(t, report.CodeAPI, "Deployment "+w.Deployment.Name, "listing its pods: %v", err)
	}
	if len(pods) == 0 {
		c.Fatal(t, "Deployment "+w.Deployment.Name, "expected running pods, found none")
	}
	return pods
}

// proxyJSON calls a pod through the API server and decodes its JSON answer.
func proxyJSON(ctx context.Context, s *live.Suite, pod corev1.Pod, port int32, path string, into any) (int, error) {
	code, raw, err := live.Proxy(ctx, s.Clientset, "GET", pod.Namespace, pod.Name, port, path, nil)
	if err != nil {
		return code, err
	}
	if into != nil {
		if err := json.Unmarshal(raw, into); err != nil {
			return code, fmt.Errorf("unreadable answer %q: %w", raw, err)
		}
	}
	return code, nil
}

// proxyAnswer calls a pod through the API server and decodes its JSON
// answer, which must come with status want: any other status (a 503 from the
// proxy, an API error body) is a *live.AnswerError, never an answer.
func proxyAnswer(ctx context.Context, s *live.Suite, pod corev1.Pod, port int32, path string, want int, into any) error {
	code, raw, err := live.Proxy(ctx, s.Clientset, "GET", pod.Namespace, pod.Name, port, path, nil)
	via := fmt.Sprintf("GET %s on pod %s/%s through the API server", path, pod.Namespace, pod.Name)
	if err != nil {
		return fmt.Errorf("%s: %w", via, err)
	}
	return live.DecodeAnswer(via, code, raw, into, want)
}

func envFeature() features.Feature {
	const id = "L-ENV"
	return check(id, "backend pods see the 11 ConfigMap values and the 12 Secret key names; frontend pods see no Secret key").
		Assess("backend environment", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			c, s := requireAvailable(ctx, t)
			b := spec.Seed.Backend
			for _, p := range podsOf(ctx, t, c, b) {
				var r struct {
					ConfigMap  map[string]string `json:"configMap"`
					SecretKeys []string          `json:"secretKeys"`
				}
				if err := proxyAnswer(ctx, s, p, b.Deployment.Container.Port, "/api/env", http.StatusOK, &r); err != nil {
					c.Error(t, report.CodeAPI, "pod "+p.Name, "no answer to judge: %v", err)
					continue
				}
				matched := 0
				for _, k := range slices.Sorted(maps.Keys(spec.Seed.ConfigMap.Data)) {
					want := spec.Seed.ConfigMap.Data[k]
					switch got, ok := r.ConfigMap[k]; {
					case !ok:
						c.Fail(t, "pod "+p.Name, "env %s: expected %q, not set", k, want)
					case got != want:
						c.Fail(t, "pod "+p.Name, "env %s: expected %q, got %q", k, want, got)
					default:
						matched++
					}
				}
				missing := slices.DeleteFunc(slices.Clone(spec.Seed.Secret.Keys), func(k string) bool { return slices.Contains(r.SecretKeys, k) })
				if len(missing) > 0 {
					c.Fail(t, "pod "+p.Name, "expected the Secret's keys in the environment; missing %v", missing)
				}
				c.Measure(t, "backend %s: %d/%d ConfigMap values, %d/%d Secret key names (values never read)", p.Name, matched, len(spec.Seed.ConfigMap.Data), len(r.SecretKeys), len(spec.Seed.Secret.Keys))
			}
			return ctx
		}).
		Assess("frontend environment has no Secret key", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			c, s := requireAvailable(ctx, t)
			f := spec.Seed.Frontend
			for _, p := range podsOf(ctx, t, c, f) {
				var r struct {
					SecretKeys []string `json:"secretKeys"`
				}
				if err := proxyAnswer(ctx, s, p, f.Deployment.Container.Port, "/api/env", http.StatusOK, &r); err != nil {
					c.Error(t, report.CodeAPI, "pod "+p.Name, "no answer to judge: %v", err)
					continue
				}
				if len(r.SecretKeys) > 0 {
					c.Fail(t, "pod "+p.Name, "expected no Secret key in the frontend, found %v", r.SecretKeys)
				}
				c.Measure(t, "frontend %s: %d Secret key names visible", p.Name, len(r.SecretKeys))
			}
			return ctx
		}).
		Feature()
}

func qosFeature() features.Feature {
	const id = "L-QOS"
	return check(id, "pods run with QoS class Burstable, requests below limits").
		Assess("QoS class of every pod", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			c, _ := requireAvailable(ctx, t)
			for _, w := range lanes.Workloads() {
				for _, p := range podsOf(ctx, t, c, w) {
					if p.Status.QOSClass != corev1.PodQOSBurstable {
						c.Fail(t, "pod "+p.Name, "status.qosClass: expected Burstable, got %s", p.Status.QOSClass)
					}
					for _, ctr := range p.Spec.Containers {
						for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
							req, lim := ctr.Resources.Requests[r], ctr.Resources.Limits[r]
							if req.Cmp(lim) >= 0 {
								c.Fail(t, "pod "+p.Name, "container %s %s: expected request < limit, got %s / %s", ctr.Name, r, req.String(), lim.String())
							}
						}
					}
					c.Measure(t, "%s: %s", p.Name, p.Status.QOSClass)
				}
			}
			return ctx
		}).
		Feature()
}

// fromEachNode runs one probe Job per node, pinned to it, all at once, and
// judges each node's answers with judge. Every node of nodes must keep the
// promise (reach.Broken); each one that does not is a failure naming it.
func fromEachNode(ctx context.Context, t *testing.T, c *live.Check, what string, nodes []reach.Node,
	job func(i int, n reach.Node) live.ProbeJob, judge func(n reach.Node, lines []json.RawMessage) (measures, problems []string)) {
	t.Helper()
	outcomes := make([]reach.Outcome, len(nodes))
	measures := make([][]string, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j := job(i, n)
			j.NodeName = n.Name
			lines, ok, err := j.Run(ctx, c.Suite.Clientset)
			o := reach.Outcome{Node: n.Name}
			switch {
			case err != nil:
				o.Problems = []string{fmt.Sprintf("Job %s: %v", j.Name, err)}
			default:
				measures[i], o.Problems = judge(n, lines)
				if !ok && len(o.Problems) == 0 {
					o.Problems = []string{fmt.Sprintf("Job %s did not succeed", j.Name)}
				}
			}
			outcomes[i] = o
		}()
	}
	wg.Wait()
	for _, m := range measures {
		for _, line := range m {
			c.Measure(t, "%s", line)
		}
	}
	broken := reach.Broken(nodes, outcomes)
	for _, b := range broken {
		c.Fail(t, "node "+b.Node, "%s: %s", what, strings.Join(b.Problems, "; "))
	}
	if len(broken) > 0 {
		c.Measure(t, "%s: broken on %s", what, reach.Summary(nodes, broken))
	} else {
		c.Measure(t, "%s: kept on all %d schedulable nodes", what, len(nodes))
	}
}

// schedulableNodes lists the nodes a pod can land on; none is a failure.
func schedulableNodes(ctx context.Context, t *testing.T, c *live.Check) []reach.Node {
	t.Helper()
	list, err := c.Suite.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		c.Fatal(t, "nodes", "listing them: %v", err)
	}
	nodes := reach.Schedulable(list.Items)
	if len(nodes) == 0 {
		c.Fatal(t, "nodes", "expected at least one schedulable node, found none of %d", len(list.Items))
	}
	return nodes
}

func dnsFeature() features.Feature {
	const id = "L-DNS"
	b := spec.Seed.Backend
	short := b.Service.Name
	fqdn := fmt.Sprintf("%s.%s.svc.cluster.local", b.Service.Name, spec.Namespace)
	return check(id, "backend-service resolves by short name and FQDN from a pod on each schedulable node; /api/health answers 200 from each; the frontend reaches it through NEXT_PUBLIC_API_URL").
		NeedsClusterDNS().
		// One Job per node asks both questions in one pod (`probe resolve ...
		// then get ...`): a pod's scheduling and start is most of a Job's
		// time, so one round, not two.
		Assess("names resolve to the Service's ClusterIP, then http://backend-service:8000/api/health answers 200, from a pod on each schedulable node", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			c, s := requireAvailable(ctx, t)
			svc, err := s.Clientset.CoreV1().Services(spec.Namespace).Get(ctx, short, metav1.GetOptions{})
			if err != nil {
				c.Fatal(t, "Service "+short, "reading it: %v", err)
			}
			url := fmt.Sprintf("http://%s:%d%s", short, b.Service.Port, spec.HealthPath)
			backendPods := map[string]bool{}
			for _, p := range podsOf(ctx, t, c, b) {
				backendPods[p.Name] = true
			}
			nodes := schedulableNodes(ctx, t, c)
			fromEachNode(ctx, t, c, "resolving "+short+" and "+fqdn+", then GET "+url, nodes,
				func(i int, _ reach.Node) live.ProbeJob {
					return live.ProbeJob{Namespace: spec.Namespace, Name: fmt.Sprintf("dns-%d", i), Image: b.Deployment.Container.Image,
						Args: []string{"resolve", short, fqdn, "then", "get", url}, Interval: poll.JobComplete}
				},
				func(n reach.Node, lines []json.RawMessage) (measures, problems []string) {
					by, problems := reach.ByOp(lines, "resolve", "get")
					measures = append(measures, fmt.Sprintf("resolve from a pod on %s: %s", n.Name, joinLines(by["resolve"])))
					problems = append(problems, reach.ResolveProblems(by["resolve"], svc.Spec.ClusterIP, short, fqdn)...)
					answers, getProblems := reach.GetProblems(by["get"], url, backendPods)
					for _, g := range answers {
						measures = append(measures, fmt.Sprintf("GET %s from a pod on %s: %d from %s in %dms %s", url, n.Name, g.Status, g.Pod, g.LatencyMs, g.Error))
					}
					return measures, append(problems, getProblems...)
				})
			return ctx
		}).
		Assess("the frontend pod reaches the backend through NEXT_PUBLIC_API_URL", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			c, s := requireAvailable(ctx, t)
			f := spec.Seed.Frontend
			backendPods := map[string]bool{}
			for _, p := range podsOf(ctx, t, c, b) {
				backendPods[p.Name] = true
			}
			for _, p := range podsOf(ctx, t, c, f) {
				var r struct {
					URL        string `json:"url"`
					Status     int    `json:"status"`
					BackendPod string `json:"backendPod"`
					Error      string `json:"error"`
					LatencyMs  int64  `json:"latencyMs"`
				}
				code, err := proxyJSON(ctx, s, p, f.Deployment.Container.Port, "/api/backend-health", &r)
				if err != nil {
					c.Fail(t, "pod "+p.Name, "GET /api/backend-health: %v", err)
					continue
				}
				c.Measure(t, "frontend %s -> %s: %d from %s in %dms %s", p.Name, r.URL, r.Status, r.BackendPod, r.LatencyMs, r.Error)
				if code != http.StatusOK || r.Status != http.StatusOK || !backendPods[r.BackendPod] {
					c.Fail(t, "pod "+p.Name, "expected 200 from a backend pod via %s, got %d from %q (%s)", spec.Seed.ProxyURL(), r.Status, r.BackendPod, r.Error)
				}
			}
			return ctx
		}).
		Feature()
}

// joinLines shows a probe's answers on one line.
func joinLines(lines []json.RawMessage) string {
	var parts []string
	for _, l := range lines {
		parts = append(parts, string(l))
	}
	return strings.Join(parts, " ")
}

// dialTimeout bounds each reachability attempt from the host.
const dialTimeout = 2 * time.Second

func reachable(addr string) error {
	c, err := net.DialTimeout("tcp", addr, dialTimeout)
	if err == nil {
		c.Close()
	}
	return err
}

// NodeAddresses are the nodes' InternalIP and ExternalIP addresses as the API
// reports them: the kind node containers here, any cluster's nodes with
// E2E_KUBECONFIG.
func nodeAddresses(ctx context.Context, s *live.Suite) ([]string, error) {
	nodes, err := s.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range nodes.Items {
		for _, a := range n.Status.Addresses {
			if (a.Type == corev1.NodeInternalIP || a.Type == corev1.NodeExternalIP) && !slices.Contains(out, a.Address) {
				out = append(out, a.Address)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no node reports an InternalIP or ExternalIP (%d nodes)", len(nodes.Items))
	}
	return out, nil
}

func internalFeature() features.Feature {
	const id = "L-INTERNAL"
	return check(id, "backend-service is not reachable from the host").
		Assess("the host cannot open a connection to the backend", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			c, s := requireAvailable(ctx, t)
			b := spec.Seed.Backend
			svc, err := s.Clientset.CoreV1().Services(spec.Namespace).Get(ctx, b.Service.Name, metav1.GetOptions{})
			if err != nil {
				c.Fatal(t, "Service "+b.Service.Name, "reading it: %v", err)
			}
			c.Measure(t, "live Service: type %s, clusterIP %s", svc.Spec.Type, svc.Spec.ClusterIP)
			// The addresses this host can reach the cluster by: loopback (kind
			// maps ports there), the NodePort host, and every node's address.
			// The ClusterIP itself has no route from the host.
			addrs, err := nodeAddresses(ctx, s)
			if err != nil {
				c.Fatal(t, "nodes", "reading the nodes' addresses: %v", err)
			}
			hosts := []string{"127.0.0.1"}
			for _, h := range append([]string{s.NodePortHost}, addrs...) {
				if !slices.Contains(hosts, h) {
					hosts = append(hosts, h)
				}
			}
			ports := []int32{b.Service.Port, b.Service.TargetPort}
			for _, p := range svc.Spec.Ports {
				ports = append(ports, p.Port, p.TargetPort.IntVal)
				if p.NodePort != 0 {
					ports = append(ports, p.NodePort)
				}
			}
			ports = slices.DeleteFunc(slices.Compact(slices.Sorted(slices.Values(ports))), func(p int32) bool { return p == 0 })
			tried := 0
			for _, h := range hosts {
				for _, p := range ports {
					addr := net.JoinHostPort(h, fmt.Sprint(p))
					tried++
					if err := reachable(addr); err == nil {
						c.Fail(t, "Service "+b.Service.Name, "expected %s to be closed to the host, but it accepted a connection (type %s)", addr, svc.Spec.Type)
					}
				}
			}
			c.Measure(t, "%d host addresses tried (%v x ports %v): none reached the backend", tried, hosts, ports)
			// Control: the same method does reach the frontend's NodePort on
			// every node address, so the check above could have failed.
			f := spec.Seed.Frontend
			for _, h := range append([]string{s.NodePortHost}, addrs...) {
				ctl := net.JoinHostPort(h, fmt.Sprint(f.Service.NodePort))
				if err := reachable(ctl); err != nil {
					c.Fail(t, "control "+ctl, "expected the frontend NodePort to be reachable from the host (method check): %v", err)
				}
			}
			c.Measure(t, "control: frontend NodePort %d reachable on %s and every node address", f.Service.NodePort, s.NodePortHost)
			return ctx
		}).
		Feature()
}

// nodePortConsecutive is how many requests in a row must all answer 200
// once the NodePort first answers: one lucky answer proves nothing.
const nodePortConsecutive = 20

// nodePortInterval spaces those requests.
const nodePortInterval = 50 * time.Millisecond

// nodePortAnswers is what one address of the NodePort did: "" problem when
// it kept the promise.
type nodePortAnswer struct {
	url      string
	measures []string
	problem  string
	pods     map[string]int
}

// askNodePort waits until url first answers (kube-proxy programs the port
// after the Service exists), then sends nodePortConsecutive requests in a
// row, each on a new connection: every one must be a 200 from a frontend pod.
func askNodePort(ctx context.Context, url string, frontendPods map[string]bool) nodePortAnswer {
	a := nodePortAnswer{url: url}
	var last string
	first := time.Now()
	err := poll.Until(ctx, poll.HostPort, func(ctx context.Context) (bool, error) {
		status, _, err := traffic.Get(ctx, url, dialTimeout)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = live.HTTPStatusText(status)
		return true, nil
	})
	if err != nil {
		a.problem = fmt.Sprintf("GET %s: the port never answered; last: %s (%v)", url, last, err)
		return a
	}
	a.measures = append(a.measures, fmt.Sprintf("GET %s first answered after %s (%s)", url, time.Since(first).Round(time.Millisecond), last))
	sum, err := traffic.Consecutive(ctx, url, nodePortConsecutive, nodePortInterval, dialTimeout)
	a.pods = sum.Pods
	a.measures = append(a.measures, fmt.Sprintf("%s: %d consecutive GETs: %d sent, %d failed, answered by %v, latency p50 %.1fms max %.1fms", url, nodePortConsecutive, sum.Sent, sum.Failed, sum.Pods, sum.P50Ms, sum.MaxMs))
	var problems []string
	if err != nil {
		problems = append(problems, fmt.Sprintf("GET %s: %v", url, err))
	}
	for _, pod := range slices.Sorted(maps.Keys(sum.Pods)) {
		if !frontendPods[pod] {
			problems = append(problems, fmt.Sprintf("GET %s: expected only frontend pods %v to answer, got %q", url, slices.Sorted(maps.Keys(frontendPods)), pod))
		}
	}
	a.problem = strings.Join(problems, "; ")
	return a
}

func nodePortFeature() features.Feature {
	const id = "L-NODEPORT"
	return check(id, fmt.Sprintf("/api/health on NodePort 30000 answers 200 from the host at localhost and at every node's address, %d requests in a row each", nodePortConsecutive)).
		Assess("GET from the host through the NodePort, on localhost and on every node", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			c, s := requireAvailable(ctx, t)
			f := spec.Seed.Frontend
			frontendPods := map[string]bool{}
			for _, p := range podsOf(ctx, t, c, f) {
				frontendPods[p.Name] = true
			}
			list, err := s.Clientset.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			if err != nil {
				c.Fatal(t, "nodes", "listing them: %v", err)
			}
			// A NodePort is promised on every node's address, and at
			// localhost (kind maps it there; E2E_NODEPORT_HOST elsewhere).
			// All are asked at once.
			nodes := reach.NodesOf(list.Items)
			host := nodePortAnswer{}
			answers := make([]nodePortAnswer, len(nodes))
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				host = askNodePort(ctx, fmt.Sprintf("http://%s%s", net.JoinHostPort(s.NodePortHost, fmt.Sprint(f.Service.NodePort)), spec.HealthPath), frontendPods)
			}()
			for i, n := range nodes {
				if n.Address == "" {
					answers[i].problem = "reports no InternalIP or ExternalIP"
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					answers[i] = askNodePort(ctx, fmt.Sprintf("http://%s%s", net.JoinHostPort(n.Address, fmt.Sprint(f.Service.NodePort)), spec.HealthPath), frontendPods)
				}()
			}
			wg.Wait()
			for _, a := range append([]nodePortAnswer{host}, answers...) {
				for _, m := range a.measures {
					c.Measure(t, "%s", m)
				}
			}
			if host.problem != "" {
				c.Fail(t, "Service "+f.Service.Name, "%s", host.problem)
			}
			outcomes := make([]reach.Outcome, len(nodes))
			for i, n := range nodes {
				outcomes[i] = reach.Outcome{Node: n.Name}
				if answers[i].problem != "" {
					outcomes[i].Problems = []string{answers[i].problem}
				}
			}
			broken := reach.Broken(nodes, outcomes)
			for _, b := range broken {
				c.Fail(t, "Service "+f.Service.Name+" on node "+b.Node, "expected NodePort %d to answer on every node's address: %s", f.Service.NodePort, strings.Join(b.Problems, "; "))
			}
			if len(broken) > 0 {
				c.Measure(t, "NodePort %d broken on %s", f.Service.NodePort, reach.Summary(nodes, broken))
			} else {
				c.Measure(t, "NodePort %d answered on %s and on all %d nodes", f.Service.NodePort, s.NodePortHost, len(nodes))
			}
			return ctx
		}).
		Feature()
}
