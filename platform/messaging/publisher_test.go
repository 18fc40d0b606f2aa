package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/fargateshop/shop/platform/messaging"
	"github.com/fargateshop/shop/platform/messaging/messagingtest"
	"github.com/fargateshop/shop/platform/oteltest"
)

const topicARN = "arn:aws:sns:eu-west-1:123456789012:order-events"

func newClient(t *testing.T, fake *messagingtest.SNS) *sns.Client {
	t.Helper()
	return sns.New(sns.Options{
		Region:       "eu-west-1",
		BaseEndpoint: &fake.URL,
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	})
}

func TestPublishSendsBodyTypeAndTraceContext(t *testing.T) {
	rec := oteltest.Install(t)
	fake := messagingtest.NewSNS(t, topicARN)
	p := messaging.NewPublisher(newClient(t, fake), topicARN)

	ctx, parent := otel.Tracer("test").Start(context.Background(), "confirm order")
	body := `{"id":"e-1","type":"order.confirmed"}`
	if err := p.Publish(ctx, messaging.Message{ID: "e-1", Type: "order.confirmed", Body: []byte(body)}); err != nil {
		t.Fatalf("publish: %v", err)
	}
	parent.End()

	sent := fake.Published()
	if len(sent) != 1 {
		t.Fatalf("got %d messages, want 1", len(sent))
	}
	got := sent[0]
	if got.TopicARN != topicARN || got.Message != body {
		t.Errorf("got topic %q body %q, want %q %q", got.TopicARN, got.Message, topicARN, body)
	}
	if got.Attributes[messaging.AttrEventType] != "String=order.confirmed" {
		t.Errorf("event_type = %q, want String=order.confirmed", got.Attributes[messaging.AttrEventType])
	}

	spans := rec.Named("publish order-events")
	if len(spans) != 1 {
		t.Fatalf("got %d publish spans, want 1", len(spans))
	}
	span := spans[0]
	if span.SpanKind() != trace.SpanKindProducer || span.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("publish span: kind %v parent %v, want producer under %v", span.SpanKind(), span.Parent().SpanID(), parent.SpanContext().SpanID())
	}
	// The consumer's parent is the producer span, in the same trace.
	sc := span.SpanContext()
	want := fmt.Sprintf("String=00-%s-%s-01", sc.TraceID(), sc.SpanID())
	if got.Attributes[messaging.AttrTraceparent] != want {
		t.Errorf("traceparent = %q, want %q", got.Attributes[messaging.AttrTraceparent], want)
	}
	for attr, want := range map[string]string{
		"messaging.system":           "aws.sns",
		"messaging.destination.name": "order-events",
		"messaging.message.id":       "e-1",
		"aws.sns.message_id":         "m-1",
	} {
		if v, _ := oteltest.Attr(span, attr); v.AsString() != want {
			t.Errorf("span attribute %s = %q, want %q", attr, v.AsString(), want)
		}
	}
}

func TestPublishCarriesARemoteParentsTraceState(t *testing.T) {
	oteltest.Install(t)
	fake := messagingtest.NewSNS(t, topicARN)
	p := messaging.NewPublisher(newClient(t, fake), topicARN)
	// What the relay does: the context stored with the event is the parent.
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	ctx := otel.GetTextMapPropagator().Extract(context.Background(), propagation.MapCarrier{
		"traceparent": "00-" + traceID + "-00f067aa0ba902b7-01",
		"tracestate":  "vendor=x",
	})
	if err := p.Publish(ctx, messaging.Message{ID: "e-2", Type: "order.confirmed", Body: []byte("{}")}); err != nil {
		t.Fatalf("publish: %v", err)
	}
	sent := fake.Published()
	if len(sent) != 1 {
		t.Fatalf("got %d messages, want 1", len(sent))
	}
	attrs := sent[0].Attributes
	if tp := attrs[messaging.AttrTraceparent]; !strings.HasPrefix(tp, "String=00-"+traceID+"-") || strings.Contains(tp, "00f067aa0ba902b7") {
		t.Errorf("traceparent = %q, want trace %s with the producer span's id", tp, traceID)
	}
	if ts := attrs[messaging.AttrTracestate]; ts != "String=vendor=x" {
		t.Errorf("tracestate = %q, want String=vendor=x", ts)
	}
}

func TestPublishReturnsTheSDKError(t *testing.T) {
	rec := oteltest.Install(t)
	fake := messagingtest.NewSNS(t, topicARN)
	p := messaging.NewPublisher(newClient(t, fake), "arn:aws:sns:eu-west-1:123456789012:no-such-topic")
	err := p.Publish(context.Background(), messaging.Message{ID: "e-3", Type: "order.confirmed", Body: []byte("{}")})
	var notFound *types.NotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("got %v, want a wrapped NotFoundException", err)
	}
	if !strings.Contains(err.Error(), "e-3") || !strings.Contains(err.Error(), "no-such-topic") {
		t.Errorf("error %q should name the event and the topic", err)
	}
	if n := len(fake.Published()); n != 0 {
		t.Errorf("fake recorded %d messages, want 0", n)
	}
	spans := rec.Named("publish no-such-topic")
	if len(spans) != 1 || spans[0].Status().Code.String() != "Error" {
		t.Errorf("want one publish span with status Error, got %d", len(spans))
	}
}
