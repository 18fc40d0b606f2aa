// Package edge is the local stand-in for the AWS Application Load Balancer:
// it routes each request by path to a service, using the same declaration
// (platform/routing) the ALB listener rules are built from.
//
// Beyond the ALB, the edge refuses paths that are not canonical (the ALB
// normalises them) and every path under /internal, which no public route
// may reach.
//
// The edge answers /livez and /readyz itself, for its own container health
// check. Those paths would otherwise go to the default service (web), but
// nothing outside needs web's: the ALB and the container health checks call
// each service directly on its own port.
package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/fargateshop/shop/platform/requestid"
	"github.com/fargateshop/shop/platform/routing"
	"github.com/fargateshop/shop/platform/telemetry"
)

// Options tune New; zero values take the package defaults.
type Options struct {
	DialTimeout           time.Duration
	ResponseHeaderTimeout time.Duration
}

// Edge is the routing reverse proxy.
type Edge struct {
	log     *slog.Logger
	rules   []routing.Rule
	def     string
	proxies map[string]*httputil.ReverseProxy
}

// New validates the declaration and returns an Edge that forwards to
// upstreams, which must hold a base URL for every declared service.
func New(log *slog.Logger, services []routing.Service, upstreams map[string]*url.URL, opts Options) (*Edge, error) {
	if err := routing.Validate(services); err != nil {
		return nil, fmt.Errorf("routing declaration: %w", err)
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DialTimeout
	}
	if opts.ResponseHeaderTimeout <= 0 {
		opts.ResponseHeaderTimeout = ResponseHeaderTimeout
	}
	def, _ := routing.DefaultService(services)
	e := &Edge{log: log, rules: routing.Rules(services), def: def.Name, proxies: map[string]*httputil.ReverseProxy{}}
	for _, s := range services {
		u, ok := upstreams[s.Name]
		if !ok {
			return nil, fmt.Errorf("no upstream for service %q", s.Name)
		}
		// One transport per service: its own keep-alive pool, so a slow
		// service cannot take the connections of another.
		e.proxies[s.Name] = newProxy(log, s.Name, u, telemetry.Transport(newTransport(opts.DialTimeout, opts.ResponseHeaderTimeout), s.Name))
	}
	return e, nil
}

// Route returns the service for a clean path: the first rule in priority
// order that matches, else the default service.
func (e *Edge) Route(path string) string {
	service, _ := e.route(path)
	return service
}

// route is Route with the pattern that matched: the request's http.route
// in traces and metrics ("/*" for the default service).
func (e *Edge) route(path string) (service, pattern string) {
	for _, r := range e.rules {
		if routing.Match(r.Pattern, path) {
			return r.Service, r.Pattern
		}
	}
	return e.def, "/*"
}

// ServeHTTP routes one request.
func (e *Edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := r.Header.Get(requestid.Header)
	if !requestid.Valid(id) {
		id = requestid.New()
	}
	r = r.WithContext(requestid.With(r.Context(), id))
	refuse, closeAfter := framingOf(r)
	rec := &recorder{ResponseWriter: w, closeAfter: closeAfter}
	rec.Header().Set(requestid.Header, id)
	telemetry.SetResponseHeader(rec.Header(), r.Context())

	var service string
	if refuse != "" {
		// Like the ALB's desync mitigation: refused before any routing, and
		// the connection closes, so what follows the head is never read as
		// another request.
		e.log.InfoContext(r.Context(), "refused request framing", "reason", refuse, "client_ip", clientIP(r))
		writeProblem(rec, r, http.StatusBadRequest, "the request's framing is ambiguous: "+refuse)
		service = "edge"
	} else {
		service = e.serve(rec, r)
	}

	level := slog.LevelInfo
	if service == "edge" {
		level = slog.LevelDebug // health checks every few seconds would drown the log
	}
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	e.log.LogAttrs(r.Context(), level, "request",
		slog.String("method", r.Method),
		slog.String("path", r.URL.EscapedPath()),
		slog.String("service", service),
		slog.Int("status", status),
		slog.Int64("bytes", rec.bytes),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		slog.String("client_ip", clientIP(r)),
	)
}

// serve answers r and returns who answered it: a service name, or "edge".
func (e *Edge) serve(w http.ResponseWriter, r *http.Request) (service string) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v) // the proxy aborts a broken response this way; net/http handles it
			}
			e.log.ErrorContext(r.Context(), "panic", "panic", fmt.Sprint(v))
			writeProblem(w, r, http.StatusInternalServerError, "an unexpected error occurred")
			service = "edge"
		}
	}()

	if r.URL.Path == "/livez" || r.URL.Path == "/readyz" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeProblem(w, r, http.StatusMethodNotAllowed, "method not allowed on this resource")
			return "edge"
		}
		// Ready means the process is up: readiness of the edge must not
		// depend on services that are routed to independently.
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "ok"})
		return "edge"
	}
	if err := CheckPath(r.URL.Path, r.URL.RawPath); err != nil {
		writeProblem(w, r, http.StatusNotFound, "no such resource")
		return "edge"
	}
	if strings.HasPrefix(r.URL.Path, routing.InternalPrefix) {
		writeProblem(w, r, http.StatusNotFound, "no such resource")
		return "edge"
	}
	service, pattern := e.route(r.URL.Path)
	telemetry.SetRoute(r, pattern)
	if r.Body != nil && r.Body != http.NoBody {
		body := &clientBody{ReadCloser: r.Body}
		r = r.WithContext(context.WithValue(r.Context(), clientBodyKey{}, body))
		r.Body = body
	}
	e.proxies[service].ServeHTTP(w, r)
	return service
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// recorder notes the status and size for the access log, and closes the
// connection after the answer when closeAfter is set. Unwrap lets the
// proxy flush streamed bodies and hijack upgraded connections.
type recorder struct {
	http.ResponseWriter
	status     int
	bytes      int64
	closeAfter bool
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
		// Not on 1xx: a 101 hands the connection over to the upgrade.
		if r.closeAfter {
			r.Header().Set("Connection", "close")
		}
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
