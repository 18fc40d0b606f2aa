package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	colmetric "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// receiver is a fake OTLP/HTTP collector keeping every export's body; it
// answers each request with the next of answers (then 200).
type receiver struct {
	mu      sync.Mutex
	bodies  [][]byte
	answers []func(http.ResponseWriter)
}

func newReceiver(t *testing.T, answers ...func(http.ResponseWriter)) (*receiver, string) {
	r := &receiver{answers: answers}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if ct := req.Header.Get("Content-Type"); req.Method != http.MethodPost || ct != "application/x-protobuf" {
			t.Errorf("%s with Content-Type %q, want POST application/x-protobuf", req.Method, ct)
		}
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, body)
		var answer func(http.ResponseWriter)
		if len(r.answers) > 0 {
			answer, r.answers = r.answers[0], r.answers[1:]
		}
		r.mu.Unlock()
		if answer != nil {
			answer(w)
		}
	}))
	t.Cleanup(srv.Close)
	return r, srv.URL
}

func (r *receiver) last(t *testing.T) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bodies) == 0 {
		t.Fatal("nothing exported")
	}
	return r.bodies[len(r.bodies)-1]
}

// The same spans, exported by the SDK's otlptracehttp and by this package,
// reach the collector as the same ExportTraceServiceRequest: a span the
// SDK recorded, and stubs that set every field the encoder writes (each
// attribute type, events, links, statuses, remote parents, trace state,
// dropped counts, no scope), across two resources and three scopes.
func TestTraceExportMatchesTheSDKs(t *testing.T) {
	ctx := context.Background()
	spans := tracetest.NewInMemoryExporter()
	probe := resource.NewSchemaless(attribute.String("service.name", "probe"))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans), sdktrace.WithResource(probe))
	_, sp := tp.Tracer("scope", trace.WithInstrumentationVersion("v1")).Start(ctx, "GET /things/:id",
		trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
			attribute.String("http.route", "/things/:id"), attribute.Int("n", 7), attribute.Bool("b", true),
			attribute.Float64("f", 0.5), attribute.StringSlice("ss", []string{"a", "b"})))
	sp.AddEvent("event", trace.WithAttributes(attribute.Int64Slice("is", []int64{1, 2})))
	sp.End()
	ro := spans.GetSpans().Snapshots()
	ro = append(ro, everyFieldSpans(probe)...)

	theirs, theirURL := newReceiver(t)
	sdk, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(theirURL+"/v1/traces"))
	if err != nil {
		t.Fatal(err)
	}
	ours, ourURL := newReceiver(t)
	for _, e := range []sdktrace.SpanExporter{sdk, newTraceExporter(ourURL + "/v1/traces")} {
		if err := e.ExportSpans(ctx, ro); err != nil {
			t.Fatal(err)
		}
	}
	var want, got coltrace.ExportTraceServiceRequest
	unmarshal(t, theirs.last(t), &want)
	unmarshal(t, ours.last(t), &got)
	// The SDK's exporter orders resources as a map iterates; this one as
	// they come. The order carries no meaning.
	byService := func(rs []*tracepb.ResourceSpans) {
		slices.SortFunc(rs, func(a, b *tracepb.ResourceSpans) int {
			return strings.Compare(a.Resource.String(), b.Resource.String())
		})
	}
	byService(want.ResourceSpans)
	byService(got.ResourceSpans)
	if len(want.ResourceSpans) != 2 || len(want.ResourceSpans[1].ScopeSpans) != 3 {
		t.Fatalf("the SDK's export has not the resources and scopes of the test: %v", &want)
	}
	if !proto.Equal(&want, &got) {
		t.Errorf("export differs from the SDK's:\n got %v\nwant %v", &got, &want)
	}
	// Nothing to send, nothing sent.
	if err := newTraceExporter(ourURL+"/v1/traces").ExportSpans(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(ours.bodies); n != 1 {
		t.Errorf("%d exports, want 1 (an empty batch is not sent)", n)
	}
}

