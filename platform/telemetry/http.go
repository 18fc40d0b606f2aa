package telemetry

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// The HTTP instrumentation of every service, in and out, is this file's:
// spans and the HTTP metrics of the OpenTelemetry semantic conventions
// (http.server.request.duration, http.server.active_requests,
// http.client.request.duration). It is written for what most requests
// are: not sampled, with metrics on. Nothing is built for a span that does
// not record, and every attribute set a metric is recorded with is built
// once per route, method and status (see per), which keeps tracing within
// its budget (docs/performance.md, "Tracing cost").

// scope names this package's own instruments.
const scope = "github.com/fargateshop/shop/platform/telemetry"

// untraced are the probes the load balancer and the container runtime send
// every few seconds: tracing them would bury the requests people look for.
var untraced = map[string]bool{"/livez": true, "/readyz": true, "/version": true}

// Traced reports whether a request to path gets a span and metrics.
func Traced(path string) bool { return !untraced[path] }

// methods are the methods the semantic conventions name; any other is
// recorded as _OTHER, so a client cannot mint metric series.
var methods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true, http.MethodPatch: true,
	http.MethodDelete: true, http.MethodConnect: true, http.MethodOptions: true, http.MethodTrace: true,
}

func knownMethod(m string) string {
	if methods[m] {
		return m
	}
	return "_OTHER"
}

// per holds what requests share (span names, attribute sets), built once:
// each would otherwise be allocated by every request, sampled or not. The
// keys are bounded: methods are the known ones, routes the templates a
// router matched, dependencies the ones a service is configured with.
var per sync.Map // nameKey -> string, serverKey or clientKey -> recordOption

type nameKey struct{ method, route string }

// spanName is "METHOD route", or the method alone before a route is known.
func spanName(method, route string) string {
	k := nameKey{method, route}
	if v, ok := per.Load(k); ok {
		return v.(string)
	}
	name := method
	if route != "" {
		name += " " + route
	}
	per.Store(k, name)
	return name
}

// serverKey names one series of the server metrics; status 0 is the
// in-flight series of a method (http.server.active_requests).
type serverKey struct {
	method, route string
	status        int
}

func serverSet(k serverKey) recordOption {
	if v, ok := per.Load(k); ok {
		return v.(recordOption)
	}
	kv := []attribute.KeyValue{
		attribute.String("http.request.method", k.method),
		attribute.String("url.scheme", "http"),
	}
	if k.status != 0 {
		kv = append(kv, attribute.Int("http.response.status_code", k.status))
		if k.status >= 500 {
			kv = append(kv, attribute.String("error.type", strconv.Itoa(k.status)))
		}
	}
	if k.route != "" {
		kv = append(kv, attribute.String("http.route", k.route))
	}
	return storeOption(k, kv)
}

// recordOption is a series' attribute set as the option a recording
// takes, made once: made per recording, it is an allocation.
type recordOption struct {
	record  []metric.RecordOption
	observe []metric.ObserveOption
}

func storeOption(k any, kv []attribute.KeyValue) recordOption {
	opt := metric.WithAttributeSet(attribute.NewSet(kv...))
	o := recordOption{record: []metric.RecordOption{opt}, observe: []metric.ObserveOption{opt}}
	per.Store(k, o)
	return o
}

// The span kinds as start options, made once.
var (
	serverKind = trace.WithSpanKind(trace.SpanKindServer)
	clientKind = trace.WithSpanKind(trace.SpanKindClient)
)

// server holds the instruments of one instrumented server.
type server struct {
	tracer   trace.Tracer
	duration metric.Float64Histogram
	// In flight: an atomic per method, read when metrics are collected,
	// instead of two recordings per request.
	inFlight map[string]*atomic.Int64
}

