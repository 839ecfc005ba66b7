// Command frontend stands in for the todo-app's Next.js frontend on port
// 3000: /api/health with the stub knobs, /api/env (which Secret key names it
// can see: none, if the manifests are right), and /api/backend-health, which
// calls NEXT_PUBLIC_API_URL + /api/health server-side, so the frontend ->
// backend-service path is tested from the frontend pod itself.
package main

import (
	"encoding/json"
	"io"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/puretasks/k8s-conformance/internal/spec"
	"github.com/puretasks/k8s-conformance/stubs/stubserver"
)

// BackendHealth is GET /api/backend-health.
type BackendHealth struct {
	Pod        string `json:"pod"`
	URL        string `json:"url"`
	Status     int    `json:"status"`
	BackendPod string `json:"backendPod,omitempty"`
	Error      string `json:"error,omitempty"`
	LatencyMs  int64  `json:"latencyMs"`
}

// backendTimeout bounds the server-side call to the backend.
const backendTimeout = 5 * time.Second

func main() {
	c := spec.Seed.Frontend.Deployment.Container
	stubserver.Main(spec.Seed.Frontend.Deployment.Name, c.Port, setup(os.Getenv))
}

// setup adds the frontend's endpoints; getenv supplies NEXT_PUBLIC_API_URL.
func setup(getenv func(string) string) func(*stubserver.Server, *log.Logger) {
	return func(s *stubserver.Server, logger *log.Logger) {
		client := &http.Client{Timeout: backendTimeout}
		s.HandleFunc("GET /api/backend-health", func(w http.ResponseWriter, r *http.Request) {
			base := getenv("NEXT_PUBLIC_API_URL")
			res := BackendHealth{Pod: s.Pod, URL: base + spec.HealthPath}
			if base == "" {
				res.Error = "NEXT_PUBLIC_API_URL is not set"
				stubserver.WriteJSON(w, http.StatusBadGateway, res)
				return
			}
			start := time.Now()
			resp, err := client.Get(res.URL)
			res.LatencyMs = time.Since(start).Milliseconds()
			if err != nil {
				res.Error = err.Error()
				logger.Printf("backend-health: %v", err)
				stubserver.WriteJSON(w, http.StatusBadGateway, res)
				return
			}
			defer resp.Body.Close()
			res.Status = resp.StatusCode
			res.BackendPod = resp.Header.Get(stubserver.HeaderPod)
			var body stubserver.HealthBody
			_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&body)
			code := http.StatusOK
			if resp.StatusCode != http.StatusOK {
				code = http.StatusBadGateway
			}
			stubserver.WriteJSON(w, code, res)
		})
		s.HandleFunc("GET /api/env", func(w http.ResponseWriter, r *http.Request) {
			keys := []string{}
			for _, k := range spec.Seed.Secret.Keys {
				if getenv(k) != "" {
					keys = append(keys, k)
				}
			}
			stubserver.WriteJSON(w, http.StatusOK, map[string]any{"pod": s.Pod, "secretKeys": keys})
		})
	}
}
