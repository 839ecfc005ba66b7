// Package spec is the seed's data model (../shared/seed/data-model.md) as
// typed Go values: the one place where each name, number, port, label,
// quantity and probe field of the todo-app's manifests lives. The static
// checks compare manifests with it; the live tier, the stubs and the fixtures
// read their names, ports and timings from it.
package spec

// Namespace of every namespaced object.
const Namespace = "todo-app"

// App is the whole seed.
type App struct {
	Namespace NamespaceSpec
	ConfigMap ConfigMapSpec
	Secret    SecretSpec
	Backend   Workload
	Frontend  Workload
	Uploads   UploadsSpec
	Scale     ScaleSpec
	Decisions []string
}

// NamespaceSpec is section 1 of the seed.
type NamespaceSpec struct {
	Name   string
	Labels map[string]string
}

// ConfigMapSpec is section 2.
type ConfigMapSpec struct {
	Name   string
	Labels map[string]string
	Data   map[string]string
}

// SecretSpec is section 3. Values are never part of the spec except the two
// the seed fixes; every other key holds a placeholder in the repository.
type SecretSpec struct {
	Name   string
	Type   string
	Labels map[string]string
	Keys   []string
	// Fixed are the keys whose decoded value the seed gives.
	Fixed map[string]string
	// Placeholder is the decoded value every other key holds in the repo.
	Placeholder string
}

// Workload is a Deployment and its Service (sections 4–7).
type Workload struct {
	Deployment DeploymentSpec
	Service    ServiceSpec
}

// DeploymentSpec is the seed's Deployment, field by field.
type DeploymentSpec struct {
	Name           string
	Labels         map[string]string // on the object and the pod template
	Selector       map[string]string
	Replicas       int32
	MaxSurge       int32
	MaxUnavailable int32
	Container      ContainerSpec
}

// ContainerSpec is the single container of a Deployment.
type ContainerSpec struct {
	Name       string
	Image      string
	PullPolicy string
	PortName   string
	Port       int32
	Protocol   string
	// EnvFrom lists the ConfigMap and Secret fed in whole (backend).
	EnvFromConfigMaps []string
	EnvFromSecrets    []string
	// Env are literal environment variables (frontend).
	Env       []EnvVar
	Resources ResourcesSpec
	Startup   Probe
	Liveness  Probe
	Readiness Probe
	// UploadsMount is where the uploads volume is mounted ("" for none).
	UploadsMount string
}

// EnvVar is a literal environment variable.
type EnvVar struct{ Name, Value string }

// ResourcesSpec holds quantities as the seed writes them; checks compare by value.
type ResourcesSpec struct {
	RequestsMemory, RequestsCPU string
	LimitsMemory, LimitsCPU     string
}

// ServiceSpec is a Service of the seed.
type ServiceSpec struct {
	Name            string
	Type            string
	Labels          map[string]string
	Selector        map[string]string
	PortName        string
	Port            int32
	TargetPort      int32
	NodePort        int32 // 0 for ClusterIP
	Protocol        string
	SessionAffinity string
}

// UploadsSpec is the uploads volume: emptyDir by default, and the optional
// PV + PVC of sections 8–9 in the persistent variant.
type UploadsSpec struct {
	VolumeName string
	PV         PVSpec
	PVC        PVCSpec
	// VariantDir is the subdirectory of a manifests directory that holds the
	// persistent-uploads variant (a kustomize overlay).
	VariantDir string
}

// PVSpec is section 8.
type PVSpec struct {
	Name          string
	Labels        map[string]string
	Capacity      string
	AccessModes   []string
	ReclaimPolicy string
	StorageClass  string
	HostPath      string
	HostPathType  string
}

// PVCSpec is section 9.
type PVCSpec struct {
	Name         string
	Labels       map[string]string
	AccessModes  []string
	Request      string
	StorageClass string
}

// ScaleSpec holds the seed's stated maxima ("scalable to 3", "scalable to 2").
type ScaleSpec struct {
	BackendMax  int32
	FrontendMax int32
}

// healthPath is the one health endpoint every probe of the seed hits.
const healthPath = "/api/health"

// HealthPath is exported for the stubs and the live tier.
const HealthPath = healthPath

