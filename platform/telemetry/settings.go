// Package telemetry sets up OpenTelemetry traces and metrics once per
// process, from the standard OTEL_* environment variables, and holds the
// small pieces every service shares: the HTTP server middleware, the client
// transport and the trace ids that go into log lines.
//
// Without an exporter endpoint nothing is exported and the providers are
// no-ops: a span costs a few nanoseconds, and a trace context arriving in a
// request still travels on to the next hop, so a caller's trace is never cut.
// With one, spans and metrics leave the process in the background: a batch
// that cannot be delivered is dropped, never waited for by a request.
package telemetry

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/fargateshop/shop/platform/config"
)

// Sampler names, as OTEL_TRACES_SAMPLER spells them (OpenTelemetry
// "Environment Variable Specification", General SDK Configuration).
const (
	AlwaysOn                = "always_on"
	AlwaysOff               = "always_off"
	TraceIDRatio            = "traceidratio"
	ParentBasedAlwaysOn     = "parentbased_always_on"
	ParentBasedAlwaysOff    = "parentbased_always_off"
	ParentBasedTraceIDRatio = "parentbased_traceidratio"
)

var samplers = []string{AlwaysOn, AlwaysOff, TraceIDRatio, ParentBasedAlwaysOn, ParentBasedAlwaysOff, ParentBasedTraceIDRatio}

// protocol is the only OTLP transport the services speak: both the local
// collector (Jaeger) and the ADOT sidecar on AWS take it on port 4318.
const protocol = "http/protobuf"

// Settings are what Start needs, read by FromEnv.
type Settings struct {
	// TracesURL and MetricsURL are where OTLP/HTTP goes; "" exports
	// nothing for that signal.
	TracesURL, MetricsURL string
	// ServiceName is OTEL_SERVICE_NAME, else the service's own name.
	ServiceName string
	// Attributes are OTEL_RESOURCE_ATTRIBUTES, in order.
	Attributes [][2]string
	// Sampler is one of the sampler names; Ratio its argument.
	Sampler string
	Ratio   float64
	// MetricInterval is how often metrics are exported.
	MetricInterval time.Duration
}

// Enabled reports whether anything is exported.
func (s Settings) Enabled() bool { return s.TracesURL != "" || s.MetricsURL != "" }

// FromEnv reads the OpenTelemetry SDK's standard variables, recording every
// problem in e with the rest of the service's settings:
//
//   - OTEL_SDK_DISABLED=true turns everything off.
//   - OTEL_EXPORTER_OTLP_ENDPOINT is the collector's base URL (signal paths
//     /v1/traces and /v1/metrics are appended);
//     OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / _METRICS_ENDPOINT are used as is.
//     Unset: nothing is exported.
//   - OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER: otlp (default) or none.
//   - OTEL_EXPORTER_OTLP_PROTOCOL (and per signal): only http/protobuf.
//   - OTEL_SERVICE_NAME (default service), OTEL_RESOURCE_ATTRIBUTES
//     (key=value,... with values percent-encoded).
//   - OTEL_TRACES_SAMPLER (default parentbased_always_on) and
//     OTEL_TRACES_SAMPLER_ARG (the ratio for the ratio samplers, 0..1,
//     default 1).
//   - OTEL_METRIC_EXPORT_INTERVAL in milliseconds (default 60000).
func FromEnv(e *config.Env, service string) Settings {
	s := Settings{
		ServiceName: e.String("OTEL_SERVICE_NAME", service),
		Sampler:     e.OneOf("OTEL_TRACES_SAMPLER", ParentBasedAlwaysOn, samplers...),
		Ratio:       1,
	}
	if arg := e.String("OTEL_TRACES_SAMPLER_ARG", ""); arg != "" {
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			e.Fail("OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1, got %q", arg)
		} else {
			s.Ratio = r
		}
	}
	ms := e.Int("OTEL_METRIC_EXPORT_INTERVAL", 60000, 1000, 3600000)
	s.MetricInterval = time.Duration(ms) * time.Millisecond
	s.Attributes = resourceAttributes(e, e.String("OTEL_RESOURCE_ATTRIBUTES", ""))

	disabled := e.OneOf("OTEL_SDK_DISABLED", "false", "true", "false") == "true"
	base := optionalURL(e, "OTEL_EXPORTER_OTLP_ENDPOINT")
	e.OneOf("OTEL_EXPORTER_OTLP_PROTOCOL", protocol, protocol)
	unsupported(e, "")
	s.TracesURL = signalURL(e, "TRACES", base, "/v1/traces")
	s.MetricsURL = signalURL(e, "METRICS", base, "/v1/metrics")
	if disabled {
		s.TracesURL, s.MetricsURL = "", ""
	}
	return s
}

// signalURL is where one signal goes: its own endpoint, else the base's
// signal path, else nowhere; or nowhere when its exporter is none.
func signalURL(e *config.Env, signal, base, path string) string {
	exporter := e.OneOf("OTEL_"+signal+"_EXPORTER", "otlp", "otlp", "none")
	unsupported(e, signal+"_")
	e.OneOf("OTEL_EXPORTER_OTLP_"+signal+"_PROTOCOL", protocol, protocol)
	name := "OTEL_EXPORTER_OTLP_" + signal + "_ENDPOINT"
	u := optionalURL(e, name)
	if u == "" && base != "" {
		u = base + path
	}
	if exporter == "none" {
		return ""
	}
	return u
}

// unsupportedOptions are exporter variables of the OTLP specification this
// exporter (otlp.go) does not implement: plain HTTP to a collector beside
// the service needs none of them. A value set is refused, not ignored, so
// nobody believes their headers or certificates are in use.
var unsupportedOptions = []string{"HEADERS", "TIMEOUT", "COMPRESSION", "CERTIFICATE", "CLIENT_KEY", "CLIENT_CERTIFICATE", "INSECURE"}

func unsupported(e *config.Env, signal string) {
	for _, o := range unsupportedOptions {
		name := "OTEL_EXPORTER_OTLP_" + signal + o
		if e.String(name, "") != "" {
			e.Fail("%s is not supported: the services export plain OTLP/HTTP to a collector beside them (docs/observability.md); unset it", name)
		}
	}
}

// optionalURL is config's URL check for a variable that may be unset ("").
func optionalURL(e *config.Env, name string) string {
	if e.String(name, "") == "" {
		return ""
	}
	return e.URL(name, "")
}

// resourceAttributes parses OTEL_RESOURCE_ATTRIBUTES: comma-separated
// key=value pairs, values percent-decoded (OpenTelemetry Resource SDK,
// "Specifying resource information via an environment variable").
func resourceAttributes(e *config.Env, v string) [][2]string {
	var out [][2]string
	for pair := range strings.SplitSeq(v, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, val, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		dec, err := url.PathUnescape(strings.TrimSpace(val))
		if !ok || k == "" || err != nil {
			e.Fail("OTEL_RESOURCE_ATTRIBUTES must be key=value pairs separated by commas, got %q", pair)
			continue
		}
		out = append(out, [2]string{k, dec})
	}
	return out
}
