package telemetry

import (
	"context"
	"fmt"
	"math"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protowire"
)

// traceExporter sends spans over OTLP/HTTP, encoding them straight from
// the SDK's read-only spans into the protobuf wire format of TracesData
// (opentelemetry-proto, trace/v1/trace.proto). The SDK's exporter first
// builds the generated message structs (a dozen allocations per span) and
// then marshals them by reflection; at 10 % sampling that was a third of
// what tracing cost a request (docs/performance.md, "Tracing cost").
// TestTraceExportMatchesTheSDKs holds the two encodings equal, field for
// field.
type traceExporter struct {
	c *otlpHTTP
	// sizeHint is the last body's size: the next buffer starts that large.
	sizeHint int
}

var _ sdktrace.SpanExporter = (*traceExporter)(nil)

func newTraceExporter(url string) *traceExporter { return &traceExporter{c: newOTLPHTTP(url)} }

// ExportSpans is called by the batch span processor, one batch at a time.
// Each body is a new buffer: the HTTP client may still hold the last one.
func (e *traceExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	body := appendTracesData(make([]byte, 0, e.sizeHint), spans)
	if len(body) == 0 {
		return nil
	}
	e.sizeHint = len(body)
	if err := e.c.send(ctx, body); err != nil {
		return fmt.Errorf("otlp traces: %w", err)
	}
	return nil
}

func (*traceExporter) Shutdown(context.Context) error { return nil }

// Field numbers of opentelemetry-proto v1 (trace.proto, common.proto,
// resource.proto).
const (
	fTracesDataResourceSpans = 1

	fResourceSpansResource   = 1
	fResourceSpansScopeSpans = 2
	fResourceSpansSchemaURL  = 3
	fResourceAttributes      = 1

	fScopeSpansScope     = 1
	fScopeSpansSpans     = 2
	fScopeSpansSchemaURL = 3
	fScopeName           = 1
	fScopeVersion        = 2
	fScopeAttributes     = 3

	fSpanTraceID           = 1
	fSpanSpanID            = 2
	fSpanTraceState        = 3
	fSpanParentSpanID      = 4
	fSpanName              = 5
	fSpanKind              = 6
	fSpanStart             = 7
	fSpanEnd               = 8
	fSpanAttributes        = 9
	fSpanDroppedAttributes = 10
	fSpanEvents            = 11
	fSpanDroppedEvents     = 12
	fSpanLinks             = 13
	fSpanDroppedLinks      = 14
	fSpanStatus            = 15
	fSpanFlags             = 16

	fEventTime              = 1
	fEventName              = 2
	fEventAttributes        = 3
	fEventDroppedAttributes = 4

	fLinkTraceID           = 1
	fLinkSpanID            = 2
	fLinkAttributes        = 4
	fLinkDroppedAttributes = 5
	fLinkFlags             = 6

	fStatusMessage = 2
	fStatusCode    = 3

	fKeyValueKey   = 1
	fKeyValueValue = 2
	fArrayValues   = 1
	fKVListValues  = 1

	fAnyString = 1
	fAnyBool   = 2
	fAnyInt    = 3
	fAnyDouble = 4
	fAnyArray  = 5
	fAnyKVList = 6
	fAnyBytes  = 7

	// SpanFlags: the W3C trace flags in the low byte, then whether the
	// parent's remoteness is known (always, here) and whether it is remote.
	flagHasIsRemote = 0x100
	flagIsRemote    = 0x200

	// Status codes.
	statusOK    = 1
	statusError = 2
)

// spanGroup is the spans of one resource and instrumentation scope, in the
// order the SDK handed them over.
type spanGroup struct {
	res   attribute.Distinct
	scope instrumentation.Scope
	spans []sdktrace.ReadOnlySpan
}

// appendTracesData appends the TracesData of spans to b: one ResourceSpans
// per resource, one ScopeSpans per scope inside it, as the SDK groups them.
// It appends nothing when there is no span.
func appendTracesData(b []byte, spans []sdktrace.ReadOnlySpan) []byte {
	// A provider has one resource and a service a handful of scopes: a
	// linear search beats a map.
	var groups []spanGroup
	for _, s := range spans {
		if s == nil {
			continue
		}
		res, scope := s.Resource().Equivalent(), s.InstrumentationScope()
		i := 0
		for i < len(groups) && (groups[i].res != res || groups[i].scope != scope) {
			i++
		}
		if i == len(groups) {
			groups = append(groups, spanGroup{res: res, scope: scope})
		}
		groups[i].spans = append(groups[i].spans, s)
	}
	done := make([]bool, len(groups))
	for i, g := range groups {
		if done[i] {
			continue
		}
		var rs int
		b, rs = beginMessage(b, fTracesDataResourceSpans)
		r := g.spans[0].Resource()
		if r != nil {
			var m int
			b, m = beginMessage(b, fResourceSpansResource)
			for it := r.Iter(); it.Next(); {
				b = appendKeyValue(b, fResourceAttributes, it.Attribute())
			}
			b = endMessage(b, m)
		}
		for j := i; j < len(groups); j++ {
			if done[j] || groups[j].res != g.res {
				continue
			}
			done[j] = true
			b = appendScopeSpans(b, groups[j])
		}
		b = appendString(b, fResourceSpansSchemaURL, r.SchemaURL())
		b = endMessage(b, rs)
	}
	return b
}

