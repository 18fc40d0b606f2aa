package httpclient

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/fargateshop/shop/platform/oteltest"
)

// TestCallsCarryTheTrace: every attempt of a call made inside a span is a
// client span of its own, child of the caller's, named after the method
// and the dependency, and the request it sends names that attempt's span as
// the parent in its traceparent (W3C Trace Context).
func TestCallsCarryTheTrace(t *testing.T) {
	tests := []struct {
		method     string
		idempotent bool
		failFirst  int // answers 503 to this many attempts first
		wantSpans  int
	}{
		{"GET", true, 0, 1},
		{"GET", true, 1, 2}, // retried: one span per attempt
		{"GET", true, 2, 3},
		{"POST", false, 0, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s failing %d", tt.method, tt.failFirst), func(t *testing.T) {
			rec := oteltest.Install(t)
			var (
				mu       sync.Mutex
				received []trace.SpanContext
			)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(r.Header))
				mu.Lock()
				received = append(received, trace.SpanContextFromContext(ctx))
				n := len(received)
				mu.Unlock()
				if n <= tt.failFirst {
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				_, _ = io.WriteString(w, `{}`)
			}))
			c := New(Config{Name: "catalog", BaseURL: srv.URL, Retries: 2, Backoff: time.Millisecond, BreakerFailures: 100, Log: quietLog()})

			ctx, caller := otel.Tracer("test").Start(context.Background(), "caller")
			err := c.Do(ctx, tt.method, "/x", tt.idempotent, nil, nil)
			caller.End()
			srv.Close()
			if err != nil {
				t.Fatalf("Do = %v, want nil", err)
			}

			want := tt.method + " catalog"
			spans := rec.Named(want)
			if len(spans) != tt.wantSpans || len(received) != tt.wantSpans {
				t.Fatalf("got %d spans named %q and %d requests, want %d of each (all spans: %v)",
					len(spans), want, len(received), tt.wantSpans, names(rec))
			}
			for i, s := range spans {
				if s.SpanKind() != trace.SpanKindClient {
					t.Errorf("%s attempt %d: kind %v, want client", want, i+1, s.SpanKind())
				}
				if got := s.Parent().SpanID(); got != caller.SpanContext().SpanID() {
					t.Errorf("%s attempt %d: parent %s, want the caller's span %s", want, i+1, got, caller.SpanContext().SpanID())
				}
				got := received[i]
				if !got.IsValid() || !got.IsRemote() {
					t.Errorf("%s attempt %d: request carried no valid traceparent", want, i+1)
					continue
				}
				if got.TraceID() != caller.SpanContext().TraceID() {
					t.Errorf("%s attempt %d: traceparent trace id %s, want the caller's %s", want, i+1, got.TraceID(), caller.SpanContext().TraceID())
				}
				if got.SpanID() != s.SpanContext().SpanID() {
					t.Errorf("%s attempt %d: traceparent parent %s, want the attempt's client span %s", want, i+1, got.SpanID(), s.SpanContext().SpanID())
				}
			}
		})
	}
}

func names(rec *oteltest.Recorder) []string {
	var out []string
	for _, s := range rec.Ended() {
		out = append(out, s.Name())
	}
	return out
}
