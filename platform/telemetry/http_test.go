package telemetry_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/fargateshop/shop/platform/oteltest"
	"github.com/fargateshop/shop/platform/telemetry"
)

// Handler (the edge's) names the span after the route the handler reports
// with SetRoute, records the status it answered (200 when it wrote nothing
// or only a body) and marks 5xx, not 4xx, as errors, in the span and in
// http.server.request.duration.
func TestHandlerRecordsRouteAndStatus(t *testing.T) {
	tests := []struct {
		name       string
		route      string // SetRoute's argument; "" when the handler never calls it
		answer     func(http.ResponseWriter)
		wantSpan   string
		wantStatus int
		wantError  bool
	}{
		{"routed, 503", "/api/orders", func(w http.ResponseWriter) { w.WriteHeader(http.StatusServiceUnavailable) },
			"POST /api/orders", 503, true},
		{"routed, 404", "/api/catalog/*", func(w http.ResponseWriter) { w.WriteHeader(http.StatusNotFound) },
			"POST /api/catalog/*", 404, false},
		{"body only", "/*", func(w http.ResponseWriter) { _, _ = io.WriteString(w, "ok") }, "POST /*", 200, false},
		{"nothing written, no route", "", func(http.ResponseWriter) {}, "POST", 200, false},
		{"interim answer first", "/*", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusAccepted)
		}, "POST /*", 202, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := oteltest.Install(t)
			h := telemetry.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.route != "" {
					telemetry.SetRoute(r, tt.route)
				}
				tt.answer(w)
			}))
			series := []attribute.KeyValue{attribute.Int("http.response.status_code", tt.wantStatus)}
			if tt.route != "" {
				series = append(series, attribute.String("http.route", tt.route))
			}
			before := oteltest.Count(t, "http.server.request.duration", series...)
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/x", nil))

			spans := rec.Named(tt.wantSpan)
			if len(spans) != 1 {
				t.Fatalf("spans %v, want one %q", spanNames(rec.Ended()), tt.wantSpan)
			}
			s := spans[0]
			if v, _ := oteltest.Attr(s, "http.response.status_code"); v.AsInt64() != int64(tt.wantStatus) {
				t.Errorf("span status code %d, want %d", v.AsInt64(), tt.wantStatus)
			}
			if v, ok := oteltest.Attr(s, "http.route"); ok != (tt.route != "") || v.AsString() != tt.route {
				t.Errorf("span http.route %q (set %v), want %q", v.AsString(), ok, tt.route)
			}
			if got := s.Status().Code == codes.Error; got != tt.wantError {
				t.Errorf("span status %v, want error %v", s.Status(), tt.wantError)
			}
			if got := oteltest.Count(t, "http.server.request.duration", series...) - before; got != 1 {
				t.Errorf("%d measurements with %v, want 1", got, series)
			}
		})
	}
}

// The reverse proxy flushes streamed bodies through
// http.ResponseController, which must reach the connection's writer
// through Handler's.
func TestHandlerLetsTheProxyFlush(t *testing.T) {
	oteltest.Install(t)
	var flushErr error
	h := telemetry.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "part")
		flushErr = http.NewResponseController(w).Flush()
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/stream", nil))
	if flushErr != nil || !w.Flushed {
		t.Errorf("flush: %v, flushed %v; want the recorder flushed", flushErr, w.Flushed)
	}
}

// An upgrade through the reverse proxy hijacks the connection and writes
// the 101 on it, never through WriteHeader: Handler records it as 101.
func TestHandlerRecordsAnUpgrade(t *testing.T) {
	rec := oteltest.Install(t)
	srv := httptest.NewServer(telemetry.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		telemetry.SetRoute(r, "/ws")
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: probe\r\n\r\n")
		_ = rw.Flush()
	})))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/ws", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "probe")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d, want 101", res.StatusCode)
	}
	spans := rec.Await(t, "the upgrade's span", func(s []sdktrace.ReadOnlySpan) bool { return len(s) > 0 })
	if v, _ := oteltest.Attr(spans[0], "http.response.status_code"); v.AsInt64() != http.StatusSwitchingProtocols {
		t.Errorf("span status code %d, want 101", v.AsInt64())
	}
}

// SetResponseHeader writes the W3C traceresponse of the request's span:
// version, trace id, span id, flags.
func TestSetResponseHeader(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	for _, flags := range []trace.TraceFlags{0, trace.FlagsSampled} {
		ctx := trace.ContextWithSpanContext(context.Background(),
			trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: flags}))
		h := http.Header{}
		telemetry.SetResponseHeader(h, ctx)
		want := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0" + flags.String()[1:]
		if got := h.Values("Traceresponse"); len(got) != 1 || got[0] != want {
			t.Errorf("flags %v: traceresponse %q, want %q", flags, got, want)
		}
	}
	h := http.Header{}
	telemetry.SetResponseHeader(h, context.Background())
	if len(h) != 0 {
		t.Errorf("outside any trace: header %v, want none", h)
	}
}

