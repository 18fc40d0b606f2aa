package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/fargateshop/shop/platform/requestid"
)

func TestRequestIDFromContext(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, "debug", "orders").With("k", "v")
	log.InfoContext(requestid.With(context.Background(), "rid-7"), "hello")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not one JSON line: %v: %s", err, buf.String())
	}
	for k, want := range map[string]string{"request_id": "rid-7", "service": "orders", "k": "v", "msg": "hello", "level": "INFO"} {
		if got := rec[k]; got != want {
			t.Errorf("%s = %v, want %q", k, got, want)
		}
	}
}

func TestLevel(t *testing.T) {
	var buf bytes.Buffer
	New(&buf, "warn", "x").Info("dropped")
	if buf.Len() != 0 {
		t.Errorf("info logged at warn level: %s", buf.String())
	}
}

func TestTraceIDsFromContext(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7") // the span the line was logged in
	// Not sampled: a trace the sampler left out still ties the lines together.
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid})
	ctx := trace.ContextWithSpanContext(requestid.With(context.Background(), "rid-8"), sc)

	tests := []struct {
		name string
		ctx  context.Context
		want map[string]any
	}{
		{"in a trace", ctx, map[string]any{"request_id": "rid-8", "trace_id": tid.String()}},
		{"outside any trace", context.Background(), map[string]any{"request_id": nil, "trace_id": nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			New(&buf, "info", "orders").InfoContext(tt.ctx, "hello")
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("not one JSON line: %v: %s", err, buf.String())
			}
			for k, want := range tt.want {
				if got := rec[k]; got != want {
					t.Errorf("%s = %v, want %v", k, got, want)
				}
			}
		})
	}
}
