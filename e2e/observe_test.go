//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/puretasks/k8s-conformance/internal/live"
	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/spec"
)

func podsOf(ctx context.Context, t *testing.T, id string, w spec.Workload) []corev1.Pod {
	t.Helper()
	pods, err := live.Pods(ctx, suite.Clientset, spec.Namespace, w.Deployment.Selector)
	if err != nil || len(pods) == 0 {
		t.Fatalf("%s: no running pods of Deployment %s: %v", id, w.Deployment.Name, err)
	}
	return pods
}

func proxyJSON(ctx context.Context, pod corev1.Pod, port int32, path string, into any) (int, error) {
	code, raw, err := live.Proxy(ctx, suite.Clientset, "GET", pod.Namespace, pod.Name, port, path, nil)
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

func envFeature() features.Feature {
	const id = "L-ENV"
	return check(id, "backend pods see the 11 ConfigMap values and the 12 Secret key names; frontend pods see no Secret key").
		Assess("backend environment", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			requireAvailable(ctx, t, id)
			b := spec.Seed.Backend
			for _, p := range podsOf(ctx, t, id, b) {
				var r struct {
					ConfigMap  map[string]string `json:"configMap"`
					SecretKeys []string          `json:"secretKeys"`
				}
				if _, err := proxyJSON(ctx, p, b.Deployment.Container.Port, "/api/env", &r); err != nil {
					failf(t, id, "pod "+p.Name, "GET /api/env: %v", err)
					continue
				}
				matched := 0
				for _, k := range slices.Sorted(maps.Keys(spec.Seed.ConfigMap.Data)) {
					want := spec.Seed.ConfigMap.Data[k]
					switch got, ok := r.ConfigMap[k]; {
					case !ok:
						failf(t, id, "pod "+p.Name, "env %s: expected %q, not set", k, want)
					case got != want:
						failf(t, id, "pod "+p.Name, "env %s: expected %q, got %q", k, want, got)
					default:
						matched++
					}
				}
				missing := slices.DeleteFunc(slices.Clone(spec.Seed.Secret.Keys), func(k string) bool { return slices.Contains(r.SecretKeys, k) })
				if len(missing) > 0 {
					failf(t, id, "pod "+p.Name, "expected the Secret's keys in the environment; missing %v", missing)
				}
				measure(t, id, "backend %s: %d/%d ConfigMap values, %d/%d Secret key names (values never read)", p.Name, matched, len(spec.Seed.ConfigMap.Data), len(r.SecretKeys), len(spec.Seed.Secret.Keys))
			}
			return ctx
		}).
		Assess("frontend environment has no Secret key", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			requireAvailable(ctx, t, id)
			f := spec.Seed.Frontend
			for _, p := range podsOf(ctx, t, id, f) {
				var r struct {
					SecretKeys []string `json:"secretKeys"`
				}
				if _, err := proxyJSON(ctx, p, f.Deployment.Container.Port, "/api/env", &r); err != nil {
					failf(t, id, "pod "+p.Name, "GET /api/env: %v", err)
					continue
				}
				if len(r.SecretKeys) > 0 {
					failf(t, id, "pod "+p.Name, "expected no Secret key in the frontend, found %v", r.SecretKeys)
				}
				measure(t, id, "frontend %s: %d Secret key names visible", p.Name, len(r.SecretKeys))
			}
			return ctx
		}).
		Feature()
}

func qosFeature() features.Feature {
	const id = "L-QOS"
	return check(id, "pods run with QoS class Burstable, requests below limits").
		Assess("QoS class of every pod", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			requireAvailable(ctx, t, id)
			for _, w := range workloads() {
				for _, p := range podsOf(ctx, t, id, w) {
					if p.Status.QOSClass != corev1.PodQOSBurstable {
						failf(t, id, "pod "+p.Name, "status.qosClass: expected Burstable, got %s", p.Status.QOSClass)
					}
					for _, c := range p.Spec.Containers {
						for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
							req, lim := c.Resources.Requests[r], c.Resources.Limits[r]
							if req.Cmp(lim) >= 0 {
								failf(t, id, "pod "+p.Name, "container %s %s: expected request < limit, got %s / %s", c.Name, r, req.String(), lim.String())
							}
						}
					}
					measure(t, id, "%s: %s", p.Name, p.Status.QOSClass)
				}
			}
			return ctx
		}).
		Feature()
}

