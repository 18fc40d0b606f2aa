package telemetry_test

import (
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	colmetric "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/fargateshop/shop/platform/telemetry"
)

// collector is an OTLP/HTTP receiver speaking the protocol's protobuf
// encoding (OTLP specification, "OTLP/HTTP": POST /v1/traces and
// /v1/metrics, Content-Type application/x-protobuf, 200 on success).
type collector struct {
	mu      sync.Mutex
	spans   []*tracepb.Span
	service []string // service.name of each span's resource
	metrics map[string][]map[string]string
	// hold, when set, keeps every export waiting until it is closed.
	hold    chan struct{}
	arrived chan struct{}
	once    sync.Once
}

func newCollector(t *testing.T) (*collector, *httptest.Server) {
	c := &collector{metrics: map[string][]map[string]string{}, arrived: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.once.Do(func() { close(c.arrived) })
		if c.hold != nil {
			<-c.hold
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
			t.Errorf("%s: Content-Type %q, want application/x-protobuf", r.URL.Path, ct)
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read export: %v", err)
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		switch r.URL.Path {
		case "/v1/traces":
			var req coltrace.ExportTraceServiceRequest
			if err := proto.Unmarshal(body, &req); err != nil {
				t.Errorf("decode traces: %v", err)
			}
			for _, rs := range req.ResourceSpans {
				name := attr(rs.Resource.Attributes, "service.name")
				for _, ss := range rs.ScopeSpans {
					for _, s := range ss.Spans {
						c.spans = append(c.spans, s)
						c.service = append(c.service, name)
					}
				}
			}
		case "/v1/metrics":
			var req colmetric.ExportMetricsServiceRequest
			if err := proto.Unmarshal(body, &req); err != nil {
				t.Errorf("decode metrics: %v", err)
			}
			for _, rm := range req.ResourceMetrics {
				for _, sm := range rm.ScopeMetrics {
					for _, m := range sm.Metrics {
						for _, dp := range m.GetHistogram().GetDataPoints() {
							c.metrics[m.Name] = append(c.metrics[m.Name], attrs(dp.Attributes))
						}
						for _, dp := range m.GetSum().GetDataPoints() {
							c.metrics[m.Name] = append(c.metrics[m.Name], attrs(dp.Attributes))
						}
					}
				}
			}
		default:
			t.Errorf("export to %s", r.URL.Path)
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(srv.Close)
	return c, srv
}

func attr(kvs []*commonpb.KeyValue, key string) string { return attrs(kvs)[key] }

func attrs(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		switch v := kv.Value.Value.(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.Key] = v.StringValue
		case *commonpb.AnyValue_IntValue:
			m[kv.Key] = strconv.FormatInt(v.IntValue, 10)
		}
	}
	return m
}

// resetGlobals puts the no-op providers back after a test installed real ones.
func resetGlobals(t *testing.T) {
	t.Cleanup(func() {
		otel.SetTracerProvider(tracenoop.NewTracerProvider())
		otel.SetMeterProvider(metricnoop.NewMeterProvider())
	})
}

func engine() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(telemetry.Gin())
	r.GET("/things/:id", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	r.GET("/livez", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	return r
}

const (
	traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	spanID  = "00f067aa0ba902b7"
)

func TestExportsTheRequestsSpanAndMetrics(t *testing.T) {
	resetGlobals(t)
	c, srv := newCollector(t)
	s := telemetry.Settings{
		TracesURL: srv.URL + "/v1/traces", MetricsURL: srv.URL + "/v1/metrics",
		ServiceName: "probe", Sampler: telemetry.ParentBasedAlwaysOn, Ratio: 1, MetricInterval: time.Hour,
		Attributes: [][2]string{{"deployment.environment.name", "test"}},
	}
	tel, err := telemetry.Start(context.Background(), slog.New(slog.DiscardHandler), s, "v1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	r := engine()
	req := httptest.NewRequest(http.MethodGet, "/things/42?x=1", nil)
	req.Header.Set("traceparent", "00-"+traceID+"-"+spanID+"-01")
	r.ServeHTTP(httptest.NewRecorder(), req)
	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/livez", nil))
	if err := tel.Shutdown(context.Background()); err != nil { // flushes both signals
		t.Fatal(err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.spans) != 1 {
		t.Fatalf("got %d spans, want 1 (the /livez probe is not traced): %v", len(c.spans), c.spans)
	}
	sp := c.spans[0]
	if got, want := sp.Name, "GET /things/:id"; got != want {
		t.Errorf("span name %q, want %q (the route template, not the path)", got, want)
	}
	if got := hex.EncodeToString(sp.TraceId); got != traceID {
		t.Errorf("trace id %s, want the caller's %s", got, traceID)
	}
	if got := hex.EncodeToString(sp.ParentSpanId); got != spanID {
		t.Errorf("parent span %s, want the caller's %s", got, spanID)
	}
	if sp.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("kind %v, want server", sp.Kind)
	}
	if got := attr(sp.Attributes, "http.route"); got != "/things/:id" {
		t.Errorf("http.route %q", got)
	}
	if c.service[0] != "probe" {
		t.Errorf("resource service.name %q, want probe", c.service[0])
	}
	dur := c.metrics["http.server.request.duration"]
	if len(dur) == 0 {
		t.Fatalf("no http.server.request.duration among %v", keys(c.metrics))
	}
	if dur[0]["http.route"] != "/things/:id" || dur[0]["http.response.status_code"] != "200" {
		t.Errorf("http.server.request.duration attributes %v", dur[0])
	}
	if len(c.metrics["http.server.active_requests"]) == 0 {
		t.Errorf("no http.server.active_requests among %v", keys(c.metrics))
	}
}

// A collector that takes exports and never answers holds no request: spans
// wait in the batch queue, which drops what does not fit.
func TestAStuckCollectorHoldsNoRequest(t *testing.T) {
	resetGlobals(t)
	c, srv := newCollector(t)
	c.hold = make(chan struct{})
	s := telemetry.Settings{TracesURL: srv.URL + "/v1/traces", ServiceName: "probe",
		Sampler: telemetry.AlwaysOn, Ratio: 1, MetricInterval: time.Hour}
	tel, err := telemetry.Start(context.Background(), slog.New(slog.DiscardHandler), s, "dev")
	if err != nil {
		t.Fatal(err)
	}
	r := engine()
	serve := func(n int) {
		for range n {
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/things/1", nil))
			if rec.Code != http.StatusOK {
				t.Errorf("status %d", rec.Code)
			}
		}
	}
	// More than one export batch (512 spans), so an export starts now.
	serve(600)
	<-c.arrived // the exporter is inside the collector, which does not answer

	done := make(chan struct{})
	go func() { defer close(done); serve(6000) }() // more than the queue holds
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Error("requests waited on the stuck export")
	}
	close(c.hold)
	_ = tel.Shutdown(context.Background())
	<-done
}

func keys(m map[string][]map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
