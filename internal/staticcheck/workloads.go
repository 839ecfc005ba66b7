package staticcheck

import (
	"fmt"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/puretasks/k8s-conformance/internal/manifests"
	"github.com/puretasks/k8s-conformance/internal/spec"
)

func deploymentLabels(w workload) func(*checker) {
	return func(c *checker) {
		want := w.spec().Deployment
		d, res, ok := c.deployment(w)
		if !ok {
			return
		}
		c.namespaced(res, d.Namespace)
		c.labelFloor(res, "metadata.labels", want.Labels, d.Labels)
		c.labelFloor(res, "spec.template.metadata.labels", want.Labels, d.Spec.Template.Labels)
		if d.Spec.Selector == nil {
			c.fail(res, "spec.selector.matchLabels", want.Selector, nil)
			return
		}
		c.selectorExactly(res, "spec.selector.matchLabels", want.Selector, d.Spec.Selector.MatchLabels)
		if len(d.Spec.Selector.MatchExpressions) > 0 {
			c.fail(res, "spec.selector.matchExpressions", nil, len(d.Spec.Selector.MatchExpressions))
		}
	}
}

func deploymentReplicas(w workload) func(*checker) {
	return func(c *checker) {
		d, res, ok := c.deployment(w)
		if !ok {
			return
		}
		if d.Spec.Replicas == nil {
			c.fail(res, "spec.replicas", w.spec().Deployment.Replicas, "unset")
			return
		}
		expect(c, res, "spec.replicas", w.spec().Deployment.Replicas, *d.Spec.Replicas)
	}
}

func deploymentStrategy(w workload) func(*checker) {
	return func(c *checker) {
		want := w.spec().Deployment
		d, res, ok := c.deployment(w)
		if !ok {
			return
		}
		expect(c, res, "spec.strategy.type", "RollingUpdate", string(d.Spec.Strategy.Type))
		ru := d.Spec.Strategy.RollingUpdate
		if ru == nil {
			c.fail(res, "spec.strategy.rollingUpdate", fmt.Sprintf("maxSurge %d, maxUnavailable %d", want.MaxSurge, want.MaxUnavailable), nil)
			return
		}
		c.intOrString(res, "spec.strategy.rollingUpdate.maxSurge", want.MaxSurge, ru.MaxSurge)
		c.intOrString(res, "spec.strategy.rollingUpdate.maxUnavailable", want.MaxUnavailable, ru.MaxUnavailable)
	}
}

func (c *checker) intOrString(res, field string, want int32, got *intstr.IntOrString) {
	if got == nil {
		c.fail(res, field, want, "unset")
		return
	}
	switch {
	case got.Type == intstr.String && isNumber(got.StrVal):
		c.fail(res, field, want, rawText(fmt.Sprintf("%q (a string: taken as a percentage, and it lacks the %%; write %s unquoted)", got.StrVal, got.StrVal)))
	case got.Type != intstr.Int || got.IntVal != want:
		c.fail(res, field, want, got.String())
	}
}

// portAsWritten explains a port given as a string that names no container
// port: a quoted number is a port name to the API server, not a number.
func portAsWritten(p intstr.IntOrString) any {
	if p.Type == intstr.String && isNumber(p.StrVal) {
		return rawText(fmt.Sprintf("%q (a string: taken as a port name, and no container port is named %q; write %s unquoted)", p.StrVal, p.StrVal, p.StrVal))
	}
	if p.Type == intstr.String {
		return rawText(fmt.Sprintf("%q (a port name no container port has)", p.StrVal))
	}
	return p.String()
}

func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

