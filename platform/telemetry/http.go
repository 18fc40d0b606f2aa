package telemetry

import (
	"context"
	"net/http"

	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

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

// routeKey names one series of a route's metrics.
type routeKey struct {
	method, route string
	status        int
}

// per holds what each method, route and status share across requests
// (span names, attribute sets), built once: the sets are what a request
// would otherwise allocate for metrics that, with telemetry off, record
// nothing. Routes are the templates Gin matched, so the keys are bounded.
var per sync.Map // routeKey -> attribute.Set, or (method, route) -> string

type nameKey struct{ method, route string }

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

func attributeSet(k routeKey) attribute.Set {
	if v, ok := per.Load(k); ok {
		return v.(attribute.Set)
	}
	kv := []attribute.KeyValue{
		attribute.String("http.request.method", k.method),
		attribute.String("url.scheme", "http"),
	}
	// Status 0 is the in-flight set (active_requests): method and scheme.
	if k.status != 0 {
		kv = append(kv, attribute.Int("http.response.status_code", k.status))
	}
	if k.route != "" {
		kv = append(kv, attribute.String("http.route", k.route))
	}
	set := attribute.NewSet(kv...)
	per.Store(k, set)
	return set
}

// Gin returns the middleware that traces each request of a Gin service (a
// server span named after the route template, e.g. "GET /api/orders/:id",
// continuing the caller's W3C trace context) and records the HTTP server
// metrics of the semantic conventions: http.server.request.duration by
// route, method and status, and http.server.active_requests. It must run
// first: everything after it, the access log included, runs inside the span.
//
// It is written for what most requests are: not sampled. Nothing is built
// for a span that does not record, and the metrics' attribute sets are
// built once per route (see per), which keeps tracing within its budget
// (docs/performance.md, "Tracing cost").
//
// It uses the providers installed when it is called (Start first).
func Gin() gin.HandlerFunc {
	tracer := otel.GetTracerProvider().Tracer(scope)
	meter := otel.GetMeterProvider().Meter(scope)
	// The HTTP server metrics of the OpenTelemetry semantic conventions,
	// with the buckets they advise for request durations. Errors are
	// impossible with these constant arguments; a no-op instrument stands
	// in if the SDK ever disagrees.
	requestDuration, _ := meter.Float64Histogram("http.server.request.duration",
		metric.WithUnit("s"), metric.WithDescription("Duration of HTTP server requests."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10))
	// In flight: an atomic per method, read when metrics are collected,
	// instead of two recordings per request.
	inFlight := map[string]*atomic.Int64{}
	for m := range methods {
		inFlight[m] = new(atomic.Int64)
	}
	inFlight["_OTHER"] = new(atomic.Int64)
	_, _ = meter.Int64ObservableUpDownCounter("http.server.active_requests",
		metric.WithUnit("{request}"), metric.WithDescription("Number of active HTTP server requests."),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			for m, n := range inFlight {
				o.Observe(n.Load(), metric.WithAttributeSet(attributeSet(routeKey{method: m})))
			}
			return nil
		}))
	return func(c *gin.Context) {
		r := c.Request
		if !Traced(r.URL.Path) {
			c.Next()
			return
		}
		method := r.Method
		if !methods[method] {
			method = "_OTHER"
		}
		route := c.FullPath()
		ctx := otel.GetTextMapPropagator().Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracer.Start(ctx, spanName(method, route), trace.WithSpanKind(trace.SpanKindServer))
		if span.IsRecording() {
			span.SetAttributes(
				attribute.String("http.request.method", method),
				attribute.String("url.path", r.URL.Path),
				attribute.String("url.scheme", "http"),
				attribute.String("server.address", r.Host),
				attribute.String("client.address", c.ClientIP()),
				attribute.String("user_agent.original", r.UserAgent()),
			)
			if route != "" {
				span.SetAttributes(attribute.String("http.route", route))
			}
		}
		active := inFlight[method]
		active.Add(1)
		start := time.Now()
		c.Request = r.WithContext(ctx)
		// Deferred: a handler may end the request with a panic
		// (http.ErrAbortHandler passes through recovery), and the span and
		// the in-flight count must end with it.
		defer func() {
			status := c.Writer.Status()
			if span.IsRecording() {
				span.SetAttributes(attribute.Int("http.response.status_code", status))
				// Server spans are errors for 5xx only: a 4xx is the client's.
				if status >= 500 {
					span.SetStatus(codes.Error, http.StatusText(status))
				}
			}
			span.End()
			requestDuration.Record(ctx, time.Since(start).Seconds(),
				metric.WithAttributeSet(attributeSet(routeKey{method, route, status})))
			active.Add(-1)
		}()
		c.Next()
	}
}

// ResponseHeader is the W3C Trace Context Level 2 response header naming
// the trace a request belongs to, so a client (or a person with curl) can
// open it in the trace store.
const ResponseHeader = "traceresponse"

// SetResponseHeader writes ResponseHeader for ctx's span, when it has one.
func SetResponseHeader(h http.Header, ctx context.Context) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return
	}
	h.Set(ResponseHeader, "00-"+sc.TraceID().String()+"-"+sc.SpanID().String()+"-"+sc.TraceFlags().String())
}

// Handler traces a plain net/http handler (the edge) like Gin does a Gin
// service. The span is named after the method until the handler knows the
// route and calls SetRoute.
func Handler(h http.Handler, service string) http.Handler {
	return otelhttp.NewHandler(h, service,
		otelhttp.WithFilter(func(r *http.Request) bool { return Traced(r.URL.Path) }),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }))
}

// SetRoute names the request's span and labels its metrics with route, the
// low-cardinality template the request matched.
func SetRoute(r *http.Request, route string) {
	attr := attribute.String("http.route", route)
	span := trace.SpanFromContext(r.Context())
	span.SetName(r.Method + " " + route)
	span.SetAttributes(attr)
	if l, ok := otelhttp.LabelerFromContext(r.Context()); ok {
		l.Add(attr)
	}
}

// Transport wraps an outgoing transport: a client span per attempt, named
// after the method and the dependency (e.g. "POST catalog"), the trace
// context injected into the request, and http.client.request.duration.
func Transport(base http.RoundTripper, dependency string) http.RoundTripper {
	return otelhttp.NewTransport(base,
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + dependency }))
}