func appendScopeSpans(b []byte, g spanGroup) []byte {
	var ss int
	b, ss = beginMessage(b, fResourceSpansScopeSpans)
	if g.scope != (instrumentation.Scope{}) {
		var m int
		b, m = beginMessage(b, fScopeSpansScope)
		b = appendString(b, fScopeName, g.scope.Name)
		b = appendString(b, fScopeVersion, g.scope.Version)
		for it := g.scope.Attributes.Iter(); it.Next(); {
			b = appendKeyValue(b, fScopeAttributes, it.Attribute())
		}
		b = endMessage(b, m)
	}
	for _, s := range g.spans {
		b = appendSpan(b, s)
	}
	b = appendString(b, fScopeSpansSchemaURL, g.scope.SchemaURL)
	return endMessage(b, ss)
}

func appendSpan(b []byte, s sdktrace.ReadOnlySpan) []byte {
	var sp int
	b, sp = beginMessage(b, fScopeSpansSpans)
	sc := s.SpanContext()
	tid, sid := sc.TraceID(), sc.SpanID()
	b = appendBytes(b, fSpanTraceID, tid[:])
	b = appendBytes(b, fSpanSpanID, sid[:])
	b = appendString(b, fSpanTraceState, sc.TraceState().String())
	parent := s.Parent()
	if psid := parent.SpanID(); psid.IsValid() {
		b = appendBytes(b, fSpanParentSpanID, psid[:])
	}
	b = appendString(b, fSpanName, s.Name())
	b = appendVarint(b, fSpanKind, uint64(spanKind(s.SpanKind())))
	b = appendFixed64(b, fSpanStart, unixNano(s.StartTime()))
	b = appendFixed64(b, fSpanEnd, unixNano(s.EndTime()))
	for _, kv := range s.Attributes() {
		b = appendKeyValue(b, fSpanAttributes, kv)
	}
	b = appendVarint(b, fSpanDroppedAttributes, clampCount(s.DroppedAttributes()))
	for _, ev := range s.Events() {
		var m int
		b, m = beginMessage(b, fSpanEvents)
		b = appendFixed64(b, fEventTime, unixNano(ev.Time))
		b = appendString(b, fEventName, ev.Name)
		for _, kv := range ev.Attributes {
			b = appendKeyValue(b, fEventAttributes, kv)
		}
		b = appendVarint(b, fEventDroppedAttributes, clampCount(ev.DroppedAttributeCount))
		b = endMessage(b, m)
	}
	b = appendVarint(b, fSpanDroppedEvents, clampCount(s.DroppedEvents()))
	for _, l := range s.Links() {
		// As the SDK's exporter: the link's trace state is not sent.
		var m int
		b, m = beginMessage(b, fSpanLinks)
		ltid, lsid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
		b = appendBytes(b, fLinkTraceID, ltid[:])
		b = appendBytes(b, fLinkSpanID, lsid[:])
		for _, kv := range l.Attributes {
			b = appendKeyValue(b, fLinkAttributes, kv)
		}
		b = appendVarint(b, fLinkDroppedAttributes, clampCount(l.DroppedAttributeCount))
		b = appendFixed32(b, fLinkFlags, spanFlags(l.SpanContext.TraceFlags(), l.SpanContext))
		b = endMessage(b, m)
	}
	b = appendVarint(b, fSpanDroppedLinks, clampCount(s.DroppedLinks()))
	// The status is always present, empty when unset, as the SDK sends it.
	var st int
	b, st = beginMessage(b, fSpanStatus)
	status := s.Status()
	b = appendString(b, fStatusMessage, status.Description)
	switch status.Code {
	case codes.Ok:
		b = appendVarint(b, fStatusCode, statusOK)
	case codes.Error:
		b = appendVarint(b, fStatusCode, statusError)
	}
	b = endMessage(b, st)
	b = appendFixed32(b, fSpanFlags, spanFlags(sc.TraceFlags(), parent))
	return endMessage(b, sp)
}