// everyFieldSpans are spans setting every field of the OTLP span, the
// lengths that take more than one byte to write included.
func everyFieldSpans(probe *resource.Resource) []sdktrace.ReadOnlySpan {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	ts, _ := trace.ParseTraceState("vendor=opaque,other=1")
	sc := func(span string, flags trace.TraceFlags, remote bool) trace.SpanContext {
		sid, _ := trace.SpanIDFromHex(span)
		return trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: tid, SpanID: sid, TraceFlags: flags, TraceState: ts, Remote: remote})
	}
	at := time.Date(2026, 11, 29, 12, 0, 0, 123456789, time.UTC)
	every := []attribute.KeyValue{
		attribute.Bool("false", false), attribute.Int64("zero", 0), attribute.Int64("negative", -42),
		attribute.Float64("double", -1.25), attribute.String("empty", ""),
		attribute.String("long", strings.Repeat("x", 300)), // a length of two bytes
		attribute.BoolSlice("bools", []bool{true, false}), attribute.Int64Slice("ints", []int64{-1, 1 << 40}),
		attribute.Float64Slice("doubles", []float64{0, 2.5}), attribute.StringSlice("strings", []string{"", "b"}),
		{Key: "bytes", Value: attribute.ByteSliceValue([]byte{0, 1, 2})},
		{Key: "no bytes", Value: attribute.ByteSliceValue(nil)},
		{Key: "slice", Value: attribute.SliceValue(attribute.IntValue(1), attribute.StringValue("two"))},
		{Key: "map", Value: attribute.MapValue(attribute.String("k", "v"), attribute.Int("n", 3))},
		{Key: "unset"},
	}
	other := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0",
		attribute.String("service.name", "other"), attribute.String("deployment.environment", "test"))
	scope := instrumentation.Scope{Name: "lib", Version: "v2", SchemaURL: "https://example.com/schema",
		Attributes: attribute.NewSet(attribute.String("scope.attr", "1"))}
	stubs := tracetest.SpanStubs{
		{
			Name: "every field", SpanContext: sc("00f067aa0ba902b7", trace.FlagsSampled, false),
			Parent: sc("b7ad6b7169203331", trace.FlagsSampled, true), SpanKind: trace.SpanKindClient,
			StartTime: at, EndTime: at.Add(1500 * time.Millisecond), Attributes: every,
			Events: []sdktrace.Event{
				{Name: "first", Time: at.Add(time.Millisecond), Attributes: every[:3], DroppedAttributeCount: 2},
				{Name: "bare", Time: at.Add(2 * time.Millisecond)},
			},
			Links: []sdktrace.Link{
				{SpanContext: sc("1111111111111111", trace.FlagsSampled, true), Attributes: every[3:6], DroppedAttributeCount: 1},
				{SpanContext: sc("2222222222222222", 0, false)},
			},
			Status:            sdktrace.Status{Code: codes.Error, Description: "it broke"},
			DroppedAttributes: 3, DroppedEvents: 4, DroppedLinks: 300, // 300: a varint of two bytes
			Resource: probe, InstrumentationScope: scope,
		},
		{Name: "ok, local parent", SpanContext: sc("3333333333333333", 0, false),
			Parent: sc("00f067aa0ba902b7", 0, false), SpanKind: trace.SpanKindProducer,
			StartTime: at, EndTime: at, Status: sdktrace.Status{Code: codes.Ok},
			Resource: probe, InstrumentationScope: scope},
		{Name: "no scope, kind out of range", SpanContext: sc("4444444444444444", trace.FlagsSampled, false),
			SpanKind: trace.SpanKind(42), StartTime: at, EndTime: at, Resource: probe},
		{Name: "other resource", SpanContext: sc("5555555555555555", trace.FlagsSampled, false),
			SpanKind: trace.SpanKindConsumer, StartTime: time.Unix(0, 0), EndTime: at,
			Attributes: every[5:6], Resource: other, InstrumentationScope: scope},
		// Enough attributes that the span takes more than 16 KiB: a
		// length of three bytes.
		{Name: "large", SpanContext: sc("6666666666666666", trace.FlagsSampled, false), SpanKind: trace.SpanKindInternal,
			StartTime: at, EndTime: at, Attributes: slices.Repeat(every, 60), Resource: probe, InstrumentationScope: scope},
	}
	return stubs.Snapshots()
}

