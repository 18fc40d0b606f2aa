package telemetry

import (
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
)

// transformMetrics converts what the SDK collected into OTLP, every
// aggregation the SDK can produce (sums, gauges, explicit and exponential
// histograms, summaries) with their exemplars. A metric of a kind it does
// not know is left out and reported to otel's error handler, the rest sent.
func transformMetrics(rm *metricdata.ResourceMetrics) *metricpb.ResourceMetrics {
	out := &metricpb.ResourceMetrics{
		Resource:  &resourcepb.Resource{Attributes: keyValues(rm.Resource.Iter())},
		SchemaUrl: rm.Resource.SchemaURL(),
	}
	for _, sm := range rm.ScopeMetrics {
		s := &metricpb.ScopeMetrics{
			Scope: &commonpb.InstrumentationScope{
				Name: sm.Scope.Name, Version: sm.Scope.Version, Attributes: keyValues(sm.Scope.Attributes.Iter()),
			},
			SchemaUrl: sm.Scope.SchemaURL,
			Metrics:   make([]*metricpb.Metric, 0, len(sm.Metrics)),
		}
		for _, m := range sm.Metrics {
			if pb := transformMetric(m); pb != nil {
				s.Metrics = append(s.Metrics, pb)
			}
		}
		out.ScopeMetrics = append(out.ScopeMetrics, s)
	}
	return out
}

func transformMetric(m metricdata.Metrics) *metricpb.Metric {
	out := &metricpb.Metric{Name: m.Name, Description: m.Description, Unit: m.Unit}
	switch a := m.Data.(type) {
	case metricdata.Gauge[int64]:
		out.Data = &metricpb.Metric_Gauge{Gauge: &metricpb.Gauge{DataPoints: numberPoints(a.DataPoints)}}
	case metricdata.Gauge[float64]:
		out.Data = &metricpb.Metric_Gauge{Gauge: &metricpb.Gauge{DataPoints: numberPoints(a.DataPoints)}}
	case metricdata.Sum[int64]:
		out.Data = &metricpb.Metric_Sum{Sum: &metricpb.Sum{AggregationTemporality: temporality(a.Temporality),
			IsMonotonic: a.IsMonotonic, DataPoints: numberPoints(a.DataPoints)}}
	case metricdata.Sum[float64]:
		out.Data = &metricpb.Metric_Sum{Sum: &metricpb.Sum{AggregationTemporality: temporality(a.Temporality),
			IsMonotonic: a.IsMonotonic, DataPoints: numberPoints(a.DataPoints)}}
	case metricdata.Histogram[int64]:
		out.Data = histogram(a)
	case metricdata.Histogram[float64]:
		out.Data = histogram(a)
	case metricdata.ExponentialHistogram[int64]:
		out.Data = exponentialHistogram(a)
	case metricdata.ExponentialHistogram[float64]:
		out.Data = exponentialHistogram(a)
	case metricdata.Summary:
		out.Data = summary(a)
	default:
		otel.Handle(&unknownAggregation{m.Name, a})
		return nil
	}
	return out
}

type unknownAggregation struct {
	name string
	data metricdata.Aggregation
}

func (e *unknownAggregation) Error() string {
	return "otlp metrics: " + e.name + ": aggregation of an unknown kind, not exported"
}

func temporality(t metricdata.Temporality) metricpb.AggregationTemporality {
	switch t {
	case metricdata.DeltaTemporality:
		return metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA
	case metricdata.CumulativeTemporality:
		return metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE
	}
	return metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_UNSPECIFIED
}

func numberPoints[N int64 | float64](points []metricdata.DataPoint[N]) []*metricpb.NumberDataPoint {
	out := make([]*metricpb.NumberDataPoint, 0, len(points))
	for _, p := range points {
		pb := &metricpb.NumberDataPoint{
			Attributes:        keyValues(p.Attributes.Iter()),
			StartTimeUnixNano: unixNano(p.StartTime),
			TimeUnixNano:      unixNano(p.Time),
			Exemplars:         exemplars(p.Exemplars),
		}
		switch v := any(p.Value).(type) {
		case int64:
			pb.Value = &metricpb.NumberDataPoint_AsInt{AsInt: v}
		case float64:
			pb.Value = &metricpb.NumberDataPoint_AsDouble{AsDouble: v}
		}
		out = append(out, pb)
	}
	return out
}