// newServer makes the instruments with the providers installed now (Start
// first), with the buckets the semantic conventions advise for request
// durations. Errors are impossible with these constant arguments; a no-op
// instrument stands in if the SDK ever disagrees.
func newServer() *server {
	meter := otel.GetMeterProvider().Meter(scope)
	s := &server{tracer: otel.GetTracerProvider().Tracer(scope), inFlight: map[string]*atomic.Int64{"_OTHER": {}}}
	s.duration, _ = meter.Float64Histogram("http.server.request.duration",
		metric.WithUnit("s"), metric.WithDescription("Duration of HTTP server requests."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10))
	for m := range methods {
		s.inFlight[m] = new(atomic.Int64)
	}
	_, _ = meter.Int64ObservableUpDownCounter("http.server.active_requests",
		metric.WithUnit("{request}"), metric.WithDescription("Number of active HTTP server requests."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			for m, n := range s.inFlight {
				o.Observe(n.Load(), serverSet(serverKey{method: m}).observe...)
			}
			return nil
		}))
	return s
}

// serverRequest is one request in flight through a server.
type serverRequest struct {
	s      *server
	r      *http.Request
	method string
	ctx    context.Context
	span   trace.Span
	start  time.Time
}

// begin continues the caller's W3C trace context in a server span named
// name and counts the request in flight; end must follow.
func (s *server) begin(r *http.Request, method, name string) serverRequest {
	ctx := otel.GetTextMapPropagator().Extract(r.Context(), headers(r.Header))
	ctx, span := s.tracer.Start(ctx, name, serverKind)
	s.inFlight[method].Add(1)
	return serverRequest{s: s, r: r, method: method, ctx: ctx, span: span, start: time.Now()}
}

// end records the request's duration under route and status and ends its
// span, whose attributes are all set here, in one call: only a span that
// records gets them, and client (the caller's address) is asked for then.
// Server spans are errors for 5xx only: a 4xx is the client's.
func (q serverRequest) end(route string, status int, client func() string) {
	if q.span.IsRecording() {
		r := q.r
		attrs := make([]attribute.KeyValue, 0, 10)
		attrs = append(attrs,
			attribute.String("http.request.method", q.method),
			attribute.String("url.path", r.URL.Path),
			attribute.String("url.scheme", "http"),
			attribute.String("client.address", client()),
			attribute.String("user_agent.original", r.UserAgent()),
			attribute.Int("http.response.status_code", status))
		attrs = append(attrs, serverAddress(r.Host, "http")...)
		if route != "" {
			attrs = append(attrs, attribute.String("http.route", route))
		}
		if status >= 500 {
			attrs = append(attrs, attribute.String("error.type", strconv.Itoa(status)))
			q.span.SetStatus(codes.Error, http.StatusText(status))
		}
		q.span.SetAttributes(attrs...)
	}
	q.span.End()
	q.s.duration.Record(q.ctx, time.Since(q.start).Seconds(), serverSet(serverKey{q.method, route, status}).record...)
	q.s.inFlight[q.method].Add(-1)
}

// Gin returns the middleware that traces each request of a Gin service: a
// server span named after the route template, e.g. "GET
// /api/orders/:id", continuing the caller's W3C trace context, and the
// HTTP server metrics by route, method and status. It must run first:
// everything after it, the access log included, runs inside the span.
//
// It uses the providers installed when it is called (Start first).
func Gin() gin.HandlerFunc {
	s := newServer()
	return func(c *gin.Context) {
		r := c.Request
		if !Traced(r.URL.Path) {
			c.Next()
			return
		}
		method := knownMethod(r.Method)
		route := c.FullPath()
		q := s.begin(r, method, spanName(method, route))
		c.Request = r.WithContext(q.ctx)
		// Deferred: a handler may end the request with a panic
		// (http.ErrAbortHandler passes through recovery), and the span and
		// the in-flight count must end with it.
		defer func() { q.end(route, c.Writer.Status(), c.ClientIP) }()
		c.Next()
	}
}

