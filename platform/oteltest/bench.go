package oteltest

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/fargateshop/shop/platform/telemetry"
)

// Sampling is one configuration of the tracing benchmarks.
type Sampling struct {
	Name  string  // the sub-benchmark's name
	Ratio float64 // parentbased_traceidratio's argument; <0: telemetry off
}

// Samplings are what make bench compares: no endpoint (the providers stay
// no-ops), 10 % and 100 % of new traces sampled.
var Samplings = []Sampling{{"off", -1}, {"ratio-0.1", 0.1}, {"ratio-1", 1}}

// BenchTracing runs one sub-benchmark per Sampling. Each starts telemetry
// as a service does (telemetry.Start, OTLP/HTTP to a local receiver that
// reads and discards what it is sent), builds the handler with newHandler
// after that, as a service's main does, and sends it requests with do
// until the benchmark ends, then flushes what is queued.
//
// Besides ns/op (the request, on the caller's goroutine) it reports
// cpu-ns/op, the CPU time of the whole process per request (getrusage):
// handler, span processor, protobuf encoding and export in the background,
// and the receiver reading the export (an upper bound for the service's
// own share), and spans/op, the spans the receiver got per request, which
// shows spans dropped when the exporter cannot keep up.
//
// The otel package binds instruments made before its first provider to
// that provider for good, so a later sub-benchmark in the same process
// records those into the first one; make bench therefore runs each
// sub-benchmark in its own process.
func BenchTracing(b *testing.B, newHandler func() http.Handler, do func(b *testing.B, h http.Handler)) {
	for _, s := range Samplings {
		b.Run(s.Name, func(b *testing.B) {
			recv := newReceiver()
			defer recv.Close()
			settings := telemetry.Settings{ServiceName: "bench", Sampler: telemetry.ParentBasedTraceIDRatio,
				Ratio: s.Ratio, MetricInterval: time.Minute}
			if s.Ratio >= 0 {
				settings.TracesURL = recv.URL + "/v1/traces"
				settings.MetricsURL = recv.URL + "/v1/metrics"
			}
			if s.Ratio >= 0 {
				// Start sets both providers; Start without an endpoint sets
				// neither. The propagator it sets is what every service
				// uses, so it stays.
				prevTP, prevMP := otel.GetTracerProvider(), otel.GetMeterProvider()
				defer func() {
					otel.SetTracerProvider(prevTP)
					otel.SetMeterProvider(prevMP)
				}()
			}
			ctx := context.Background()
			tel, err := telemetry.Start(ctx, slog.New(slog.DiscardHandler), settings, "bench")
			if err != nil {
				b.Fatal(err)
			}
			h := newHandler()
			b.ReportAllocs()
			cpu := cpuTime(b)
			n := 0
			for b.Loop() {
				do(b, h)
				n++
			}
			// The flush is part of the cost: every span sampled is encoded
			// and sent before the CPU is read.
			if err := tel.Shutdown(ctx); err != nil {
				b.Fatal(err)
			}
			cpu = cpuTime(b) - cpu
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/op")
			b.ReportMetric(float64(recv.spans.Load())/float64(n), "spans/op")
		})
	}
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// receiver accepts OTLP/HTTP exports, counts the spans in them and
// discards the rest.
type receiver struct {
	*httptest.Server
	spans atomic.Int64
}

func newReceiver() *receiver {
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if req.URL.Path == "/v1/traces" {
			r.spans.Add(int64(countSpans(body)))
		}
		// An empty ExportTraceServiceResponse / ExportMetricsServiceResponse.
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	return r
}

// countSpans counts the spans of an ExportTraceServiceRequest by walking
// the protobuf wire format (opentelemetry-proto, trace_service.proto and
// trace.proto): resource_spans = 1, its scope_spans = 2, their spans = 2.
func countSpans(b []byte) int {
	n := 0
	eachField(b, 1, func(rs []byte) {
		eachField(rs, 2, func(ss []byte) {
			eachField(ss, 2, func([]byte) { n++ })
		})
	})
	return n
}

// eachField calls f with the bytes of every length-delimited field num.
func eachField(b []byte, num protowire.Number, f func([]byte)) {
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return
		}
		b = b[l:]
		if typ == protowire.BytesType && n == num {
			v, l := protowire.ConsumeBytes(b)
			if l < 0 {
				return
			}
			f(v)
			b = b[l:]
			continue
		}
		l = protowire.ConsumeFieldValue(n, typ, b)
		if l < 0 {
			return
		}
		b = b[l:]
	}
}