// Every aggregation the SDK produces, exemplars included, exported by the
// SDK's otlpmetrichttp and by this package from one collection, reaches the
// collector as the same ExportMetricsServiceRequest.
func TestMetricExportMatchesTheSDKs(t *testing.T) {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader),
		sdkmetric.WithResource(resource.NewSchemaless(attribute.String("service.name", "probe"),
			attribute.StringSlice("list", []string{"x"}))),
		sdkmetric.WithView(sdkmetric.NewView(sdkmetric.Instrument{Name: "exp"},
			sdkmetric.Stream{Aggregation: sdkmetric.AggregationBase2ExponentialHistogram{MaxSize: 20, MaxScale: 20}})))
	m := mp.Meter("scope")
	// A sampled span in the context makes the recordings exemplars.
	sampled := trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled}))
	at := attribute.NewSet(attribute.String("http.route", "/x"), attribute.Int("http.response.status_code", 200))
	hf, _ := m.Float64Histogram("hf")
	hf.Record(sampled, 0.2, metric.WithAttributeSet(at))
	hi, _ := m.Int64Histogram("hi")
	hi.Record(sampled, 3, metric.WithAttributeSet(at))
	ci, _ := m.Int64Counter("ci", metric.WithUnit("{order}"), metric.WithDescription("orders"))
	ci.Add(sampled, 2, metric.WithAttributeSet(at))
	cf, _ := m.Float64Counter("cf")
	cf.Add(ctx, 1.5)
	ud, _ := m.Int64UpDownCounter("ud")
	ud.Add(ctx, -1)
	gi, _ := m.Int64Gauge("gi")
	gi.Record(ctx, 9)
	gf, _ := m.Float64Gauge("gf")
	gf.Record(ctx, 9.5)
	ex, _ := m.Float64Histogram("exp")
	for _, v := range []float64{0.001, 1, 2, 100} {
		ex.Record(sampled, v)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	// The SDK makes summaries only for bridged metrics; add one by hand.
	rm.ScopeMetrics[0].Metrics = append(rm.ScopeMetrics[0].Metrics, metricdata.Metrics{Name: "summary",
		Data: metricdata.Summary{DataPoints: []metricdata.SummaryDataPoint{{
			Attributes: at, StartTime: time.Unix(1, 0), Time: time.Unix(2, 0), Count: 3, Sum: 6,
			QuantileValues: []metricdata.QuantileValue{{Quantile: 0.5, Value: 2}, {Quantile: 1, Value: 3}},
		}}}})

	theirs, theirURL := newReceiver(t)
	sdk, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(theirURL+"/v1/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	ours, ourURL := newReceiver(t)
	for _, e := range []sdkmetric.Exporter{sdk, newMetricExporter(ourURL + "/v1/metrics")} {
		if err := e.Export(ctx, &rm); err != nil {
			t.Fatal(err)
		}
	}
	var want, got colmetric.ExportMetricsServiceRequest
	unmarshal(t, theirs.last(t), &want)
	unmarshal(t, ours.last(t), &got)
	if n := len(want.ResourceMetrics[0].ScopeMetrics[0].Metrics); n != 9 {
		t.Fatalf("the SDK exported %d metrics, want the 9 recorded", n)
	}
	if !proto.Equal(&want, &got) {
		t.Errorf("export differs from the SDK's:\n got %v\nwant %v", &got, &want)
	}
	for _, k := range []sdkmetric.InstrumentKind{sdkmetric.InstrumentKindCounter, sdkmetric.InstrumentKindHistogram,
		sdkmetric.InstrumentKindObservableUpDownCounter} {
		own := newMetricExporter("")
		if own.Temporality(k) != sdk.Temporality(k) || !reflect.DeepEqual(own.Aggregation(k), sdk.Aggregation(k)) {
			t.Errorf("%v: temporality or aggregation differs from the SDK's", k)
		}
	}
}

func TestExportRetries(t *testing.T) {
	status := func(code int, header ...string) func(http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			for i := 0; i+1 < len(header); i += 2 {
				w.Header().Set(header[i], header[i+1])
			}
			w.WriteHeader(code)
			_, _ = io.WriteString(w, "collector says no")
		}
	}
	tests := []struct {
		name     string
		answers  []func(http.ResponseWriter)
		attempts int
		err      string // "" for delivered
	}{
		{"delivered at once", nil, 1, ""},
		{"retried after 503, 429 with Retry-After 0, 502 and 504",
			[]func(http.ResponseWriter){status(503), status(429, "Retry-After", "0"), status(502), status(504)}, 5, ""},
		{"400 is not retried", []func(http.ResponseWriter){status(400)}, 1, "400 Bad Request: collector says no"},
		{"404 is not retried", []func(http.ResponseWriter){status(404)}, 1, "404 Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, url := newReceiver(t, tt.answers...)
			c := newOTLPHTTP(url + "/v1/traces")
			c.backoff = time.Millisecond
			err := c.send(context.Background(), []byte{0x0a, 0x00})
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("error %v, want %q", err, tt.err)
			}
			if len(r.bodies) != tt.attempts {
				t.Errorf("%d attempts, want %d", len(r.bodies), tt.attempts)
			}
		})
	}
}

