package staticcheck

import (
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The API server's defaulting, for the fields of the seed's seven kinds.
//
// The server's own functions (SetObjectDefaults_* in
// k8s.io/kubernetes/pkg/apis/core/v1 and apps/v1) are not importable as a
// module, so each function below restates one of them for the kinds a
// todo-app set holds, and nothing else. They were read from
// k8s.io/kubernetes v1.36.3 (defaults.go and zz_generated.defaults.go of
// pkg/apis/core/v1 and pkg/apis/apps/v1). testdata/stored/*.json is the
// golden table of the repository's manifests as the API server stores them,
// and TestDefaultingMatchesTheStoredObjects holds these functions to it.
// golden_live_test.go (tag storedlive) records it from a cluster's dry-run
// create (re-recorded 2026-12-04 from Kubernetes v1.36.3 with -update-stored;
// the first, source-derived table lacked the storage-protection finalizers).
//
// Besides SetDefaults_*, the registry fills a few fields on create that are
// the same for every object of a single-stack cluster; those are defaulted
// here too and named as such: a Service's ipFamilyPolicy (SingleStack), a
// Namespace's spec.finalizers (kubernetes), and the finalizers the
// StorageObjectInUseProtection admission plugin puts on every PV and PVC
// (kubernetes.io/pv-protection, kubernetes.io/pvc-protection). Fields the server fills per
// object (UIDs, cluster IPs, ipFamilies, allocated node ports) are not
// defaults: the comparison leaves them out (serverFilled).

// defaulted returns a deep copy of obj with the API server's defaults
// applied; kinds outside the seed's are returned as they are.
func defaulted(obj runtime.Object) runtime.Object {
	switch o := obj.(type) {
	case *corev1.Service:
		o = o.DeepCopy()
		defaultService(o)
		return o
	case *appsv1.Deployment:
		o = o.DeepCopy()
		defaultDeployment(o)
		return o
	case *corev1.PersistentVolume:
		o = o.DeepCopy()
		defaultPV(o)
		return o
	case *corev1.PersistentVolumeClaim:
		o = o.DeepCopy()
		defaultPVC(o)
		return o
	case *corev1.Secret:
		o = o.DeepCopy()
		defaultSecret(o)
		return o
	case *corev1.ConfigMap:
		o = o.DeepCopy()
		if o.Data == nil { // SetDefaults_ConfigMap
			o.Data = map[string]string{}
		}
		return o
	case *corev1.Namespace:
		o = o.DeepCopy()
		defaultNamespace(o)
		return o
	}
	return obj
}

// defaultService is SetDefaults_Service, and the registry's ipFamilyPolicy
// for a single-stack cluster.
func defaultService(s *corev1.Service) {
	sp := &s.Spec
	if sp.SessionAffinity == "" {
		sp.SessionAffinity = corev1.ServiceAffinityNone
	}
	if sp.SessionAffinity == corev1.ServiceAffinityNone {
		sp.SessionAffinityConfig = nil
	}
	if sp.SessionAffinity == corev1.ServiceAffinityClientIP {
		if sp.SessionAffinityConfig == nil || sp.SessionAffinityConfig.ClientIP == nil || sp.SessionAffinityConfig.ClientIP.TimeoutSeconds == nil {
			timeout := corev1.DefaultClientIPServiceAffinitySeconds
			sp.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: &timeout}}
		}
	}
	if sp.Type == "" {
		sp.Type = corev1.ServiceTypeClusterIP
	}
	for i := range sp.Ports {
		p := &sp.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		if p.TargetPort == intstr.FromInt32(0) || p.TargetPort == intstr.FromString("") {
			p.TargetPort = intstr.FromInt32(p.Port)
		}
	}
	externallyAccessible := sp.Type == corev1.ServiceTypeLoadBalancer || sp.Type == corev1.ServiceTypeNodePort ||
		(sp.Type == corev1.ServiceTypeClusterIP && len(sp.ExternalIPs) > 0)
	if externallyAccessible && sp.ExternalTrafficPolicy == "" {
		sp.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	if sp.InternalTrafficPolicy == nil && (sp.Type == corev1.ServiceTypeNodePort || sp.Type == corev1.ServiceTypeLoadBalancer || sp.Type == corev1.ServiceTypeClusterIP) {
		p := corev1.ServiceInternalTrafficPolicyCluster
		sp.InternalTrafficPolicy = &p
	}
	if sp.Type == corev1.ServiceTypeLoadBalancer && sp.AllocateLoadBalancerNodePorts == nil {
		t := true
		sp.AllocateLoadBalancerNodePorts = &t
	}
	// The registry (not SetDefaults_Service) on create: SingleStack unless
	// the Service asks for more; ExternalName Services get no IP family.
	if sp.IPFamilyPolicy == nil && sp.Type != corev1.ServiceTypeExternalName {
		p := corev1.IPFamilyPolicySingleStack
		sp.IPFamilyPolicy = &p
	}
}

