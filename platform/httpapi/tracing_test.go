package httpapi

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/fargateshop/shop/platform/logging"
	"github.com/fargateshop/shop/platform/oteltest"
)

// A caller's W3C traceparent (version 00, sampled).
const (
	callerTrace         = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpan          = "00f067aa0ba902b7"
	callerParent        = "00-" + callerTrace + "-" + callerSpan + "-01"
	traceResponseHeader = "traceresponse"
)

func newTracedEngine(t *testing.T, logs *bytes.Buffer) *gin.Engine {
	t.Helper()
	r := NewEngine(logging.New(logs, "info", "test"), Options{})
	r.GET("/things/:id", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"id": c.Param("id")}) })
	Health(r, nil)
	return r
}

// TestRequestSpan: a request continuing a caller's trace is a server span
// in that trace named after the route template, its answer names the trace
// in traceresponse, its access-log line carries the span's ids, and
// http.server.request.duration is recorded by route and status.
func TestRequestSpan(t *testing.T) {
	rec := oteltest.Install(t)
	var logs bytes.Buffer
	r := newTracedEngine(t, &logs)
	metric := []attribute.KeyValue{attribute.String("http.route", "/things/:id"), attribute.Int("http.response.status_code", 200)}
	before := oteltest.Count(t, "http.server.request.duration", metric...)

	req := httptest.NewRequest("GET", "/things/42", nil)
	req.Header.Set("traceparent", callerParent)
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200", w.Code)
	}

	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("got %d spans (%v), want 1", len(spans), spanNames(spans))
	}
	s := spans[0]
	if got, want := s.Name(), "GET /things/:id"; got != want {
		t.Errorf("span name %q, want %q (the route template, not the path)", got, want)
	}
	if s.SpanKind() != trace.SpanKindServer {
		t.Errorf("span kind %v, want server", s.SpanKind())
	}
	if got := s.SpanContext().TraceID().String(); got != callerTrace {
		t.Errorf("trace id %s, want the caller's %s", got, callerTrace)
	}
	if got := s.Parent().SpanID().String(); got != callerSpan || !s.Parent().IsRemote() {
		t.Errorf("parent %s (remote %v), want the caller's span %s", got, s.Parent().IsRemote(), callerSpan)
	}
	if v, _ := oteltest.Attr(s, "http.route"); v.AsString() != "/things/:id" {
		t.Errorf("http.route %q, want /things/:id", v.AsString())
	}

	// W3C Trace Context Level 2, "traceresponse Header Field":
	// version-trace-id-child-id-flags, child-id naming the server's span.
	want := "00-" + callerTrace + "-" + s.SpanContext().SpanID().String() + "-01"
	if got := w.Header().Get(traceResponseHeader); got != want {
		t.Errorf("traceresponse %q, want %q", got, want)
	}

	var access map[string]any
	for _, l := range logLines(t, &logs) {
		if l["msg"] == "request" {
			access = l
		}
	}
	if access == nil {
		t.Fatalf("no access-log line in %q", logs.String())
	}
	if access["trace_id"] != callerTrace {
		t.Errorf("access log trace_id %v, want %s", access["trace_id"], callerTrace)
	}

	if got := oteltest.Count(t, "http.server.request.duration", metric...) - before; got != 1 {
		t.Errorf("http.server.request.duration with %v: %d new measurements, want 1", metric, got)
	}
}

// TestRequestWithoutTraceStartsOne: with no traceparent the request's span
// is the root of a new trace, which the answer names.
func TestRequestWithoutTraceStartsOne(t *testing.T) {
	rec := oteltest.Install(t)
	var logs bytes.Buffer
	r := newTracedEngine(t, &logs)
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/things/7", nil))
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("got %d spans (%v), want 1", len(spans), spanNames(spans))
	}
	s := spans[0]
	if s.Parent().IsValid() {
		t.Errorf("parent %v, want none: a new trace", s.Parent())
	}
	if got := w.Header().Get(traceResponseHeader); !strings.HasPrefix(got, "00-"+s.SpanContext().TraceID().String()+"-") {
		t.Errorf("traceresponse %q, want the new trace %s", got, s.SpanContext().TraceID())
	}
}

// TestProbesAreNotTraced: the probes sent every few seconds make no span
// and record no request metric, even when they carry a trace.
func TestProbesAreNotTraced(t *testing.T) {
	rec := oteltest.Install(t)
	var logs bytes.Buffer
	r := newTracedEngine(t, &logs)
	for _, path := range []string{"/livez", "/readyz"} {
		before := oteltest.Count(t, "http.server.request.duration", attribute.String("http.route", path))
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("traceparent", callerParent)
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: status %d, want 200", path, w.Code)
		}
		if got := w.Header().Get(traceResponseHeader); got != "" {
			t.Errorf("%s: traceresponse %q, want none", path, got)
		}
		if got := oteltest.Count(t, "http.server.request.duration", attribute.String("http.route", path)) - before; got != 0 {
			t.Errorf("%s: %d request duration measurements, want 0", path, got)
		}
	}
	if spans := rec.Ended(); len(spans) != 0 {
		t.Errorf("got spans %v, want none", spanNames(spans))
	}
}

func spanNames[S interface{ Name() string }](spans []S) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name()
	}
	return out
}
