// Package server runs an HTTP handler the way every service in this
// repository must: explicit timeouts, graceful shutdown on SIGTERM within a
// bound below the stop timeout, the build's version at /version, and a
// healthcheck subcommand for images that have no shell.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/fargateshop/shop/platform/config"
	"github.com/fargateshop/shop/platform/logging"
	"github.com/fargateshop/shop/platform/routing"
)

// Timeouts. IdleTimeout exceeds the ALB's 60 s idle timeout so the load
// balancer, not the task, closes idle keep-alive connections; otherwise the
// ALB can reuse a connection the task just closed and answer 502.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 15 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 75 * time.Second
	// ShutdownTimeout bounds draining: how long requests in flight at
	// SIGTERM may take to finish.
	ShutdownTimeout = 15 * time.Second
	// StopTimeout is how long whoever stops a service must wait between
	// SIGTERM and SIGKILL: the drain plus time to release the database pool
	// and background work. ECS's stopTimeout and Compose's
	// stop_grace_period are this value (infra and its tests hold both to it).
	//
	// The target group's deregistration delay is not part of it: when ECS
	// stops a service's task, it deregisters the task and waits for the
	// target to drain (DEACTIVATING) before it sends SIGTERM (STOPPING)
	// ("Amazon ECS task lifecycle", ECS developer guide). Compose sends
	// SIGTERM at once.
	StopTimeout = ShutdownTimeout + 5*time.Second
)

// VersionPath is where every service answers {"version": "..."} with the
// version its binary was built as.
const VersionPath = "/version"

// New returns an http.Server with the repository's timeouts that serves
// version at VersionPath and everything else with h.
func New(h http.Handler, log *slog.Logger, version string) *http.Server {
	return &http.Server{
		Handler:           withVersion(h, version),
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// withVersion answers GET and HEAD VersionPath in front of h. It sits outside
// the service's own routes so every service, the edge too, answers it alike.
func withVersion(h http.Handler, version string) http.Handler {
	body, _ := json.Marshal(map[string]string{"version": version}) // a map of strings always encodes
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != VersionPath || r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
		if r.Method == http.MethodGet {
			_, _ = w.Write(append(body, '\n'))
		}
	})
}

// Serve serves srv on ln until ctx is done, then drains in-flight requests
// for at most ShutdownTimeout. It returns nil after a clean shutdown.
func Serve(ctx context.Context, log *slog.Logger, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down", "timeout", ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

// Listen opens the TCP listener for PORT (default config.DefaultPort).
func Listen(port string) (net.Listener, error) {
	if port == "" {
		port = strconv.Itoa(config.DefaultPort)
	}
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		return nil, fmt.Errorf("listen on port %s: %w", port, err)
	}
	return ln, nil
}

// Program is a service's whole life: parse config from getenv, open
// dependencies, serve on ln until ctx ends, release everything. Tests call it
// with a listener on 127.0.0.1:0 to start the real program.
type Program func(ctx context.Context, log *slog.Logger, getenv func(string) (string, bool), ln net.Listener) error

// Main is the body of every service's main function. version is the
// service's main.version, which the image build stamps with
// -ldflags "-X main.version=...".
func Main(service, version string, run Program) {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(Healthcheck(os.Getenv("PORT")))
	}
	log := logging.New(os.Stdout, os.Getenv("LOG_LEVEL"), service)
	log.Info("starting", "version", version)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	ln, err := Listen(os.Getenv("PORT"))
	if err == nil {
		err = run(ctx, log, os.LookupEnv, ln)
	}
	if err != nil {
		log.Error("exit", "error", err.Error())
		stop()
		os.Exit(1)
	}
}

// Healthcheck calls the local routing.HealthPath and returns a process exit
// code. It is what the container health check runs, since the runtime image
// has no shell or curl.
func Healthcheck(port string) int {
	if port == "" {
		port = strconv.Itoa(config.DefaultPort)
	}
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://127.0.0.1:" + port + routing.HealthPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		return 1
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "healthcheck: status", resp.StatusCode)
		return 1
	}
	return 0
}