// TestExportWaitsForRetryAfter: a collector's Retry-After is the least wait
// before the next attempt, whatever the (jittered) backoff says; one that
// would end past the export's deadline is not waited for.
func TestExportWaitsForRetryAfter(t *testing.T) {
	var (
		mu    sync.Mutex
		times []time.Time
	)
	answer := func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		times = append(times, time.Now())
		first := len(times) == 1
		mu.Unlock()
		if first {
			answer(w)
		}
	}))
	defer srv.Close()
	c := newOTLPHTTP(srv.URL)
	c.backoff = time.Millisecond
	if err := c.send(context.Background(), []byte{0x0a, 0x00}); err != nil {
		t.Fatalf("export: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(times) != 2 {
		t.Fatalf("%d attempts, want 2", len(times))
	}
	if gap := times[1].Sub(times[0]); gap < time.Second {
		t.Errorf("retried %v after a Retry-After of 1 s", gap)
	}

	r, url := newReceiver(t, func(w http.ResponseWriter) {
		w.Header().Set("Retry-After", "60")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	c = newOTLPHTTP(url)
	if err := c.send(context.Background(), []byte{0x0a, 0x00}); err == nil || !strings.Contains(err.Error(), "429") {
		t.Errorf("got %v, want the 429 back at once: a minute's Retry-After ends past the export's deadline", err)
	}
	if len(r.bodies) != 1 {
		t.Errorf("%d attempts, want 1", len(r.bodies))
	}
}

// An unreachable collector is retried until the export's deadline would
// pass, then the export fails.
func TestExportToNoCollectorGivesUpAtTheDeadline(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := newOTLPHTTP(url)
	c.backoff = time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := c.send(ctx, nil); err == nil {
		t.Fatal("export to a closed port succeeded")
	}
}

func TestPartialSuccess(t *testing.T) {
	var inner []byte
	inner = protowire.AppendTag(inner, 1, protowire.VarintType)
	inner = protowire.AppendVarint(inner, 3)
	inner = protowire.AppendTag(inner, 2, protowire.BytesType)
	inner = protowire.AppendString(inner, "bad spans")
	var b []byte
	b = protowire.AppendTag(b, 9, protowire.VarintType) // an unknown field first
	b = protowire.AppendVarint(b, 1)
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, inner)
	want, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{PartialSuccess: &coltrace.ExportTracePartialSuccess{
		RejectedSpans: 3, ErrorMessage: "bad spans"}})
	tests := []struct {
		name     string
		body     []byte
		rejected int64
		msg      string
	}{
		{"hand-encoded, unknown field skipped", b, 3, "bad spans"},
		{"the collector package's encoding", want, 3, "bad spans"},
		{"empty answer", nil, 0, ""},
		{"not protobuf", []byte("{}"), 0, ""},
	}
	for _, tt := range tests {
		rejected, msg := partialSuccess(tt.body)
		if rejected != tt.rejected || msg != tt.msg {
			t.Errorf("%s: got %d %q, want %d %q", tt.name, rejected, msg, tt.rejected, tt.msg)
		}
	}
}

func unmarshal(t *testing.T, b []byte, m proto.Message) {
	t.Helper()
	if err := proto.Unmarshal(b, m); err != nil {
		t.Fatal(err)
	}
}