func deploymentContainer(w workload) func(*checker) {
	return func(c *checker) {
		want := w.spec().Deployment.Container
		d, ctr, res, ok := c.container(w)
		if !ok {
			return
		}
		if n := len(d.Spec.Template.Spec.Containers); n != 1 {
			c.fail(res, "spec.template.spec.containers", "1 container", fmt.Sprintf("%d: %s", n, containerNames(d)))
		}
		f := "spec.template.spec.containers[" + want.Name + "]"
		expect(c, res, f+".image", want.Image, ctr.Image)
		expect(c, res, f+".imagePullPolicy", want.PullPolicy, string(ctr.ImagePullPolicy))
		if len(ctr.Ports) != 1 {
			c.fail(res, f+".ports", fmt.Sprintf("1 port (%s %d/%s)", want.PortName, want.Port, want.Protocol), len(ctr.Ports))
		}
		if len(ctr.Ports) == 0 {
			return
		}
		p := ctr.Ports[0]
		expect(c, res, f+".ports[0].name", want.PortName, p.Name)
		expect(c, res, f+".ports[0].containerPort", want.Port, p.ContainerPort)
		expect(c, res, f+".ports[0].protocol", want.Protocol, string(p.Protocol))
		expect(c, res, f+".ports[0].hostPort", int32(0), p.HostPort)
	}
}

