package live

import (
	corev1 "k8s.io/api/core/v1"
)

// AsClusterIP turns a Service the API server accepted (of any type) into a
// ClusterIP Service the API server accepts in another namespace: the suite's
// copies of the manifests (the scale and storage lanes) must not take the
// real frontend-service's NodePort, and a copy the server refuses would make
// checks fail for the suite's own sake. It clears every field the server
// allows only on NodePort, LoadBalancer or ExternalName Services, and the
// cluster IPs the original may pin (they belong to the original). A
// headless Service stays headless; one with no ports (an ExternalName)
// becomes headless, the only ClusterIP form without ports.
func AsClusterIP(svc *corev1.Service) {
	sp := &svc.Spec
	headless := sp.ClusterIP == corev1.ClusterIPNone || len(sp.Ports) == 0
	sp.Type = corev1.ServiceTypeClusterIP
	sp.ClusterIP, sp.ClusterIPs = "", nil
	if headless {
		sp.ClusterIP = corev1.ClusterIPNone
	}
	for i := range sp.Ports {
		sp.Ports[i].NodePort = 0
	}
	sp.ExternalTrafficPolicy = ""
	sp.HealthCheckNodePort = 0
	sp.AllocateLoadBalancerNodePorts = nil
	sp.LoadBalancerIP = ""
	sp.LoadBalancerSourceRanges = nil
	sp.LoadBalancerClass = nil
	sp.ExternalName = ""
}