// defaultDeployment is SetObjectDefaults_Deployment: SetDefaults_Deployment
// and the pod template's defaults.
func defaultDeployment(d *appsv1.Deployment) {
	s := &d.Spec
	if s.Replicas == nil {
		s.Replicas = ptrTo(int32(1))
	}
	if s.Strategy.Type == "" {
		s.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
	}
	if s.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType {
		if s.Strategy.RollingUpdate == nil {
			s.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{}
		}
		if s.Strategy.RollingUpdate.MaxUnavailable == nil {
			v := intstr.FromString("25%")
			s.Strategy.RollingUpdate.MaxUnavailable = &v
		}
		if s.Strategy.RollingUpdate.MaxSurge == nil {
			v := intstr.FromString("25%")
			s.Strategy.RollingUpdate.MaxSurge = &v
		}
	}
	if s.RevisionHistoryLimit == nil {
		s.RevisionHistoryLimit = ptrTo(int32(10))
	}
	if s.ProgressDeadlineSeconds == nil {
		s.ProgressDeadlineSeconds = ptrTo(int32(600))
	}
	defaultPodSpec(&s.Template.Spec)
}

// defaultPodSpec is the pod template part of SetObjectDefaults_Deployment
// (SetDefaults_PodSpec, _Volume, _Container, _Probe, ...). SetDefaults_Pod
// (requests from limits, enableServiceLinks) applies to Pods only, not to a
// Deployment's template, and is not here.
func defaultPodSpec(p *corev1.PodSpec) {
	if p.DNSPolicy == "" {
		p.DNSPolicy = corev1.DNSClusterFirst
	}
	if p.RestartPolicy == "" {
		p.RestartPolicy = corev1.RestartPolicyAlways
	}
	if p.SecurityContext == nil {
		p.SecurityContext = &corev1.PodSecurityContext{}
	}
	if p.TerminationGracePeriodSeconds == nil {
		p.TerminationGracePeriodSeconds = ptrTo(int64(corev1.DefaultTerminationGracePeriodSeconds))
	}
	if p.SchedulerName == "" {
		p.SchedulerName = corev1.DefaultSchedulerName
	}
	for i := range p.Volumes {
		defaultVolume(&p.Volumes[i])
	}
	for i := range p.InitContainers {
		defaultContainer(&p.InitContainers[i])
	}
	for i := range p.Containers {
		defaultContainer(&p.Containers[i])
	}
	for i := range p.EphemeralContainers {
		defaultContainer((*corev1.Container)(&p.EphemeralContainers[i].EphemeralContainerCommon))
	}
}

func defaultVolume(v *corev1.Volume) {
	vs := &v.VolumeSource
	if *vs == (corev1.VolumeSource{}) { // every source unset
		vs.EmptyDir = &corev1.EmptyDirVolumeSource{}
	}
	if vs.HostPath != nil && vs.HostPath.Type == nil {
		t := corev1.HostPathUnset
		vs.HostPath.Type = &t
	}
	if vs.Secret != nil && vs.Secret.DefaultMode == nil {
		vs.Secret.DefaultMode = ptrTo(corev1.SecretVolumeSourceDefaultMode)
	}
	if vs.ConfigMap != nil && vs.ConfigMap.DefaultMode == nil {
		vs.ConfigMap.DefaultMode = ptrTo(corev1.ConfigMapVolumeSourceDefaultMode)
	}
	if vs.DownwardAPI != nil {
		if vs.DownwardAPI.DefaultMode == nil {
			vs.DownwardAPI.DefaultMode = ptrTo(corev1.DownwardAPIVolumeSourceDefaultMode)
		}
		for i := range vs.DownwardAPI.Items {
			defaultFieldRef(vs.DownwardAPI.Items[i].FieldRef)
		}
	}
	if vs.Projected != nil {
		if vs.Projected.DefaultMode == nil {
			vs.Projected.DefaultMode = ptrTo(corev1.ProjectedVolumeSourceDefaultMode)
		}
		for _, src := range vs.Projected.Sources {
			if src.DownwardAPI != nil {
				for i := range src.DownwardAPI.Items {
					defaultFieldRef(src.DownwardAPI.Items[i].FieldRef)
				}
			}
			if src.ServiceAccountToken != nil && src.ServiceAccountToken.ExpirationSeconds == nil {
				src.ServiceAccountToken.ExpirationSeconds = ptrTo(int64(3600))
			}
		}
	}
	if vs.Ephemeral != nil && vs.Ephemeral.VolumeClaimTemplate != nil {
		spec := &vs.Ephemeral.VolumeClaimTemplate.Spec
		if spec.VolumeMode == nil {
			spec.VolumeMode = ptrTo(corev1.PersistentVolumeFilesystem)
		}
		roundUp(spec.Resources.Limits)
		roundUp(spec.Resources.Requests)
	}
}