func dnsFeature() features.Feature {
	const id = "L-DNS"
	b := spec.Seed.Backend
	short := b.Service.Name
	fqdn := fmt.Sprintf("%s.%s.svc.cluster.local", b.Service.Name, spec.Namespace)
	return check(id, "backend-service resolves by short name and FQDN from a pod; /api/health answers 200; the frontend reaches it through NEXT_PUBLIC_API_URL").
		Assess("names resolve to the Service's ClusterIP", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			requireAvailable(ctx, t, id)
			svc, err := suite.Clientset.CoreV1().Services(spec.Namespace).Get(ctx, short, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("%s: Service %s: %v", id, short, err)
			}
			lines, ok, err := live.ProbeJob{Namespace: spec.Namespace, Name: "dns-resolve", Image: b.Deployment.Container.Image,
				Args: []string{"resolve", short, fqdn}, Interval: poll.JobComplete}.Run(ctx, suite.Clientset)
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			for _, l := range lines {
				var r struct {
					Name  string   `json:"name"`
					Addrs []string `json:"addrs"`
					Error string   `json:"error"`
				}
				_ = json.Unmarshal(l, &r)
				measure(t, id, "resolve %s -> %v %s", r.Name, r.Addrs, r.Error)
				if !slices.Contains(r.Addrs, svc.Spec.ClusterIP) {
					failf(t, id, "Service "+short, "%s: expected to resolve to ClusterIP %s, got %v %s", r.Name, svc.Spec.ClusterIP, r.Addrs, r.Error)
				}
			}
			if !ok || len(lines) != 2 {
				failf(t, id, "Service "+short, "expected both names to resolve from a pod in %s (job ok=%v, %d answers)", spec.Namespace, ok, len(lines))
			}
			return ctx
		}).
		Assess("http://backend-service:8000/api/health answers 200 in-cluster", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			requireAvailable(ctx, t, id)
			url := fmt.Sprintf("http://%s:%d%s", short, b.Service.Port, spec.HealthPath)
			lines, ok, err := live.ProbeJob{Namespace: spec.Namespace, Name: "dns-get", Image: b.Deployment.Container.Image,
				Args: []string{"get", url}, Interval: poll.JobComplete}.Run(ctx, suite.Clientset)
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			for _, l := range lines {
				var g struct {
					Status    int    `json:"status"`
					Pod       string `json:"pod"`
					Error     string `json:"error"`
					LatencyMs int64  `json:"latencyMs"`
				}
				_ = json.Unmarshal(l, &g)
				measure(t, id, "GET %s from a pod: %d from %s in %dms %s", url, g.Status, g.Pod, g.LatencyMs, g.Error)
			}
			if !ok {
				failf(t, id, "Service "+short, "GET %s: expected 200", url)
			}
			return ctx
		}).
		Assess("the frontend pod reaches the backend through NEXT_PUBLIC_API_URL", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			requireAvailable(ctx, t, id)
			f := spec.Seed.Frontend
			backendPods := map[string]bool{}
			for _, p := range podsOf(ctx, t, id, b) {
				backendPods[p.Name] = true
			}
			for _, p := range podsOf(ctx, t, id, f) {
				var r struct {
					URL        string `json:"url"`
					Status     int    `json:"status"`
					BackendPod string `json:"backendPod"`
					Error      string `json:"error"`
					LatencyMs  int64  `json:"latencyMs"`
				}
				code, err := proxyJSON(ctx, p, f.Deployment.Container.Port, "/api/backend-health", &r)
				if err != nil {
					failf(t, id, "pod "+p.Name, "GET /api/backend-health: %v", err)
					continue
				}
				measure(t, id, "frontend %s -> %s: %d from %s in %dms %s", p.Name, r.URL, r.Status, r.BackendPod, r.LatencyMs, r.Error)
				if code != http.StatusOK || r.Status != http.StatusOK || !backendPods[r.BackendPod] {
					failf(t, id, "pod "+p.Name, "expected 200 from a backend pod via %s, got %d from %q (%s)", spec.Seed.ProxyURL(), r.Status, r.BackendPod, r.Error)
				}
			}
			return ctx
		}).
		Feature()
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