func histogram[N int64 | float64](h metricdata.Histogram[N]) *metricpb.Metric_Histogram {
	points := make([]*metricpb.HistogramDataPoint, 0, len(h.DataPoints))
	for _, p := range h.DataPoints {
		points = append(points, &metricpb.HistogramDataPoint{
			Attributes:        keyValues(p.Attributes.Iter()),
			StartTimeUnixNano: unixNano(p.StartTime),
			TimeUnixNano:      unixNano(p.Time),
			Count:             p.Count,
			Sum:               ptr(float64(p.Sum)),
			BucketCounts:      p.BucketCounts,
			ExplicitBounds:    p.Bounds,
			Exemplars:         exemplars(p.Exemplars),
			Min:               extremum(p.Min),
			Max:               extremum(p.Max),
		})
	}
	return &metricpb.Metric_Histogram{Histogram: &metricpb.Histogram{
		AggregationTemporality: temporality(h.Temporality), DataPoints: points}}
}

func exponentialHistogram[N int64 | float64](h metricdata.ExponentialHistogram[N]) *metricpb.Metric_ExponentialHistogram {
	points := make([]*metricpb.ExponentialHistogramDataPoint, 0, len(h.DataPoints))
	for _, p := range h.DataPoints {
		points = append(points, &metricpb.ExponentialHistogramDataPoint{
			Attributes:        keyValues(p.Attributes.Iter()),
			StartTimeUnixNano: unixNano(p.StartTime),
			TimeUnixNano:      unixNano(p.Time),
			Count:             p.Count,
			Sum:               ptr(float64(p.Sum)),
			Scale:             p.Scale,
			ZeroCount:         p.ZeroCount,
			ZeroThreshold:     p.ZeroThreshold,
			Positive: &metricpb.ExponentialHistogramDataPoint_Buckets{
				Offset: p.PositiveBucket.Offset, BucketCounts: p.PositiveBucket.Counts},
			Negative: &metricpb.ExponentialHistogramDataPoint_Buckets{
				Offset: p.NegativeBucket.Offset, BucketCounts: p.NegativeBucket.Counts},
			Exemplars: exemplars(p.Exemplars),
			Min:       extremum(p.Min),
			Max:       extremum(p.Max),
		})
	}
	return &metricpb.Metric_ExponentialHistogram{ExponentialHistogram: &metricpb.ExponentialHistogram{
		AggregationTemporality: temporality(h.Temporality), DataPoints: points}}
}

func summary(s metricdata.Summary) *metricpb.Metric_Summary {
	points := make([]*metricpb.SummaryDataPoint, 0, len(s.DataPoints))
	for _, p := range s.DataPoints {
		q := make([]*metricpb.SummaryDataPoint_ValueAtQuantile, 0, len(p.QuantileValues))
		for _, v := range p.QuantileValues {
			q = append(q, &metricpb.SummaryDataPoint_ValueAtQuantile{Quantile: v.Quantile, Value: v.Value})
		}
		points = append(points, &metricpb.SummaryDataPoint{
			Attributes:        keyValues(p.Attributes.Iter()),
			StartTimeUnixNano: unixNano(p.StartTime),
			TimeUnixNano:      unixNano(p.Time),
			Count:             p.Count,
			Sum:               p.Sum,
			QuantileValues:    q,
		})
	}
	return &metricpb.Metric_Summary{Summary: &metricpb.Summary{DataPoints: points}}
}