func defaultFieldRef(f *corev1.ObjectFieldSelector) {
	if f != nil && f.APIVersion == "" {
		f.APIVersion = "v1"
	}
}

// defaultContainer is SetDefaults_Container and the generated defaults of
// its ports, env, resources, probes and lifecycle handlers.
func defaultContainer(c *corev1.Container) {
	if c.ImagePullPolicy == "" {
		if imageTag(c.Image) == "latest" {
			c.ImagePullPolicy = corev1.PullAlways
		} else {
			c.ImagePullPolicy = corev1.PullIfNotPresent
		}
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
	for i := range c.Env {
		if vf := c.Env[i].ValueFrom; vf != nil {
			defaultFieldRef(vf.FieldRef)
			if vf.FileKeyRef != nil && vf.FileKeyRef.Optional == nil {
				vf.FileKeyRef.Optional = ptrTo(false)
			}
		}
	}
	roundUp(c.Resources.Limits)
	roundUp(c.Resources.Requests)
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		defaultProbe(p)
	}
	if c.Lifecycle != nil {
		for _, h := range []*corev1.LifecycleHandler{c.Lifecycle.PostStart, c.Lifecycle.PreStop} {
			if h != nil {
				defaultHTTPGet(h.HTTPGet)
			}
		}
	}
}

func defaultProbe(p *corev1.Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	defaultHTTPGet(p.HTTPGet)
	if p.GRPC != nil && p.GRPC.Service == nil {
		p.GRPC.Service = ptrTo("")
	}
}

func defaultHTTPGet(h *corev1.HTTPGetAction) {
	if h == nil {
		return
	}
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Scheme == "" {
		h.Scheme = corev1.URISchemeHTTP
	}
}

// roundUp is SetDefaults_ResourceList: quantities below a milli-unit round
// up to one (0.0001 CPU is stored as 1m).
func roundUp(l corev1.ResourceList) {
	for k, v := range l {
		v.RoundUp(resource.Milli)
		l[k] = v
	}
}

func defaultPV(pv *corev1.PersistentVolume) {
	addFinalizer(pv, "kubernetes.io/pv-protection")
	if pv.Spec.PersistentVolumeReclaimPolicy == "" {
		pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
	}
	if pv.Spec.VolumeMode == nil {
		pv.Spec.VolumeMode = ptrTo(corev1.PersistentVolumeFilesystem)
	}
	roundUp(pv.Spec.Capacity)
	if hp := pv.Spec.HostPath; hp != nil && hp.Type == nil {
		t := corev1.HostPathUnset
		hp.Type = &t
	}
}

func defaultPVC(pvc *corev1.PersistentVolumeClaim) {
	addFinalizer(pvc, "kubernetes.io/pvc-protection")
	if pvc.Spec.VolumeMode == nil {
		pvc.Spec.VolumeMode = ptrTo(corev1.PersistentVolumeFilesystem)
	}
	roundUp(pvc.Spec.Resources.Limits)
	roundUp(pvc.Spec.Resources.Requests)
}

// addFinalizer is what the StorageObjectInUseProtection admission plugin
// does on create.
func addFinalizer(o metav1.Object, f string) {
	if !slices.Contains(o.GetFinalizers(), f) {
		o.SetFinalizers(append(o.GetFinalizers(), f))
	}
}

// defaultSecret is SetDefaults_Secret, and the conversion every write goes
// through: stringData is merged into data (its keys win) and not stored.
func defaultSecret(s *corev1.Secret) {
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
	if len(s.StringData) > 0 {
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
	}
	s.StringData = nil
}

// defaultNamespace is SetDefaults_Namespace and the registry's finalizer.
func defaultNamespace(n *corev1.Namespace) {
	if n.Name != "" {
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		n.Labels[corev1.LabelMetadataName] = n.Name
	}
	if !slices.Contains(n.Spec.Finalizers, corev1.FinalizerKubernetes) {
		n.Spec.Finalizers = append(n.Spec.Finalizers, corev1.FinalizerKubernetes)
	}
}

// imageTag is the tag of an image reference as the server's parser reads
// it: "latest" when there is neither tag nor digest, "" with a digest only.
func imageTag(image string) string {
	ref := image
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
		if !strings.Contains(ref[strings.LastIndex(ref, "/")+1:], ":") {
			return ""
		}
	}
	name := ref[strings.LastIndex(ref, "/")+1:]
	if i := strings.LastIndex(name, ":"); i >= 0 {
		return name[i+1:]
	}
	return "latest"
}

func ptrTo[T any](v T) *T { return &v }