// nodeIPs are the kind node containers' addresses: this run's own containers.
func nodeIPs(ctx context.Context, t *testing.T) []string {
	if suite.Cluster == nil {
		return nil
	}
	names, err := suite.Cluster.Nodes()
	if err != nil {
		t.Fatalf("listing nodes: %v", err)
	}
	var ips []string
	for _, n := range names {
		out, err := exec.CommandContext(ctx, "docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", n).Output()
		if err != nil {
			t.Fatalf("docker inspect %s: %v", n, err)
		}
		ips = append(ips, strings.Fields(string(out))...)
	}
	return ips
}

func internalFeature() features.Feature {
	const id = "L-INTERNAL"
	return check(id, "backend-service is not reachable from the host").
		Assess("the host cannot open a connection to the backend", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			requireAvailable(ctx, t, id)
			b := spec.Seed.Backend
			svc, err := suite.Clientset.CoreV1().Services(spec.Namespace).Get(ctx, b.Service.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			measure(t, id, "live Service: type %s, clusterIP %s", svc.Spec.Type, svc.Spec.ClusterIP)
			// Only this machine's addresses are tried: loopback and the node
			// containers. The ClusterIP itself has no route from the host.
			hosts := append([]string{"127.0.0.1"}, nodeIPs(ctx, t)...)
			ports := []int32{b.Service.Port, b.Service.TargetPort}
			for _, p := range svc.Spec.Ports {
				if p.NodePort != 0 {
					ports = append(ports, p.NodePort)
				}
			}
			tried := 0
			for _, h := range hosts {
				for _, p := range slices.Compact(slices.Sorted(slices.Values(ports))) {
					addr := net.JoinHostPort(h, fmt.Sprint(p))
					tried++
					if err := reachable(addr); err == nil {
						failf(t, id, "Service "+b.Service.Name, "expected %s to be closed to the host, but it accepted a connection (type %s)", addr, svc.Spec.Type)
					}
				}
			}
			measure(t, id, "%d host addresses tried (%v x ports %v): none reached the backend", tried, hosts, ports)
			// Control: the same method does reach the frontend's NodePort, so
			// the check above could have failed.
			f := spec.Seed.Frontend
			ctl := net.JoinHostPort(suite.NodePortHost, fmt.Sprint(f.Service.NodePort))
			if err := reachable(ctl); err != nil {
				failf(t, id, "control "+ctl, "expected the frontend NodePort to be reachable from the host (method check): %v", err)
			} else {
				measure(t, id, "control: %s reachable", ctl)
			}
			return ctx
		}).
		Feature()
}

func nodePortFeature() features.Feature {
	const id = "L-NODEPORT"
	return check(id, "http://localhost:30000/api/health answers 200 from the host").
		Assess("GET from the host through kind's port mapping", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			requireAvailable(ctx, t, id)
			f := spec.Seed.Frontend
			url := fmt.Sprintf("http://%s:%d%s", suite.NodePortHost, f.Service.NodePort, spec.HealthPath)
			frontendPods := map[string]bool{}
			for _, p := range podsOf(ctx, t, id, f) {
				frontendPods[p.Name] = true
			}
			client := &http.Client{Timeout: dialTimeout}
			var last string
			var latency time.Duration
			var pod string
			err := poll.Until(ctx, poll.HostPort, func(ctx context.Context) (bool, error) {
				start := time.Now()
				resp, err := client.Get(url)
				if err != nil {
					last = err.Error()
					return false, nil
				}
				resp.Body.Close()
				latency, pod = time.Since(start), resp.Header.Get("X-Stub-Pod")
				last = live.HTTPStatusText(resp.StatusCode)
				return resp.StatusCode == http.StatusOK, nil
			})
			if err != nil {
				failf(t, id, "Service "+f.Service.Name, "GET %s: expected 200, last: %s (%v)", url, last, err)
				return ctx
			}
			measure(t, id, "GET %s: %s from %s in %s", url, last, pod, latency.Round(100*time.Microsecond))
			if !frontendPods[pod] {
				failf(t, id, "Service "+f.Service.Name, "expected a frontend pod to answer, got %q", pod)
			}
			return ctx
		}).
		Feature()
}