// Seed is the data model.
var Seed = App{
	Namespace: NamespaceSpec{
		Name:   Namespace,
		Labels: map[string]string{"app": "todo-chatbot", "environment": "development", "managed-by": "helm"},
	},
	ConfigMap: ConfigMapSpec{
		Name:   "todo-app-config",
		Labels: map[string]string{"app": "todo-chatbot"},
		Data: map[string]string{
			"ENVIRONMENT":           "development",
			"LOG_LEVEL":             "INFO",
			"CORS_ORIGINS":          "http://localhost:30000",
			"FRONTEND_URL":          "http://localhost:30000",
			"MCP_SERVER_NAME":       "puretasks-mcp-server",
			"MCP_SERVER_PORT":       "8001",
			"RATE_LIMIT_PER_MINUTE": "60",
			"DATABASE_POOL_SIZE":    "5",
			"DATABASE_MAX_OVERFLOW": "10",
			"EMAIL_PROVIDER":        "console",
			"FROM_EMAIL":            "noreply@puretasks.com",
		},
	},
	Secret: SecretSpec{
		Name:   "todo-app-secrets",
		Type:   "Opaque",
		Labels: map[string]string{"app": "todo-chatbot"},
		Keys: []string{
			"DATABASE_URL", "JWT_SECRET", "JWT_ALGORITHM", "JWT_EXPIRATION_HOURS",
			"OPENAI_API_KEY", "GEMINI_API_KEY",
			"CLOUDINARY_CLOUD_NAME", "CLOUDINARY_API_KEY", "CLOUDINARY_API_SECRET",
			"GMAIL_EMAIL", "GMAIL_APP_PASSWORD", "RESEND_API_KEY",
		},
		Fixed:       map[string]string{"JWT_ALGORITHM": "HS256", "JWT_EXPIRATION_HOURS": "168"},
		Placeholder: "REPLACE_ME",
	},
	Backend: Workload{
		Deployment: DeploymentSpec{
			Name:           "backend",
			Labels:         map[string]string{"app": "backend", "component": "api", "tier": "backend"},
			Selector:       map[string]string{"app": "backend"},
			Replicas:       1,
			MaxSurge:       1,
			MaxUnavailable: 0,
			Container: ContainerSpec{
				Name: "backend", Image: "todo-backend:latest", PullPolicy: "IfNotPresent",
				PortName: "http", Port: 8000, Protocol: "TCP",
				EnvFromConfigMaps: []string{"todo-app-config"},
				EnvFromSecrets:    []string{"todo-app-secrets"},
				Resources:         ResourcesSpec{RequestsMemory: "256Mi", RequestsCPU: "250m", LimitsMemory: "512Mi", LimitsCPU: "500m"},
				Startup:           Probe{Path: healthPath, Port: 8000, InitialDelaySeconds: 0, PeriodSeconds: 10, FailureThreshold: 6, TimeoutSeconds: 5},
				Liveness:          Probe{Path: healthPath, Port: 8000, InitialDelaySeconds: 30, PeriodSeconds: 10, FailureThreshold: 3, TimeoutSeconds: 5},
				Readiness:         Probe{Path: healthPath, Port: 8000, InitialDelaySeconds: 10, PeriodSeconds: 5, FailureThreshold: 2, TimeoutSeconds: 3},
				UploadsMount:      "/app/uploads",
			},
		},
		Service: ServiceSpec{
			Name: "backend-service", Type: "ClusterIP",
			Labels:   map[string]string{"app": "backend", "component": "api"},
			Selector: map[string]string{"app": "backend"},
			PortName: "http", Port: 8000, TargetPort: 8000, Protocol: "TCP", SessionAffinity: "None",
		},
	},
	Frontend: Workload{
		Deployment: DeploymentSpec{
			Name:           "frontend",
			Labels:         map[string]string{"app": "frontend", "component": "ui", "tier": "frontend"},
			Selector:       map[string]string{"app": "frontend"},
			Replicas:       1,
			MaxSurge:       1,
			MaxUnavailable: 0,
			Container: ContainerSpec{
				Name: "frontend", Image: "todo-frontend:latest", PullPolicy: "IfNotPresent",
				PortName: "http", Port: 3000, Protocol: "TCP",
				Env: []EnvVar{
					{Name: "NEXT_PUBLIC_API_URL", Value: "http://backend-service:8000"},
					{Name: "NODE_ENV", Value: "production"},
				},
				Resources: ResourcesSpec{RequestsMemory: "512Mi", RequestsCPU: "500m", LimitsMemory: "1Gi", LimitsCPU: "1000m"},
				Startup:   Probe{Path: healthPath, Port: 3000, InitialDelaySeconds: 0, PeriodSeconds: 5, FailureThreshold: 6, TimeoutSeconds: 3},
				Liveness:  Probe{Path: healthPath, Port: 3000, InitialDelaySeconds: 20, PeriodSeconds: 10, FailureThreshold: 3, TimeoutSeconds: 3},
				Readiness: Probe{Path: healthPath, Port: 3000, InitialDelaySeconds: 10, PeriodSeconds: 5, FailureThreshold: 2, TimeoutSeconds: 3},
			},
		},
		Service: ServiceSpec{
			Name: "frontend-service", Type: "NodePort",
			Labels:   map[string]string{"app": "frontend", "component": "ui"},
			Selector: map[string]string{"app": "frontend"},
			PortName: "http", Port: 3000, TargetPort: 3000, NodePort: 30000, Protocol: "TCP", SessionAffinity: "None",
		},
	},
	Uploads: UploadsSpec{
		VolumeName: "uploads",
		VariantDir: "persistent-uploads",
		PV: PVSpec{
			Name: "backend-uploads-pv", Labels: map[string]string{"type": "local"},
			Capacity: "5Gi", AccessModes: []string{"ReadWriteOnce"}, ReclaimPolicy: "Retain",
			StorageClass: "manual", HostPath: "/mnt/data/uploads", HostPathType: "DirectoryOrCreate",
		},
		PVC: PVCSpec{
			Name: "backend-uploads-pvc", Labels: map[string]string{"app": "backend"},
			AccessModes: []string{"ReadWriteOnce"}, Request: "5Gi", StorageClass: "manual",
		},
	},
	Scale: ScaleSpec{BackendMax: 3, FrontendMax: 2},
	Decisions: []string{
		"ConfigMap: the seed's prose says it feeds both deployments; its frontend YAML and diagram feed it to the backend only. The YAML wins: the frontend gets env only (FD-5).",
	},
}

// ProxyURL is the frontend's view of the backend, the value of NEXT_PUBLIC_API_URL.
func (a App) ProxyURL() string {
	for _, e := range a.Frontend.Deployment.Container.Env {
		if e.Name == "NEXT_PUBLIC_API_URL" {
			return e.Value
		}
	}
	return ""
}