// Handler traces a plain net/http handler (the edge) as Gin does a Gin
// service. The span is named after the method until the handler knows the
// route and calls SetRoute.
func Handler(h http.Handler) http.Handler {
	s := newServer()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !Traced(r.URL.Path) {
			h.ServeHTTP(w, r)
			return
		}
		method := knownMethod(r.Method)
		q := s.begin(r, method, method)
		sw := &statusWriter{ResponseWriter: w, method: method}
		defer func() {
			status := sw.status
			if status == 0 {
				// Nothing written: net/http answers 200 when the handler
				// returns, and nothing at all when it panics.
				status = http.StatusOK
			}
			q.end(sw.route, status, func() string { return remoteHost(r) })
		}()
		h.ServeHTTP(sw, r.WithContext(context.WithValue(q.ctx, statusWriterKey{}, sw)))
	})
}

type statusWriterKey struct{}

// statusWriter notes the status of a Handler's answer, and the route
// SetRoute names. Unwrap lets http.ResponseController (the reverse proxy's
// flushes and upgrades) reach the connection's writer.
type statusWriter struct {
	http.ResponseWriter
	method, route string
	status        int
}

func (w *statusWriter) WriteHeader(code int) {
	// 1xx are interim answers, except 101, after which the connection is
	// the upgrade's.
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hands the connection over, as the reverse proxy does for an
// upgrade: it writes the 101 on the connection itself, never through
// WriteHeader, so the hand-over is what marks the request 101.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return c, rw, err
}

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// SetRoute names the request's span and labels its metrics with route, the
// low-cardinality template the request matched. Outside Handler it does
// nothing.
func SetRoute(r *http.Request, route string) {
	sw, ok := r.Context().Value(statusWriterKey{}).(*statusWriter)
	if !ok {
		return
	}
	sw.route = route
	trace.SpanFromContext(r.Context()).SetName(spanName(sw.method, route))
}

// headers carries the trace context in HTTP headers as
// propagation.HeaderCarrier does, but names the W3C Trace Context headers
// as net/http stores them: Header.Get and Set canonicalize a key like
// "traceparent" into a new string on every call, twice per request each
// way.
type headers http.Header

var _ propagation.TextMapCarrier = headers(nil)

var canonical = map[string]string{"traceparent": "Traceparent", "tracestate": "Tracestate", "baggage": "Baggage"}

func (h headers) key(k string) string {
	if c, ok := canonical[k]; ok {
		return c
	}
	return http.CanonicalHeaderKey(k)
}

func (h headers) Get(k string) string {
	if v := h[h.key(k)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (h headers) Set(k, v string) { h[h.key(k)] = []string{v} }

func (h headers) Keys() []string { return propagation.HeaderCarrier(h).Keys() }

// ResponseHeader is the W3C Trace Context Level 2 response header naming
// the trace a request belongs to, so a client (or a person with curl) can
// open it in the trace store.
const ResponseHeader = "traceresponse"

// responseHeaderKey is ResponseHeader as net/http stores it: setting the
// map entry directly spares every request the key's canonicalization.
var responseHeaderKey = http.CanonicalHeaderKey(ResponseHeader)

// SetResponseHeader writes ResponseHeader for ctx's span, when it has one.
func SetResponseHeader(h http.Header, ctx context.Context) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return
	}
	// "00-" trace id "-" span id "-" flags: 55 characters, one allocation.
	var b [55]byte
	tid, sid := sc.TraceID(), sc.SpanID()
	copy(b[:], "00-")
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{byte(sc.TraceFlags())})
	h[responseHeaderKey] = []string{string(b[:])}
}

// Transport wraps an outgoing transport: a client span per attempt, named
// after the method and the dependency (e.g. "POST catalog"), the trace
// context injected into the request (sampled or not, so the next service
// logs the same trace id), and http.client.request.duration by method,
// server, status and error type. A span and its duration end when the
// response body is read to its end or closed, or when the attempt fails.
func Transport(base http.RoundTripper, dependency string) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	meter := otel.GetMeterProvider().Meter(scope)
	t := &transport{base: base, dependency: dependency, tracer: otel.GetTracerProvider().Tracer(scope)}
	t.duration, _ = meter.Float64Histogram("http.client.request.duration",
		metric.WithUnit("s"), metric.WithDescription("Duration of HTTP client requests."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10))
	return t
}

type transport struct {
	base       http.RoundTripper
	dependency string
	tracer     trace.Tracer
	duration   metric.Float64Histogram
}

