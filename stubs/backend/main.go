// Command backend stands in for the todo-app's FastAPI backend on port 8000:
// /api/health with the stub knobs, plus what the live tier observes of the
// backend's wiring: the ConfigMap values and Secret key NAMES it sees in its
// environment (never a Secret value), and files under its uploads directory.
package main

import (
	"errors"
	"io"
	"io/fs"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"github.com/puretasks/k8s-conformance/internal/spec"
	"github.com/puretasks/k8s-conformance/stubs/stubserver"
)

// EnvReport is GET /api/env.
type EnvReport struct {
	Pod string `json:"pod"`
	// ConfigMap holds the seed's ConfigMap keys found in the environment.
	ConfigMap map[string]string `json:"configMap"`
	// SecretKeys are the seed's Secret key names present; values never leave the pod.
	SecretKeys []string `json:"secretKeys"`
}

var uploadName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

func main() {
	c := spec.Seed.Backend.Deployment.Container
	dir := os.Getenv("STUB_UPLOADS_DIR")
	if dir == "" {
		dir = c.UploadsMount
	}
	stubserver.Main(spec.Seed.Backend.Deployment.Name, c.Port, setup(dir))
}

// setup adds the backend's endpoints; uploads live in dir.
func setup(dir string) func(*stubserver.Server, *log.Logger) {
	return func(s *stubserver.Server, logger *log.Logger) {
		s.HandleFunc("GET /api/env", func(w http.ResponseWriter, r *http.Request) {
			stubserver.WriteJSON(w, http.StatusOK, envReport(s.Pod, os.LookupEnv))
		})
		s.HandleFunc("PUT /api/uploads/{name}", func(w http.ResponseWriter, r *http.Request) {
			name := r.PathValue("name")
			if !uploadName.MatchString(name) {
				stubserver.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "bad file name"})
				return
			}
			body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, name), body, 0o644)
			}
			if err != nil {
				logger.Printf("upload %s: %v", name, err)
				stubserver.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
				return
			}
			logger.Printf("upload %s: wrote %d bytes to %s", name, len(body), dir)
			stubserver.WriteJSON(w, http.StatusCreated, map[string]any{"name": name, "bytes": len(body), "pod": s.Pod})
		})
		s.HandleFunc("GET /api/uploads/{name}", func(w http.ResponseWriter, r *http.Request) {
			name := r.PathValue("name")
			if !uploadName.MatchString(name) {
				stubserver.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "bad file name"})
				return
			}
			body, err := os.ReadFile(filepath.Join(dir, name))
			if errors.Is(err, fs.ErrNotExist) {
				stubserver.WriteJSON(w, http.StatusNotFound, map[string]string{"error": stubserver.NoSuchUpload, "pod": s.Pod})
				return
			}
			if err != nil {
				stubserver.WriteJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
				return
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write(body)
		})
	}
}

func envReport(pod string, lookup func(string) (string, bool)) EnvReport {
	r := EnvReport{Pod: pod, ConfigMap: map[string]string{}, SecretKeys: []string{}}
	for k := range spec.Seed.ConfigMap.Data {
		if v, ok := lookup(k); ok {
			r.ConfigMap[k] = v
		}
	}
	for _, k := range spec.Seed.Secret.Keys {
		if _, ok := lookup(k); ok {
			r.SecretKeys = append(r.SecretKeys, k)
		}
	}
	sort.Strings(r.SecretKeys)
	return r
}