func exemplars[N int64 | float64](es []metricdata.Exemplar[N]) []*metricpb.Exemplar {
	out := make([]*metricpb.Exemplar, 0, len(es))
	for _, e := range es {
		pb := &metricpb.Exemplar{
			FilteredAttributes: attributes(e.FilteredAttributes),
			TimeUnixNano:       unixNano(e.Time),
			SpanId:             e.SpanID,
			TraceId:            e.TraceID,
		}
		switch v := any(e.Value).(type) {
		case int64:
			pb.Value = &metricpb.Exemplar_AsInt{AsInt: v}
		case float64:
			pb.Value = &metricpb.Exemplar_AsDouble{AsDouble: v}
		}
		out = append(out, pb)
	}
	return out
}

// extremum is a histogram's min or max, absent when nothing was recorded.
func extremum[N int64 | float64](e metricdata.Extrema[N]) *float64 {
	if v, ok := e.Value(); ok {
		return ptr(float64(v))
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

// unixNano is t in OTLP's unsigned nanoseconds; the zero time is 0.
func unixNano(t time.Time) uint64 { return uint64(max(0, t.UnixNano())) }

func keyValues(it attribute.Iterator) []*commonpb.KeyValue {
	if it.Len() == 0 {
		return nil
	}
	out := make([]*commonpb.KeyValue, 0, it.Len())
	for it.Next() {
		kv := it.Attribute()
		out = append(out, &commonpb.KeyValue{Key: string(kv.Key), Value: anyValue(kv.Value)})
	}
	return out
}

func attributes(kvs []attribute.KeyValue) []*commonpb.KeyValue {
	if len(kvs) == 0 {
		return nil
	}
	out := make([]*commonpb.KeyValue, 0, len(kvs))
	for _, kv := range kvs {
		out = append(out, &commonpb.KeyValue{Key: string(kv.Key), Value: anyValue(kv.Value)})
	}
	return out
}

// anyValue is an attribute value in OTLP; an EMPTY value is an AnyValue
// with nothing set, as the specification spells an empty value.
func anyValue(v attribute.Value) *commonpb.AnyValue {
	out := &commonpb.AnyValue{}
	switch v.Type() {
	case attribute.EMPTY:
	case attribute.BOOL:
		out.Value = &commonpb.AnyValue_BoolValue{BoolValue: v.AsBool()}
	case attribute.INT64:
		out.Value = &commonpb.AnyValue_IntValue{IntValue: v.AsInt64()}
	case attribute.FLOAT64:
		out.Value = &commonpb.AnyValue_DoubleValue{DoubleValue: v.AsFloat64()}
	case attribute.STRING:
		out.Value = &commonpb.AnyValue_StringValue{StringValue: v.AsString()}
	case attribute.BYTESLICE:
		out.Value = &commonpb.AnyValue_BytesValue{BytesValue: v.AsByteSlice()}
	case attribute.BOOLSLICE:
		out.Value = array(v.AsBoolSlice(), attribute.BoolValue)
	case attribute.INT64SLICE:
		out.Value = array(v.AsInt64Slice(), attribute.Int64Value)
	case attribute.FLOAT64SLICE:
		out.Value = array(v.AsFloat64Slice(), attribute.Float64Value)
	case attribute.STRINGSLICE:
		out.Value = array(v.AsStringSlice(), attribute.StringValue)
	case attribute.SLICE:
		out.Value = array(v.AsSlice(), func(v attribute.Value) attribute.Value { return v })
	case attribute.MAP:
		out.Value = &commonpb.AnyValue_KvlistValue{KvlistValue: &commonpb.KeyValueList{Values: attributes(v.AsMap())}}
	default:
		out.Value = &commonpb.AnyValue_StringValue{StringValue: "INVALID"}
	}
	return out
}

func array[T any](vs []T, value func(T) attribute.Value) *commonpb.AnyValue_ArrayValue {
	out := make([]*commonpb.AnyValue, 0, len(vs))
	for _, v := range vs {
		out = append(out, anyValue(value(v)))
	}
	return &commonpb.AnyValue_ArrayValue{ArrayValue: &commonpb.ArrayValue{Values: out}}
}
