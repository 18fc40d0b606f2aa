package telemetry

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// scope names this package's own instruments.
const scope = "github.com/fargateshop/shop/platform/telemetry"

// untraced are the probes the load balancer and the container runtime send
// every few seconds: tracing them would bury the requests people look for.
var untraced = map[string]bool{"/livez": true, "/readyz": true, "/version": true}

// Traced reports whether a request to path gets a span and metrics.
func Traced(path string) bool { return !untraced[path] }

// activeRequests is http.server.active_requests (OpenTelemetry semantic
// conventions for HTTP metrics), which otelgin does not record.
var activeRequests, _ = otel.Meter(scope).Int64UpDownCounter("http.server.active_requests",
	metric.WithUnit("{request}"), metric.WithDescription("Number of active HTTP server requests."))

// Gin returns the middleware that traces each request of a Gin service (a
// server span named after the route template, e.g. "GET
// /api/orders/:id", continuing the caller's W3C trace context) and records
// the HTTP server metrics: http.server.request.duration by route, method
// and status, and http.server.active_requests. It must run first: it sets
// the span on the request's context for everything after it, logs included.
func Gin() gin.HandlerFunc {
	// No server name: the semantic conventions' server.address then comes
	// from the request's Host.
	traced := otelgin.Middleware("", otelgin.WithGinFilter(func(c *gin.Context) bool {
		return Traced(c.Request.URL.Path)
	}))
	return func(c *gin.Context) {
		if !Traced(c.Request.URL.Path) {
			c.Next()
			return
		}
		ctx := c.Request.Context()
		attrs := metric.WithAttributes(attribute.String("http.request.method", c.Request.Method))
		activeRequests.Add(ctx, 1, attrs)
		defer activeRequests.Add(ctx, -1, attrs)
		traced(c)
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
