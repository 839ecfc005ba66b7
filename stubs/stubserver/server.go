package stubserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/puretasks/k8s-conformance/internal/spec"
)

// HeaderPod carries the answering pod's name on every response.
const HeaderPod = "X-Stub-Pod"

// NoSuchUpload is the backend stub's error for an upload it does not hold
// (404): a checker tells it from the API server's own 404 by it.
const NoSuchUpload = "no such upload"

// ControlPrefix is where the run-time knobs live; no probe hits it.
const ControlPrefix = "/stub/"

// Server is a stub service.
type Server struct {
	Service string
	Pod     string
	knobs   Knobs
	h       *health
	mux     *http.ServeMux
	log     *log.Logger
	started time.Time

	modeMu   sync.Mutex
	lastMode Mode
	// stopping is closed on SIGTERM: hung health requests end at once, so
	// the process exits when the kubelet kills it, not a probe timeout later.
	stopping chan struct{}
	held     atomic.Int32 // health requests held by a hang right now
}

// New returns a stub server for service, with the start-time knobs applied.
func New(service string, k Knobs, logger *log.Logger) *Server {
	now := time.Now()
	s := &Server{
		Service: service, Pod: Hostname(), knobs: k, log: logger, started: now,
		h:        &health{now: time.Now, readyAt: now.Add(k.StartupDelay)},
		mux:      http.NewServeMux(),
		stopping: make(chan struct{}),
	}
	if k.FailFor > 0 {
		s.h.setFail(k.FailAfter, k.FailFor)
	}
	if k.HangFor > 0 {
		s.h.setHang(k.HangAfter, k.HangFor)
	}
	s.mux.HandleFunc("GET "+spec.HealthPath, s.handleHealth)
	s.mux.HandleFunc("GET /{$}", s.handleRoot)
	s.mux.HandleFunc("POST "+ControlPrefix+"health/fail", s.handleFail)
	s.mux.HandleFunc("POST "+ControlPrefix+"health/hang", s.handleHang)
	s.mux.HandleFunc("POST "+ControlPrefix+"health/reset", s.handleReset)
	s.mux.HandleFunc("GET "+ControlPrefix+"state", s.handleState)
	return s
}

// HandleFunc adds a service-specific endpoint.
func (s *Server) HandleFunc(pattern string, h http.HandlerFunc) { s.mux.HandleFunc(pattern, h) }

// Handler returns the server's handler: every response names the pod.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(HeaderPod, s.Pod)
		s.mux.ServeHTTP(w, r)
	})
}

// Mode reports (and logs on change) what /api/health does now.
func (s *Server) Mode() Mode {
	m := s.h.mode()
	s.modeMu.Lock()
	defer s.modeMu.Unlock()
	if m != s.lastMode {
		s.log.Printf("state: %s -> %s (uptime %s)", orNone(s.lastMode), m, time.Since(s.started).Round(time.Millisecond))
		s.lastMode = m
	}
	return m
}

func orNone(m Mode) Mode {
	if m == "" {
		return "none"
	}
	return m
}

// WriteJSON answers with a JSON body.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// HealthBody is what /api/health returns.
type HealthBody struct {
	Status  string `json:"status"`
	Service string `json:"service"`
	Pod     string `json:"pod"`
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	m := s.Mode()
	if m == ModeHanging {
		// Hold the request until the hang ends or the prober gives up.
		s.held.Add(1)
		defer s.held.Add(-1)
		t := time.NewTimer(s.h.hangEnd().Sub(s.h.now()))
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.stopping:
			t.Stop()
			WriteJSON(w, http.StatusServiceUnavailable, HealthBody{Status: string(ModeDraining), Service: s.Service, Pod: s.Pod})
			return
		case <-t.C:
		}
		m = s.Mode()
	}
	body := HealthBody{Status: string(m), Service: s.Service, Pod: s.Pod}
	switch m {
	case ModeHealthy:
		body.Status = "ok"
		WriteJSON(w, http.StatusOK, body)
	case ModeDraining:
		// Still a working server: the pod may stay behind the Service until
		// every kube-proxy has seen it terminate. Answering 5xx here turns
		// that moment into failed requests (L-TRAFFIC saw exactly that).
		WriteJSON(w, http.StatusOK, body)
	case ModeFailing:
		WriteJSON(w, http.StatusInternalServerError, body)
	default: // starting
		WriteJSON(w, http.StatusServiceUnavailable, body)
	}
}

func (s *Server) handleRoot(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, map[string]string{"service": s.Service, "pod": s.Pod})
}

// durations reads ?for= (default: until reset) and ?after= (default: now).
func durations(r *http.Request) (after, d time.Duration, err error) {
	d = Forever
	if v := r.URL.Query().Get("for"); v != "" {
		if d, err = ParseDuration(v); err != nil {
			return 0, 0, fmt.Errorf("for=%q: %w", v, err)
		}
	}
	if v := r.URL.Query().Get("after"); v != "" {
		if after, err = ParseDuration(v); err != nil {
			return 0, 0, fmt.Errorf("after=%q: %w", v, err)
		}
	}
	return after, d, nil
}

func (s *Server) handleFail(w http.ResponseWriter, r *http.Request) {
	after, d, err := durations(r)
	if err != nil {
		WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	s.h.setFail(after, d)
	s.log.Printf("knob: health fails (5xx) after %s for %s", after, describe(d))
	s.handleState(w, r)
}

func (s *Server) handleHang(w http.ResponseWriter, r *http.Request) {
	after, d, err := durations(r)
	if err != nil {
		WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	s.h.setHang(after, d)
	s.log.Printf("knob: health hangs after %s for %s", after, describe(d))
	s.handleState(w, r)
}

func (s *Server) handleReset(w http.ResponseWriter, r *http.Request) {
	s.h.reset()
	s.log.Printf("knob: health reset")
	s.handleState(w, r)
}

// State is the control API's view of the stub.
type State struct {
	Service string `json:"service"`
	Pod     string `json:"pod"`
	Mode    Mode   `json:"mode"`
	Uptime  string `json:"uptime"`
}

func (s *Server) handleState(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, State{Service: s.Service, Pod: s.Pod, Mode: s.Mode(), Uptime: time.Since(s.started).Round(time.Millisecond).String()})
}

func describe(d time.Duration) string {
	if d == Forever {
		return "until reset"
	}
	return d.String()
}

// Serve answers on l until ctx ends (SIGTERM), then drains: it keeps
// answering for the drain window with keep-alives off (clients reconnect
// through the Service to a live pod), finishes in-flight requests, and returns.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	s.log.Printf("listening on %s as %s/%s (startup delay %s, drain %s)", l.Addr(), s.Service, s.Pod, s.knobs.StartupDelay, s.knobs.Drain)
	s.Mode()
	// Log the start-up transition when it happens, not at the next request.
	if s.knobs.StartupDelay > 0 {
		t := time.AfterFunc(s.knobs.StartupDelay, func() { s.Mode() })
		defer t.Stop()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.h.mu.Lock()
	s.h.draining = true
	s.h.mu.Unlock()
	close(s.stopping)
	srv.SetKeepAlivesEnabled(false)
	s.Mode()
	s.log.Printf("SIGTERM: answering for %s more, then finishing in-flight requests", s.knobs.Drain)
	drain := time.NewTimer(s.knobs.Drain) // the stub waits on purpose: that is the drain window
	<-drain.C
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		s.log.Printf("in-flight requests still open after 20s; exiting")
	}
	s.log.Printf("stopped")
	if serveErr := <-errc; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}