// clientKey names one series of http.client.request.duration.
type clientKey struct {
	method, scheme, host string
	status               int
	errorType            string
}

func clientSet(k clientKey) recordOption {
	if v, ok := per.Load(k); ok {
		return v.(recordOption)
	}
	kv := []attribute.KeyValue{attribute.String("http.request.method", k.method)}
	kv = append(kv, serverAddress(k.host, k.scheme)...)
	if k.status != 0 {
		kv = append(kv, attribute.Int("http.response.status_code", k.status))
	}
	if k.errorType != "" {
		kv = append(kv, attribute.String("error.type", k.errorType))
	}
	return storeOption(k, kv)
}

// serverAddress is server.address and server.port of a host[:port], the
// port the scheme's when the host names none.
func serverAddress(hostport, scheme string) []attribute.KeyValue {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	kv := []attribute.KeyValue{attribute.String("server.address", host)}
	if p, err := strconv.Atoi(port); err == nil {
		kv = append(kv, attribute.Int("server.port", p))
	}
	return kv
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	method := knownMethod(r.Method)
	start := time.Now()
	ctx, span := t.tracer.Start(r.Context(), spanName(method, t.dependency), clientKind)
	// A RoundTripper must not change the request it is given.
	r = r.Clone(ctx)
	otel.GetTextMapPropagator().Inject(ctx, headers(r.Header))
	c := &clientCall{t: t, r: r, method: method, ctx: ctx, span: span, start: start}
	res, err := t.base.RoundTrip(r)
	if err != nil {
		c.end(0, err)
		return nil, err
	}
	if res.Body == nil || res.Body == http.NoBody || res.StatusCode == http.StatusSwitchingProtocols {
		// No body to wait for; an upgraded connection's body is the
		// connection itself, and must keep its io.Writer.
		c.end(res.StatusCode, nil)
		return res, nil
	}
	c.body, c.status = res.Body, res.StatusCode
	res.Body = c
	return res, nil
}

// clientCall is one attempt, and the body of its response until that is
// read or closed.
type clientCall struct {
	t      *transport
	r      *http.Request
	method string
	ctx    context.Context
	span   trace.Span
	start  time.Time
	body   io.ReadCloser
	status int
	ended  atomic.Bool
}

func (c *clientCall) Read(p []byte) (int, error) {
	n, err := c.body.Read(p)
	if err == io.EOF {
		c.end(c.status, nil)
	} else if err != nil {
		c.end(c.status, err)
	}
	return n, err
}

func (c *clientCall) Close() error {
	err := c.body.Close()
	c.end(c.status, nil)
	return err
}

// end ends the attempt's span and records its duration, once. A client
// span is an error for any status from 400 (semantic conventions, HTTP
// spans) and for a failed attempt.
func (c *clientCall) end(status int, err error) {
	if c.ended.Swap(true) {
		return
	}
	errType := ""
	switch {
	case err != nil:
		errType = errorType(err)
	case status >= 400:
		errType = strconv.Itoa(status)
	}
	if c.span.IsRecording() {
		attrs := make([]attribute.KeyValue, 0, 6)
		attrs = append(attrs,
			attribute.String("http.request.method", c.method),
			attribute.String("url.full", c.r.URL.Redacted()))
		attrs = append(attrs, serverAddress(c.r.URL.Host, c.r.URL.Scheme)...)
		if status != 0 {
			attrs = append(attrs, attribute.Int("http.response.status_code", status))
		}
		if errType != "" {
			attrs = append(attrs, attribute.String("error.type", errType))
			c.span.SetStatus(codes.Error, errType)
		}
		if err != nil {
			c.span.RecordError(err)
		}
		c.span.SetAttributes(attrs...)
	}
	c.span.End()
	c.t.duration.Record(c.ctx, time.Since(c.start).Seconds(), clientSet(clientKey{c.method, c.r.URL.Scheme, c.r.URL.Host, status, errType}).record...)
}

// errorType is the error.type of a failed attempt, from a short list, so
// that errors mint no metric series.
func errorType(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	default:
		return "_OTHER"
	}
}