func deploymentEnv(w workload) func(*checker) {
	return func(c *checker) {
		want := w.spec().Deployment.Container
		_, ctr, res, ok := c.container(w)
		if !ok {
			return
		}
		f := "spec.template.spec.containers[" + want.Name + "]"
		var cms, secrets []string
		for i, ef := range ctr.EnvFrom {
			switch {
			case ef.Prefix != "":
				c.fail(res, fmt.Sprintf("%s.envFrom[%d].prefix", f, i), "", ef.Prefix)
			case ef.ConfigMapRef != nil:
				cms = append(cms, ef.ConfigMapRef.Name)
				if ef.ConfigMapRef.Optional != nil && *ef.ConfigMapRef.Optional {
					c.fail(res, fmt.Sprintf("%s.envFrom[%d].configMapRef.optional", f, i), false, true)
				}
			case ef.SecretRef != nil:
				secrets = append(secrets, ef.SecretRef.Name)
				if ef.SecretRef.Optional != nil && *ef.SecretRef.Optional {
					c.fail(res, fmt.Sprintf("%s.envFrom[%d].secretRef.optional", f, i), false, true)
				}
			}
		}
		slices.Sort(cms)
		slices.Sort(secrets)
		if !slices.Equal(cms, sorted(want.EnvFromConfigMaps)) {
			c.fail(res, f+".envFrom[].configMapRef", want.EnvFromConfigMaps, cms)
		}
		if !slices.Equal(secrets, sorted(want.EnvFromSecrets)) {
			c.fail(res, f+".envFrom[].secretRef", want.EnvFromSecrets, secrets)
		}
		wantEnv := map[string]string{}
		for _, e := range want.Env {
			wantEnv[e.Name] = e.Value
		}
		gotEnv := map[string]string{}
		for _, e := range ctr.Env {
			if e.ValueFrom != nil {
				c.fail(res, f+".env["+e.Name+"].valueFrom", "a literal value", "valueFrom")
				continue
			}
			gotEnv[e.Name] = e.Value
		}
		c.mapExactly(res, f+".env", wantEnv, gotEnv, false)
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func deploymentResources(w workload) func(*checker) {
	return func(c *checker) {
		want := w.spec().Deployment.Container.Resources
		_, ctr, res, ok := c.container(w)
		if !ok {
			return
		}
		f := "spec.template.spec.containers[" + ctr.Name + "].resources"
		r := ctr.Resources
		c.quantity(res, f+".requests.memory", want.RequestsMemory, r.Requests[corev1.ResourceMemory])
		c.quantity(res, f+".requests.cpu", want.RequestsCPU, r.Requests[corev1.ResourceCPU])
		c.quantity(res, f+".limits.memory", want.LimitsMemory, r.Limits[corev1.ResourceMemory])
		c.quantity(res, f+".limits.cpu", want.LimitsCPU, r.Limits[corev1.ResourceCPU])
		if len(r.Requests) > 2 || len(r.Limits) > 2 {
			c.fail(res, f, "memory and cpu only", fmt.Sprintf("requests %v, limits %v", r.Requests, r.Limits))
		}
	}
}

// quantity compares by value: 1Gi equals 1024Mi, 1000m equals 1.
func (c *checker) quantity(res, field, want string, got resource.Quantity) {
	w := resource.MustParse(want)
	if got.IsZero() {
		c.fail(res, field, want, "unset")
		return
	}
	if w.Cmp(got) != 0 {
		c.fail(res, field, want, got.String())
	}
}

func deploymentProbes(w workload) func(*checker) {
	return func(c *checker) {
		want := w.spec().Deployment.Container
		_, ctr, res, ok := c.container(w)
		if !ok {
			return
		}
		f := "spec.template.spec.containers[" + ctr.Name + "]"
		c.probe(res, f+".startupProbe", want.Startup, ctr.StartupProbe, ctr)
		c.probe(res, f+".livenessProbe", want.Liveness, ctr.LivenessProbe, ctr)
		c.probe(res, f+".readinessProbe", want.Readiness, ctr.ReadinessProbe, ctr)
	}
}

func (c *checker) probe(res, field string, want spec.Probe, got *corev1.Probe, ctr *corev1.Container) {
	if got == nil {
		c.fail(res, field, want.String(), nil)
		return
	}
	if got.HTTPGet == nil {
		c.fail(res, field+".httpGet", "GET "+want.Path, "another handler")
	} else {
		expect(c, res, field+".httpGet.path", want.Path, got.HTTPGet.Path)
		if port, ok := resolvePort(got.HTTPGet.Port, ctr); !ok || port != want.Port {
			c.fail(res, field+".httpGet.port", want.Port, portAsWritten(got.HTTPGet.Port))
		}
		if s := got.HTTPGet.Scheme; s != "" && s != corev1.URISchemeHTTP {
			c.fail(res, field+".httpGet.scheme", "HTTP", string(s))
		}
		expect(c, res, field+".httpGet.host", "", got.HTTPGet.Host)
	}
	expect(c, res, field+".initialDelaySeconds", want.InitialDelaySeconds, got.InitialDelaySeconds)
	expect(c, res, field+".periodSeconds", want.PeriodSeconds, got.PeriodSeconds)
	expect(c, res, field+".failureThreshold", want.FailureThreshold, got.FailureThreshold)
	expect(c, res, field+".timeoutSeconds", want.TimeoutSeconds, got.TimeoutSeconds)
	if got.SuccessThreshold > 1 {
		c.fail(res, field+".successThreshold", "1 (the default)", got.SuccessThreshold)
	}
	if got.TerminationGracePeriodSeconds != nil {
		c.fail(res, field+".terminationGracePeriodSeconds", "unset", *got.TerminationGracePeriodSeconds)
	}
}

// resolvePort turns a port number or a container port name into a number.
func resolvePort(p intstr.IntOrString, ctr *corev1.Container) (int32, bool) {
	if p.Type == intstr.Int {
		return p.IntVal, true
	}
	for _, cp := range ctr.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

func checkUploadsVolume(c *checker) {
	want := seed.Backend.Deployment.Container
	d, ctr, res, ok := c.container(backend)
	if !ok {
		return
	}
	name := seed.Uploads.VolumeName
	vols := d.Spec.Template.Spec.Volumes
	if len(vols) != 1 || vols[0].Name != name {
		var names []string
		for _, v := range vols {
			names = append(names, v.Name)
		}
		c.fail(res, "spec.template.spec.volumes", []string{name}, names)
	}
	var vol *corev1.Volume
	for i := range vols {
		if vols[i].Name == name {
			vol = &vols[i]
		}
	}
	f := "spec.template.spec.volumes[" + name + "]"
	switch {
	case vol == nil:
	case c.profile == manifests.Persistent:
		if vol.PersistentVolumeClaim == nil {
			c.fail(res, f+".persistentVolumeClaim", seed.Uploads.PVC.Name, volumeSource(vol))
		} else {
			expect(c, res, f+".persistentVolumeClaim.claimName", seed.Uploads.PVC.Name, vol.PersistentVolumeClaim.ClaimName)
			expect(c, res, f+".persistentVolumeClaim.readOnly", false, vol.PersistentVolumeClaim.ReadOnly)
		}
	default:
		if vol.EmptyDir == nil {
			c.fail(res, f+".emptyDir", "{}", volumeSource(vol))
		} else if vol.EmptyDir.Medium != "" || vol.EmptyDir.SizeLimit != nil {
			c.fail(res, f+".emptyDir", "{}", fmt.Sprintf("medium %q, sizeLimit %v", vol.EmptyDir.Medium, vol.EmptyDir.SizeLimit))
		}
	}
	mf := "spec.template.spec.containers[" + want.Name + "].volumeMounts"
	if len(ctr.VolumeMounts) != 1 {
		c.fail(res, mf, "1 mount ("+name+" at "+want.UploadsMount+")", len(ctr.VolumeMounts))
	}
	for _, m := range ctr.VolumeMounts {
		if m.Name != name {
			continue
		}
		expect(c, res, mf+"["+name+"].mountPath", want.UploadsMount, m.MountPath)
		expect(c, res, mf+"["+name+"].readOnly", false, m.ReadOnly)
		expect(c, res, mf+"["+name+"].subPath", "", m.SubPath)
		return
	}
	c.fail(res, mf+"["+name+"]", want.UploadsMount, nil)
}

func volumeSource(v *corev1.Volume) string {
	switch {
	case v.EmptyDir != nil:
		return "emptyDir"
	case v.PersistentVolumeClaim != nil:
		return "persistentVolumeClaim " + v.PersistentVolumeClaim.ClaimName
	case v.HostPath != nil:
		return "hostPath " + v.HostPath.Path
	}
	return "another volume source"
}

func service(w workload) func(*checker) {
	return func(c *checker) {
		want := w.spec().Service
		s, res, ok := mustFind[*corev1.Service](c, "Service", want.Name)
		if !ok {
			return
		}
		c.namespaced(res, s.Namespace)
		c.labelFloor(res, "metadata.labels", want.Labels, s.Labels)
		expect(c, res, "spec.type", want.Type, string(s.Spec.Type))
		c.selectorExactly(res, "spec.selector", want.Selector, s.Spec.Selector)
		expect(c, res, "spec.sessionAffinity", want.SessionAffinity, string(s.Spec.SessionAffinity))
		if s.Spec.ClusterIP == corev1.ClusterIPNone {
			c.fail(res, "spec.clusterIP", "allocated (not headless)", "None")
		}
		if len(s.Spec.Ports) != 1 {
			c.fail(res, "spec.ports", "1 port", len(s.Spec.Ports))
		}
		if len(s.Spec.Ports) == 0 {
			return
		}
		p := s.Spec.Ports[0]
		expect(c, res, "spec.ports[0].name", want.PortName, p.Name)
		expect(c, res, "spec.ports[0].port", want.Port, p.Port)
		// The seed writes the number; the container port's name is the same port.
		if !(p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == want.TargetPort) &&
			!(p.TargetPort.Type == intstr.String && p.TargetPort.StrVal == w.spec().Deployment.Container.PortName) {
			c.fail(res, "spec.ports[0].targetPort", want.TargetPort, portAsWritten(p.TargetPort))
		}
		expect(c, res, "spec.ports[0].nodePort", want.NodePort, p.NodePort)
		expect(c, res, "spec.ports[0].protocol", want.Protocol, string(p.Protocol))
	}
}
