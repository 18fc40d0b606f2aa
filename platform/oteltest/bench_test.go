package oteltest

import (
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

func TestCountSpans(t *testing.T) {
	spans := func(n int) []*tracepb.Span {
		out := make([]*tracepb.Span, n)
		for i := range out {
			out[i] = &tracepb.Span{Name: "s", TraceId: make([]byte, 16), SpanId: make([]byte, 8)}
		}
		return out
	}
	tests := []struct {
		name string
		req  *coltracepb.ExportTraceServiceRequest
		want int
	}{
		{"empty", &coltracepb.ExportTraceServiceRequest{}, 0},
		{"one scope", &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
			{ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans(3)}}},
		}}, 3},
		{"resources and scopes", &coltracepb.ExportTraceServiceRequest{ResourceSpans: []*tracepb.ResourceSpans{
			{ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans(2)}, {Spans: spans(5)}}},
			{ScopeSpans: []*tracepb.ScopeSpans{{Spans: spans(1)}}, SchemaUrl: "x"},
		}}, 8},
	}
	for _, tt := range tests {
		b, err := proto.Marshal(tt.req)
		if err != nil {
			t.Fatal(err)
		}
		if got := countSpans(b); got != tt.want {
			t.Errorf("%s: got %d spans, want %d", tt.name, got, tt.want)
		}
	}
}