// spanKind is trace.proto's SpanKind, whose numbers are the API's.
func spanKind(k trace.SpanKind) int {
	if k < trace.SpanKindInternal || k > trace.SpanKindConsumer {
		return 0 // SPAN_KIND_UNSPECIFIED
	}
	return int(k)
}

func spanFlags(tf trace.TraceFlags, parent trace.SpanContext) uint32 {
	flags := uint32(tf) | flagHasIsRemote
	if parent.IsRemote() {
		flags |= flagIsRemote
	}
	return flags
}

func clampCount(n int) uint64 { return uint64(min(max(n, 0), math.MaxUint32)) }

// appendKeyValue appends field num holding a KeyValue.
func appendKeyValue(b []byte, num protowire.Number, kv attribute.KeyValue) []byte {
	var m int
	b, m = beginMessage(b, num)
	b = appendString(b, fKeyValueKey, string(kv.Key))
	b = appendAnyValue(b, fKeyValueValue, kv.Value)
	return endMessage(b, m)
}

// appendAnyValue appends field num holding v as an AnyValue. An empty
// value is an AnyValue with nothing set; a type this code does not know is
// the string "INVALID", as the SDK's exporter sends it.
func appendAnyValue(b []byte, num protowire.Number, v attribute.Value) []byte {
	var m int
	b, m = beginMessage(b, num)
	switch v.Type() {
	case attribute.EMPTY:
	case attribute.BOOL:
		b = protowire.AppendTag(b, fAnyBool, protowire.VarintType)
		b = protowire.AppendVarint(b, protowire.EncodeBool(v.AsBool()))
	case attribute.INT64:
		b = protowire.AppendTag(b, fAnyInt, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(v.AsInt64()))
	case attribute.FLOAT64:
		b = protowire.AppendTag(b, fAnyDouble, protowire.Fixed64Type)
		b = protowire.AppendFixed64(b, math.Float64bits(v.AsFloat64()))
	case attribute.STRING:
		b = protowire.AppendTag(b, fAnyString, protowire.BytesType)
		b = protowire.AppendString(b, v.AsString())
	case attribute.BYTESLICE:
		b = protowire.AppendTag(b, fAnyBytes, protowire.BytesType)
		b = protowire.AppendBytes(b, v.AsByteSlice())
	case attribute.BOOLSLICE:
		b = appendArray(b, v.AsBoolSlice(), attribute.BoolValue)
	case attribute.INT64SLICE:
		b = appendArray(b, v.AsInt64Slice(), attribute.Int64Value)
	case attribute.FLOAT64SLICE:
		b = appendArray(b, v.AsFloat64Slice(), attribute.Float64Value)
	case attribute.STRINGSLICE:
		b = appendArray(b, v.AsStringSlice(), attribute.StringValue)
	case attribute.SLICE:
		b = appendArray(b, v.AsSlice(), func(v attribute.Value) attribute.Value { return v })
	case attribute.MAP:
		var l int
		b, l = beginMessage(b, fAnyKVList)
		for _, kv := range v.AsMap() {
			b = appendKeyValue(b, fKVListValues, kv)
		}
		b = endMessage(b, l)
	default:
		b = protowire.AppendTag(b, fAnyString, protowire.BytesType)
		b = protowire.AppendString(b, "INVALID")
	}
	return endMessage(b, m)
}

func appendArray[T any](b []byte, vs []T, value func(T) attribute.Value) []byte {
	var m int
	b, m = beginMessage(b, fAnyArray)
	for _, v := range vs {
		b = appendAnyValue(b, fArrayValues, value(v))
	}
	return endMessage(b, m)
}

// beginMessage appends the tag of field num, a length-delimited message,
// and one byte for its length, and returns where the message starts;
// endMessage writes the length once the message is appended, moving it
// along when the length takes more than a byte. Most messages here (key
// values, events, statuses) are shorter than 128 bytes and never move.
func beginMessage(b []byte, num protowire.Number) ([]byte, int) {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = append(b, 0)
	return b, len(b)
}

func endMessage(b []byte, start int) []byte {
	n := len(b) - start
	size := protowire.SizeVarint(uint64(n))
	if size > 1 {
		b = append(b, make([]byte, size-1)...)
		copy(b[start+size-1:], b[start:start+n])
	}
	// b has room: the varint rewrites the placeholder (and what was moved).
	protowire.AppendVarint(b[:start-1], uint64(n))
	return b
}

// The proto3 scalars: a field at its zero value is not written.

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func appendFixed64(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed64Type)
	return protowire.AppendFixed64(b, v)
}

func appendFixed32(b []byte, num protowire.Number, v uint32) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.Fixed32Type)
	return protowire.AppendFixed32(b, v)
}
