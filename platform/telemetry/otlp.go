package telemetry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// The OTLP/HTTP exporters are this package's own, not the SDK's
// otlptracehttp and otlpmetrichttp: those build their requests from the
// collector service packages of go.opentelemetry.io/proto/otlp, which also
// hold the gRPC service stubs and so link gRPC and grpc-gateway into every
// service that never speaks them, 2 to 7 MiB of idle memory per service
// (docs/performance.md, "Memory: the exporters brought gRPC"). The body of
// an OTLP/HTTP export is the ExportTraceServiceRequest or
// ExportMetricsServiceRequest message, whose encoding is exactly that of
// TracesData and MetricsData (field 1, the repeated resource spans or
// metrics): the data packages, which import no gRPC, are enough.
//
// Spans are encoded by appendTracesData, straight into the wire format;
// metrics are converted by transformMetrics into the data package's
// messages. Both are tested field for field against the SDK exporters'
// output.

// otlpHTTP posts OTLP/HTTP protobuf exports to one URL (OTLP
// specification, "OTLP/HTTP"), retrying what the specification calls
// retryable (429, 502, 503, 504, and a collector not reachable yet) with
// exponential backoff, honouring Retry-After, until the export's deadline
// (exportTimeout at most).
type otlpHTTP struct {
	url    string
	client *http.Client
	// backoff is the first wait between attempts; it doubles up to 5 s.
	backoff time.Duration
}

func newOTLPHTTP(url string) *otlpHTTP {
	return &otlpHTTP{url: url, client: &http.Client{Timeout: exportTimeout}, backoff: time.Second}
}

// errPermanent marks an answer no retry can change (400, 401, 404...).
var errPermanent = errors.New("not retried")

// send delivers one encoded export and reports the collector's partial
// success (items it rejected) to otel's error handler, as the SDK's
// exporters do: the rest of the export was accepted.
func (c *otlpHTTP) send(ctx context.Context, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, exportTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	backoff := c.backoff
	for {
		retryAfter, err := c.post(ctx, body)
		if err == nil || errors.Is(err, errPermanent) {
			return err
		}
		// Jitter, so replicas that failed together do not retry together;
		// a collector's Retry-After is a floor the jitter never goes under
		// (OTLP/HTTP: the client SHOULD honour it).
		wait := max(backoff/2+rand.N(backoff/2+1), retryAfter)
		if time.Now().Add(wait).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (c *otlpHTTP) post(ctx context.Context, body []byte) (retryAfter time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errPermanent, err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("otlp export to %s: %w", c.url, err)
	}
	defer resp.Body.Close()
	// A collector's answer is small; more is not read.
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		if rejected, msg := partialSuccess(answer); rejected > 0 || msg != "" {
			otel.Handle(fmt.Errorf("otlp export to %s: partial success: %d rejected: %s", c.url, rejected, msg))
		}
		return 0, nil
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusBadGateway,
		resp.StatusCode == http.StatusServiceUnavailable, resp.StatusCode == http.StatusGatewayTimeout:
		s, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return time.Duration(s) * time.Second, fmt.Errorf("otlp export to %s: %s", c.url, resp.Status)
	default:
		return 0, fmt.Errorf("%w: otlp export to %s: %s: %.200s", errPermanent, c.url, resp.Status, answer)
	}
}

// partialSuccess reads the partial_success field (1) of an Export*Response:
// its rejected count (field 1) and error message (field 2). The three
// responses share this layout; an answer that is not one reads as none.
func partialSuccess(b []byte) (rejected int64, msg string) {
	eachField(b, func(num protowire.Number, typ protowire.Type, v []byte) {
		if num != 1 || typ != protowire.BytesType {
			return
		}
		ps, _ := protowire.ConsumeBytes(v)
		eachField(ps, func(num protowire.Number, typ protowire.Type, v []byte) {
			switch {
			case num == 1 && typ == protowire.VarintType:
				n, _ := protowire.ConsumeVarint(v)
				rejected = int64(n)
			case num == 2 && typ == protowire.BytesType:
				s, _ := protowire.ConsumeBytes(v)
				msg = string(s)
			}
		})
	})
	return rejected, msg
}

// eachField calls f with the number, type and encoded value of each field
// of a protobuf message, up to the first malformed one.
func eachField(b []byte, f func(protowire.Number, protowire.Type, []byte)) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return
		}
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return
		}
		f(num, typ, b[:n])
		b = b[n:]
	}
}

// metricExporter sends metrics as otlpmetrichttp does by default:
// cumulative temporality, the SDK's default aggregations.
type metricExporter struct{ c *otlpHTTP }

var _ sdkmetric.Exporter = (*metricExporter)(nil)

func newMetricExporter(url string) *metricExporter {
	return &metricExporter{c: newOTLPHTTP(url)}
}

func (*metricExporter) Temporality(k sdkmetric.InstrumentKind) metricdata.Temporality {
	return sdkmetric.DefaultTemporalitySelector(k)
}

func (*metricExporter) Aggregation(k sdkmetric.InstrumentKind) sdkmetric.Aggregation {
	return sdkmetric.DefaultAggregationSelector(k)
}

func (e *metricExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	out := transformMetrics(rm)
	if len(out.ScopeMetrics) == 0 {
		return nil
	}
	body, err := proto.Marshal(&metricpb.MetricsData{ResourceMetrics: []*metricpb.ResourceMetrics{out}})
	if err != nil {
		return fmt.Errorf("otlp metrics: %w", err)
	}
	return e.c.send(ctx, body)
}

func (*metricExporter) ForceFlush(context.Context) error { return nil }
func (*metricExporter) Shutdown(context.Context) error   { return nil }