// A client span lasts until the response body is read to its end or
// closed, whichever comes first, and is recorded once; it carries the
// trace to the server and leaves the caller's request as it was.
func TestTransportSpanEndsWithTheBody(t *testing.T) {
	rec := oteltest.Install(t)
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("traceparent")
		_, _ = io.WriteString(w, strings.Repeat("x", 64<<10))
	}))
	defer srv.Close()
	rt := telemetry.Transport(http.DefaultTransport, "dep")
	ctx, caller := otel.Tracer("test").Start(context.Background(), "caller")
	defer caller.End()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/things", nil)
	series := attribute.Int("http.response.status_code", 200)
	before := oteltest.Count(t, "http.client.request.duration", series)

	res, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(rec.Named("GET dep")); n != 0 {
		t.Errorf("%d client spans ended before the body was read, want 0", n)
	}
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()

	spans := rec.Named("GET dep")
	if len(spans) != 1 {
		t.Fatalf("spans %v, want one \"GET dep\"", spanNames(rec.Ended()))
	}
	s := spans[0]
	if s.SpanKind() != trace.SpanKindClient || s.Parent().SpanID() != caller.SpanContext().SpanID() {
		t.Errorf("kind %v under %s, want a client span under the caller's %s", s.SpanKind(), s.Parent().SpanID(), caller.SpanContext().SpanID())
	}
	want := "00-" + s.SpanContext().TraceID().String() + "-" + s.SpanContext().SpanID().String() + "-01"
	if got != want {
		t.Errorf("server got traceparent %q, want %q", got, want)
	}
	if v := req.Header.Get("traceparent"); v != "" {
		t.Errorf("the caller's request was changed: traceparent %q", v)
	}
	if v, _ := oteltest.Attr(s, "url.full"); v.AsString() != srv.URL+"/things" {
		t.Errorf("url.full %q", v.AsString())
	}
	if n := oteltest.Count(t, "http.client.request.duration", series) - before; n != 1 {
		t.Errorf("%d durations recorded, want 1 (EOF and Close end the attempt once)", n)
	}
}

// A failed attempt, or an answer from 400 up, is an error span and a
// duration with error.type: the status, or a short name of the failure.
func TestTransportErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-r.Context().Done()
			return
		}
		http.NotFound(w, r)
	}))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := []struct {
		name, url string
		timeout   time.Duration
		errorType string
		status    int
	}{
		{"404", srv.URL + "/missing", 0, "404", 404},
		{"nobody listening", closed.URL + "/x", 0, "_OTHER", 0},
		{"deadline", srv.URL + "/slow", 50 * time.Millisecond, "timeout", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := oteltest.Install(t)
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			series := attribute.String("error.type", tt.errorType)
			before := oteltest.Count(t, "http.client.request.duration", series)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tt.url, nil)
			res, err := telemetry.Transport(http.DefaultTransport, "dep").RoundTrip(req)
			if err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				_ = res.Body.Close()
			}
			if (err != nil) != (tt.status == 0) {
				t.Fatalf("RoundTrip error %v, want one only when no status is expected", err)
			}
			spans := rec.Named("GET dep")
			if len(spans) != 1 {
				t.Fatalf("spans %v, want one \"GET dep\"", spanNames(rec.Ended()))
			}
			s := spans[0]
			if s.Status().Code != codes.Error {
				t.Errorf("span status %v, want an error", s.Status())
			}
			if v, _ := oteltest.Attr(s, "error.type"); v.AsString() != tt.errorType {
				t.Errorf("span error.type %q, want %q", v.AsString(), tt.errorType)
			}
			if n := oteltest.Count(t, "http.client.request.duration", series) - before; n != 1 {
				t.Errorf("%d durations with error.type %q, want 1", n, tt.errorType)
			}
		})
	}
}

// An upgraded connection's body is the connection, which the reverse
// proxy writes to: Transport hands it back untouched.
func TestTransportUpgradeKeepsTheConnection(t *testing.T) {
	rec := oteltest.Install(t)
	conn := &rwc{}
	base := roundTripper(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusSwitchingProtocols, Body: conn, Header: http.Header{}}, nil
	})
	req, _ := http.NewRequest(http.MethodGet, "http://dep/ws", nil)
	res, err := telemetry.Transport(base, "dep").RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.Body.(io.ReadWriteCloser); !ok || res.Body != io.ReadCloser(conn) {
		t.Errorf("body %T, want the connection itself", res.Body)
	}
	spans := rec.Named("GET dep")
	if len(spans) != 1 {
		t.Fatalf("%d spans ended, want 1 (the attempt ends with the upgrade)", len(spans))
	}
	// No port in the URL: the scheme's.
	host, _ := oteltest.Attr(spans[0], "server.address")
	port, _ := oteltest.Attr(spans[0], "server.port")
	if host.AsString() != "dep" || port.AsInt64() != 80 {
		t.Errorf("server.address %q, server.port %d; want dep and 80", host.AsString(), port.AsInt64())
	}
}

type rwc struct{}

func (*rwc) Read([]byte) (int, error)    { return 0, io.EOF }
func (*rwc) Write(p []byte) (int, error) { return len(p), nil }
func (*rwc) Close() error                { return nil }

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func spanNames(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name())
	}
	return out
}
