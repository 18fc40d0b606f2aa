// Package oteltest records, in memory, the spans and metrics a test makes
// through the process-wide OpenTelemetry providers, the ones the services'
// instrumentation uses.
//
// The providers are installed once per test binary and shared: the otel
// package hands instruments created before the first SetTracerProvider or
// SetMeterProvider (package-level tracers and counters, as in the services)
// to that first provider for good, so a second provider set by a later test
// would never see them. Each Install adds a fresh span recorder to the shared
// tracer provider and removes it when the test ends; metrics are cumulative
// for the whole binary, so a test compares a counter before and after.
package oteltest

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

var (
	once   sync.Once
	tp     *sdktrace.TracerProvider
	mp     *sdkmetric.MeterProvider
	reader *sdkmetric.ManualReader
)

// Recorder holds the spans ended while its test runs.
type Recorder struct {
	*tracetest.SpanRecorder
	mu    sync.Mutex
	ended *sync.Cond // broadcast on every span end
}

// notifier wakes Await on every span end; it is registered after the
// recorder, so a woken Await finds the span recorded.
type notifier struct{ r *Recorder }

func (n notifier) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (n notifier) OnEnd(sdktrace.ReadOnlySpan) {
	n.r.mu.Lock()
	n.r.ended.Broadcast()
	n.r.mu.Unlock()
}
func (notifier) Shutdown(context.Context) error   { return nil }
func (notifier) ForceFlush(context.Context) error { return nil }

// hangGuard only turns a hang into a failure; nothing waits it out.
const hangGuard = 30 * time.Second

// Await blocks until done holds for the spans ended so far (it is checked
// at once and after every span end) and returns them. Background work is
// waited for this way instead of by sleeping.
func (r *Recorder) Await(t testing.TB, what string, done func([]sdktrace.ReadOnlySpan) bool) []sdktrace.ReadOnlySpan {
	t.Helper()
	timedOut := false
	guard := time.AfterFunc(hangGuard, func() {
		r.mu.Lock()
		timedOut = true
		r.ended.Broadcast()
		r.mu.Unlock()
	})
	defer guard.Stop()
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if spans := r.Ended(); done(spans) {
			return spans
		}
		if timedOut {
			t.Fatalf("waited %s for %s; spans ended: %d", hangGuard, what, len(r.Ended()))
		}
		r.ended.Wait()
	}
}

// Install makes the shared providers and the W3C Trace Context propagator
// the otel globals for t, every span sampled, and restores the previous
// globals when t ends. Tests that call it must not run in parallel.
func Install(t testing.TB) *Recorder {
	t.Helper()
	once.Do(func() {
		tp = sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))
		reader = sdkmetric.NewManualReader()
		mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	})
	prevTP, prevMP, prevProp := otel.GetTracerProvider(), otel.GetMeterProvider(), otel.GetTextMapPropagator()
	rec := &Recorder{SpanRecorder: tracetest.NewSpanRecorder()}
	rec.ended = sync.NewCond(&rec.mu)
	n := notifier{rec}
	tp.RegisterSpanProcessor(rec.SpanRecorder)
	tp.RegisterSpanProcessor(n)
	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() {
		tp.UnregisterSpanProcessor(n)
		tp.UnregisterSpanProcessor(rec.SpanRecorder)
		otel.SetTracerProvider(prevTP)
		otel.SetMeterProvider(prevMP)
		otel.SetTextMapPropagator(prevProp)
	})
	return rec
}

// Named returns the ended spans called name, in the order they ended.
func (r *Recorder) Named(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range r.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// Attr returns the value of a span's attribute key.
func Attr(s sdktrace.ReadOnlySpan, key string) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// Metrics collects every metric recorded so far in the test binary.
func Metrics(t testing.TB) metricdata.ResourceMetrics {
	t.Helper()
	if reader == nil {
		t.Fatal("oteltest: Metrics before Install")
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect metrics: %v", err)
	}
	return rm
}

// Count is the value of the integer counter name (or the number of
// measurements of the histogram name) summed over its data points that
// carry all of attrs; 0 when nothing matches.
func Count(t testing.TB, name string, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	var n int64
	for _, sm := range Metrics(t).ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					if has(p.Attributes, attrs) {
						n += p.Value
					}
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					if has(p.Attributes, attrs) {
						n += int64(p.Count)
					}
				}
			case metricdata.Histogram[int64]:
				for _, p := range d.DataPoints {
					if has(p.Attributes, attrs) {
						n += int64(p.Count)
					}
				}
			default:
				t.Fatalf("oteltest: metric %s is a %T, not a counter or histogram", name, m.Data)
			}
		}
	}
	return n
}

func has(set attribute.Set, attrs []attribute.KeyValue) bool {
	for _, kv := range attrs {
		if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
			return false
		}
	}
	return true
}
