package edge_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/fargateshop/shop/apps/edge/internal/edge"
	"github.com/fargateshop/shop/platform/oteltest"
	"github.com/fargateshop/shop/platform/routing"
	"github.com/fargateshop/shop/platform/telemetry"
)

// upstreamTraceResponse is what every fake service names as its own span
// in traceresponse, as a traced service does: the edge must not pass it on.
const upstreamTraceResponse = "00-11111111111111111111111111111111-2222222222222222-01"

// tracedFleet is one fake service per declared service that records the
// trace context each request carried.
type tracedFleet struct {
	mu       sync.Mutex
	received map[string][]trace.SpanContext
}

func newTracedFleet(t *testing.T) (*tracedFleet, map[string]*url.URL) {
	t.Helper()
	f := &tracedFleet{received: map[string][]trace.SpanContext{}}
	ups := map[string]*url.URL{}
	for _, s := range routing.Services {
		name := s.Name
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(r.Header))
			f.mu.Lock()
			f.received[name] = append(f.received[name], trace.SpanContextFromContext(ctx))
			f.mu.Unlock()
			w.Header().Set(telemetry.ResponseHeader, upstreamTraceResponse)
			_, _ = io.Copy(io.Discard, r.Body)
			_, _ = io.WriteString(w, "hello from "+name)
		}))
		t.Cleanup(srv.Close)
		ups[name], _ = url.Parse(srv.URL)
	}
	return f, ups
}

func (f *tracedFleet) got(service string) []trace.SpanContext {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.received[service]
}

// TestTraceCrossesTheEdge: behind telemetry.Handler, as main wires it, a
// proxied request is a server span named after the rule that matched, with
// a client span for the call to the service as its child; the service
// receives a traceparent in the same trace naming that client span; the
// client hears the edge's traceresponse, naming the server span, and not
// the service's. A request without a traceparent starts a new trace.
func TestTraceCrossesTheEdge(t *testing.T) {
	const callerTrace, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	tests := []struct {
		name, method, path, traceparent string
		service, wantSpan               string
	}{
		{"catalog with a trace", "GET", "/api/catalog/products/42", "00-" + callerTrace + "-" + callerSpan + "-01", "catalog", "GET /api/catalog/*"},
		{"orders with a trace", "POST", "/api/orders", "00-" + callerTrace + "-" + callerSpan + "-01", "orders", "POST /api/orders"},
		{"default service with a trace", "GET", "/products/42", "00-" + callerTrace + "-" + callerSpan + "-01", "web", "GET /*"},
		{"without a trace", "GET", "/api/catalog/products/42", "", "catalog", "GET /api/catalog/*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := oteltest.Install(t)
			f, ups := newTracedFleet(t)
			h := telemetry.Handler(newEdge(t, ups, edge.Options{}))
			hdr := http.Header{}
			if tt.traceparent != "" {
				hdr.Set("traceparent", tt.traceparent)
			}
			res := do(h, tt.method, tt.path, hdr)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", res.StatusCode)
			}

			servers := rec.Named(tt.wantSpan)
			clients := rec.Named(tt.method + " " + tt.service)
			if len(servers) != 1 || len(clients) != 1 {
				t.Fatalf("got spans %v, want one %q and one %q", names(rec), tt.wantSpan, tt.method+" "+tt.service)
			}
			server, client := servers[0], clients[0]
			if server.SpanKind() != trace.SpanKindServer || client.SpanKind() != trace.SpanKindClient {
				t.Errorf("kinds: %q %v, %q %v; want server and client", server.Name(), server.SpanKind(), client.Name(), client.SpanKind())
			}
			if v, _ := oteltest.Attr(server, "http.route"); v.AsString() != tt.wantSpan[len(tt.method)+1:] {
				t.Errorf("server span http.route %q, want %q", v.AsString(), tt.wantSpan[len(tt.method)+1:])
			}
			traceID := server.SpanContext().TraceID()
			if tt.traceparent != "" {
				if traceID.String() != callerTrace || server.Parent().SpanID().String() != callerSpan {
					t.Errorf("server span in trace %s under %s, want the caller's %s under %s", traceID, server.Parent().SpanID(), callerTrace, callerSpan)
				}
			} else if server.Parent().IsValid() {
				t.Errorf("server span has parent %v, want the root of a new trace", server.Parent())
			}
			if client.SpanContext().TraceID() != traceID || client.Parent().SpanID() != server.SpanContext().SpanID() {
				t.Errorf("client span in trace %s under %s, want %s under the server span %s",
					client.SpanContext().TraceID(), client.Parent().SpanID(), traceID, server.SpanContext().SpanID())
			}

			got := f.got(tt.service)
			if len(got) != 1 {
				t.Fatalf("%s received %d requests, want 1", tt.service, len(got))
			}
			if !got[0].IsValid() || got[0].TraceID() != traceID || got[0].SpanID() != client.SpanContext().SpanID() {
				t.Errorf("%s received traceparent in trace %s naming %s, want trace %s naming the edge's client span %s",
					tt.service, got[0].TraceID(), got[0].SpanID(), traceID, client.SpanContext().SpanID())
			}

			want := "00-" + traceID.String() + "-" + server.SpanContext().SpanID().String() + "-01"
			if got := res.Header.Values(telemetry.ResponseHeader); len(got) != 1 || got[0] != want {
				t.Errorf("traceresponse %q, want only the edge's %q", got, want)
			}
		})
	}
}

// TestProbeOfTheEdgeIsNotTraced: the load balancer's health checks of the
// edge itself make no span.
func TestProbeOfTheEdgeIsNotTraced(t *testing.T) {
	rec := oteltest.Install(t)
	_, ups := newTracedFleet(t)
	h := telemetry.Handler(newEdge(t, ups, edge.Options{}))
	hdr := http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
	res := do(h, "GET", routing.HealthPath, hdr)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s: status %d, want 200", routing.HealthPath, res.StatusCode)
	}
	if spans := rec.Ended(); len(spans) != 0 {
		t.Errorf("got spans %v, want none", names(rec))
	}
}

func names(rec *oteltest.Recorder) []string {
	var out []string
	for _, s := range rec.Ended() {
		out = append(out, s.Name())
	}
	return out
}
