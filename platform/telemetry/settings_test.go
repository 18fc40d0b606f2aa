package telemetry

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/fargateshop/shop/platform/config"
)

func env(vars map[string]string) config.Lookup {
	return func(name string) (string, bool) { v, ok := vars[name]; return v, ok }
}

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want Settings
	}{
		{"nothing set: nothing exported", nil, Settings{
			ServiceName: "orders", Sampler: ParentBasedAlwaysOn, Ratio: 1, MetricInterval: time.Minute}},
		{"base endpoint: signal paths appended", map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318/",
		}, Settings{TracesURL: "http://jaeger:4318/v1/traces", MetricsURL: "http://jaeger:4318/v1/metrics",
			ServiceName: "orders", Sampler: ParentBasedAlwaysOn, Ratio: 1, MetricInterval: time.Minute}},
		{"signal endpoints used as given", map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT":         "http://collector:4318",
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":  "http://traces:9000/custom",
			"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "https://metrics:9001/m",
		}, Settings{TracesURL: "http://traces:9000/custom", MetricsURL: "https://metrics:9001/m",
			ServiceName: "orders", Sampler: ParentBasedAlwaysOn, Ratio: 1, MetricInterval: time.Minute}},
		{"an exporter set to none", map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
			"OTEL_METRICS_EXPORTER":       "none",
		}, Settings{TracesURL: "http://collector:4318/v1/traces",
			ServiceName: "orders", Sampler: ParentBasedAlwaysOn, Ratio: 1, MetricInterval: time.Minute}},
		{"sdk disabled wins over an endpoint", map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
			"OTEL_SDK_DISABLED":           "true",
		}, Settings{ServiceName: "orders", Sampler: ParentBasedAlwaysOn, Ratio: 1, MetricInterval: time.Minute}},
		{"name, attributes, sampler, interval", map[string]string{
			"OTEL_SERVICE_NAME":           "orders-canary",
			"OTEL_RESOURCE_ATTRIBUTES":    "deployment.environment.name=dev, team=shop%2Cpayments,empty=",
			"OTEL_TRACES_SAMPLER":         "parentbased_traceidratio",
			"OTEL_TRACES_SAMPLER_ARG":     "0.1",
			"OTEL_METRIC_EXPORT_INTERVAL": "10000",
		}, Settings{ServiceName: "orders-canary",
			Attributes: [][2]string{{"deployment.environment.name", "dev"}, {"team", "shop,payments"}, {"empty", ""}},
			Sampler:    ParentBasedTraceIDRatio, Ratio: 0.1, MetricInterval: 10 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := config.New(env(tt.env))
			got := FromEnv(e, "orders")
			if err := e.Err(); err != nil {
				t.Fatalf("FromEnv: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if got.Enabled() != (tt.want.TracesURL != "" || tt.want.MetricsURL != "") {
				t.Errorf("Enabled() = %v for %+v", got.Enabled(), got)
			}
		})
	}
}

// Every mistake is reported at once, naming the variable.
func TestFromEnvRefusesBadValues(t *testing.T) {
	e := config.New(env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":        "jaeger:4318",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://x",
		"OTEL_EXPORTER_OTLP_PROTOCOL":        "grpc",
		"OTEL_TRACES_SAMPLER":                "xray",
		"OTEL_TRACES_SAMPLER_ARG":            "1.5",
		"OTEL_METRIC_EXPORT_INTERVAL":        "10",
		"OTEL_RESOURCE_ATTRIBUTES":           "novalue",
		"OTEL_SDK_DISABLED":                  "yes",
		"OTEL_TRACES_EXPORTER":               "zipkin",
		"OTEL_EXPORTER_OTLP_HEADERS":         "api-key=secret",
		"OTEL_EXPORTER_OTLP_METRICS_TIMEOUT": "1000",
	}))
	FromEnv(e, "orders")
	err := e.Err()
	if err == nil {
		t.Fatal("got no error")
	}
	for _, name := range []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
		"OTEL_TRACES_SAMPLER must", "OTEL_TRACES_SAMPLER_ARG", "OTEL_METRIC_EXPORT_INTERVAL",
		"OTEL_RESOURCE_ATTRIBUTES", "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER",
		"OTEL_EXPORTER_OTLP_HEADERS is not supported", "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT is not supported",
	} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
}

func TestSampler(t *testing.T) {
	for _, name := range samplers {
		got := Sampler(Settings{Sampler: name, Ratio: 0.25}).Description()
		// The SDK's descriptions name the kind and the ratio.
		want := map[string]string{
			AlwaysOn:                "AlwaysOnSampler",
			AlwaysOff:               "AlwaysOffSampler",
			TraceIDRatio:            "TraceIDRatioBased{0.25}",
			ParentBasedAlwaysOn:     "ParentBased{root:AlwaysOnSampler",
			ParentBasedAlwaysOff:    "ParentBased{root:AlwaysOffSampler",
			ParentBasedTraceIDRatio: "ParentBased{root:TraceIDRatioBased{0.25}",
		}[name]
		if !strings.HasPrefix(got, want) {
			t.Errorf("Sampler(%s) = %s, want prefix %s", name, got, want)
		}
	}
}

// A caller's sampled flag cannot raise the ratio: with ratio 0 a request
// that arrives marked sampled is still not recorded. parentbased_always_on
// (Compose) keeps it.
func TestRemoteSampledFlagDoesNotOverrideTheRatio(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	parent := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true}))
	tests := []struct {
		sampler string
		want    sdktrace.SamplingDecision
	}{
		{ParentBasedTraceIDRatio, sdktrace.Drop},
		{ParentBasedAlwaysOn, sdktrace.RecordAndSample},
	}
	for _, tt := range tests {
		got := Sampler(Settings{Sampler: tt.sampler, Ratio: 0}).ShouldSample(sdktrace.SamplingParameters{
			ParentContext: parent, TraceID: tid, Name: "GET /", Kind: trace.SpanKindServer}).Decision
		if got != tt.want {
			t.Errorf("%s, ratio 0, caller sampled: got decision %v, want %v", tt.sampler, got, tt.want)
		}
	}
}
