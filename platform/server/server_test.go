package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// A request in flight when the signal arrives must complete: ECS sends
// SIGTERM while the ALB may still be delivering requests to the task.
func TestServeDrainsInFlightRequests(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		_, _ = io.WriteString(w, "done")
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, log, New(h, log, "v1"), ln) }()

	type result struct {
		body string
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/")
		if err != nil {
			got <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		got <- result{string(b), err}
	}()
	<-started
	cancel()
	r := <-got
	if r.err != nil || r.body != "done" {
		t.Fatalf("in-flight request: body %q, err %v; want done", r.body, r.err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve = %v, want nil after a clean shutdown", err)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
		t.Error("server still accepts connections after shutdown")
	}
}

func TestHealthcheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	status := http.StatusOK
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/livez" {
			w.WriteHeader(404)
			return
		}
		w.WriteHeader(status)
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	if got := Healthcheck(port); got != 0 {
		t.Errorf("healthy: exit %d, want 0", got)
	}
	status = http.StatusServiceUnavailable
	if got := Healthcheck(port); got != 1 {
		t.Errorf("unhealthy: exit %d, want 1", got)
	}
	srv.Close()
	if got := Healthcheck(port); got != 1 {
		t.Errorf("down: exit %d, want 1", got)
	}
}

// Every service answers VersionPath with the version it was given, and
// hands every other request, other methods on that path too, to its own
// handler.
func TestVersion(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, "app "+r.Method+" "+r.URL.Path)
	})
	h := New(app, log, "v1.2.3").Handler
	tests := []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/version", 200, `{"version":"v1.2.3"}` + "\n"},
		{"HEAD", "/version", 200, ""},
		{"POST", "/version", 418, "app POST /version"},
		{"GET", "/version/x", 418, "app GET /version/x"},
		{"GET", "/", 418, "app GET /"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.status || rec.Body.String() != tt.body {
			t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.path, rec.Code, rec.Body.String(), tt.status, tt.body)
		}
		if tt.status == 200 {
			if got := rec.Header().Get("Content-Length"); got != "21" {
				t.Errorf("%s %s: Content-Length %q, want 21", tt.method, tt.path, got)
			}
			if got := rec.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("%s %s: Content-Type %q, want application/json", tt.method, tt.path, got)
			}
		}
	}
}

// Whoever stops a service waits for the whole drain and then some.
func TestStopTimeoutCoversTheDrain(t *testing.T) {
	if StopTimeout <= ShutdownTimeout {
		t.Errorf("StopTimeout %s, want more than ShutdownTimeout %s", StopTimeout, ShutdownTimeout)
	}
}
