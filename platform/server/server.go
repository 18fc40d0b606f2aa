// Package server runs an HTTP handler the way every service in this
// repository must: explicit timeouts, graceful shutdown on SIGTERM within a
// bound below the ECS stop timeout, and a healthcheck subcommand for images
// that have no shell.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/fargateshop/shop/platform/logging"
)

// Timeouts. IdleTimeout exceeds the ALB's 60 s idle timeout so the load
// balancer, not the task, closes idle keep-alive connections; otherwise the
// ALB can reuse a connection the task just closed and answer 502.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 15 * time.Second
	WriteTimeout      = 30 * time.Second
	IdleTimeout       = 75 * time.Second
	// ShutdownTimeout bounds draining. ECS sends SIGKILL stopTimeout (30 s)
	// after SIGTERM and the target group deregisters within 15 s.
	ShutdownTimeout = 15 * time.Second
)

// New returns an http.Server with the repository's timeouts.
func New(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
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

// Listen opens the TCP listener for PORT (default 8080).
func Listen(port string) (net.Listener, error) {
	if port == "" {
		port = "8080"
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

// Main is the body of every service's main function.
func Main(service string, run Program) {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(Healthcheck(os.Getenv("PORT")))
	}
	log := logging.New(os.Stdout, os.Getenv("LOG_LEVEL"), service)
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

// Healthcheck calls the local /livez and returns a process exit code. It is
// what the container health check runs, since the runtime image has no
// shell or curl.
func Healthcheck(port string) int {
	if port == "" {
		port = "8080"
	}
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://127.0.0.1:" + port + "/livez")
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
