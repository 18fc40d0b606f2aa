package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Export tuning. A request never waits on any of it: spans queue in memory
// (dropped when the queue is full) and leave in batches from a background
// goroutine; an export that cannot reach the collector gives up, its
// retries included, after exportTimeout (the span processor's export
// context ends then too).
const (
	exportTimeout = 5 * time.Second
	batchEvery    = 2 * time.Second
	queueSize     = 4096
	// ShutdownTimeout bounds the last flush at exit, inside the service's
	// stop timeout (see server.StopTimeout).
	ShutdownTimeout = 3 * time.Second
)

// Telemetry holds the process's providers until Shutdown.
type Telemetry struct {
	log *slog.Logger
	tp  *sdktrace.TracerProvider
	mp  *sdkmetric.MeterProvider
}

// Start installs the W3C Trace Context propagator and, for each signal
// with an endpoint in s, a provider exporting it over OTLP/HTTP, as the
// process-wide (otel global) providers the instrumentation in this package
// and in the libraries uses. Without endpoints the globals stay no-ops.
// Nothing is dialled here: an absent collector never stops a start.
func Start(ctx context.Context, log *slog.Logger, s Settings, version string) (*Telemetry, error) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t := &Telemetry{log: log}
	if !s.Enabled() {
		log.Info("telemetry off: no OTLP endpoint")
		return t, nil
	}
	res := Resource(s, version)
	if s.TracesURL != "" {
		exp := newTraceExporter(s.TracesURL)
		t.tp = sdktrace.NewTracerProvider(
			sdktrace.WithResource(res),
			sdktrace.WithSampler(Sampler(s)),
			sdktrace.WithBatcher(exp,
				sdktrace.WithBatchTimeout(batchEvery),
				sdktrace.WithMaxQueueSize(queueSize),
				sdktrace.WithExportTimeout(exportTimeout)),
		)
		otel.SetTracerProvider(t.tp)
	}
	if s.MetricsURL != "" {
		exp := newMetricExporter(s.MetricsURL)
		t.mp = sdkmetric.NewMeterProvider(
			sdkmetric.WithResource(res),
			sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(s.MetricInterval))),
		)
		otel.SetMeterProvider(t.mp)
	}
	log.Info("telemetry on", "traces", s.TracesURL, "metrics", s.MetricsURL,
		"sampler", s.Sampler, "ratio", s.Ratio, "service_name", s.ServiceName)
	return t, nil
}

// Close is Shutdown at the end of a service's run: a flush that fails
// (the collector is gone) is logged, and does not turn a clean stop into a
// failed one.
func (t *Telemetry) Close() {
	if err := t.Shutdown(context.Background()); err != nil {
		t.log.Warn("telemetry", "error", err.Error())
	}
}

// Shutdown flushes what is queued, for at most ShutdownTimeout (or ctx's
// deadline, if sooner), and stops the providers.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	var errs []error
	if t.tp != nil {
		errs = append(errs, t.tp.Shutdown(ctx))
	}
	if t.mp != nil {
		errs = append(errs, t.mp.Shutdown(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("telemetry: flush at shutdown: %w", err)
	}
	return nil
}

// Resource describes the process: OTEL_RESOURCE_ATTRIBUTES, then
// service.name and service.version, which win over the same keys there (the
// specification gives OTEL_SERVICE_NAME precedence).
func Resource(s Settings, version string) *resource.Resource {
	attrs := make([]attribute.KeyValue, 0, len(s.Attributes)+2)
	for _, kv := range s.Attributes {
		attrs = append(attrs, attribute.String(kv[0], kv[1]))
	}
	attrs = append(attrs,
		attribute.String("service.name", s.ServiceName),
		attribute.String("service.version", version))
	return resource.NewSchemaless(attrs...)
}

// Sampler returns the sampler s names.
func Sampler(s Settings) sdktrace.Sampler {
	switch s.Sampler {
	case AlwaysOn:
		return sdktrace.AlwaysSample()
	case AlwaysOff:
		return sdktrace.NeverSample()
	case TraceIDRatio:
		return sdktrace.TraceIDRatioBased(s.Ratio)
	case ParentBasedAlwaysOff:
		return sdktrace.ParentBased(sdktrace.NeverSample())
	case ParentBasedTraceIDRatio:
		// A caller's "sampled" flag does not override the ratio: anyone can
		// send one through the load balancer, and every request it marks
		// would be traced and billed. The ratio decides from the trace id
		// alone, so services sharing it decide alike for one trace.
		ratio := sdktrace.TraceIDRatioBased(s.Ratio)
		return sdktrace.ParentBased(ratio, sdktrace.WithRemoteParentSampled(ratio))
	default:
		return sdktrace.ParentBased(sdktrace.AlwaysSample())
	}
}
