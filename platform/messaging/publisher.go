package messaging

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Message is one event to publish.
type Message struct {
	// ID identifies the event (the span's messaging.message.id); the body
	// carries it too, for consumers to deduplicate on.
	ID string
	// Type is the event type, sent as the event_type attribute so a
	// subscription may filter on it without parsing the body.
	Type string
	Body []byte
}

// Publisher publishes messages to one SNS topic.
type Publisher struct {
	client *sns.Client
	topic  string // ARN
	name   string // the topic's name, the last field of its ARN
}

// NewPublisher returns a Publisher to the topic with ARN topicARN.
func NewPublisher(c *sns.Client, topicARN string) *Publisher {
	return &Publisher{client: c, topic: topicARN, name: topicARN[strings.LastIndexByte(topicARN, ':')+1:]}
}

// Publish sends m to the topic. It runs in a producer span
// ("publish <topic>"), child of the span in ctx, whose W3C trace context
// travels in the traceparent and tracestate attributes: the consumer's
// span continues this trace. The error, if any, is the SDK's, wrapped.
func (p *Publisher) Publish(ctx context.Context, m Message) error {
	ctx, span := tracer.Start(ctx, "publish "+p.name, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			semconv.MessagingSystemAWSSNS,
			semconv.MessagingOperationTypeSend,
			semconv.MessagingOperationName("publish"),
			semconv.MessagingDestinationName(p.name),
			semconv.MessagingMessageID(m.ID),
			attribute.String("shop.event.type", m.Type)))
	defer span.End()

	out, err := p.client.Publish(ctx, &sns.PublishInput{
		TopicArn:          aws.String(p.topic),
		Message:           aws.String(string(m.Body)),
		MessageAttributes: attributes(ctx, m.Type),
	})
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return fmt.Errorf("publish %s %s to %s: %w", m.Type, m.ID, p.name, err)
	}
	span.SetAttributes(attribute.String("aws.sns.message_id", aws.ToString(out.MessageId)))
	return nil
}

// attributes returns the message attributes of an event of type
// eventType published under ctx: its type and the trace context, each a
// String attribute (what SQS hands to the consumer with raw delivery).
func attributes(ctx context.Context, eventType string) map[string]types.MessageAttributeValue {
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	attrs := map[string]types.MessageAttributeValue{AttrEventType: stringAttr(eventType)}
	for _, name := range []string{AttrTraceparent, AttrTracestate} {
		if v := carrier.Get(name); v != "" {
			attrs[name] = stringAttr(v)
		}
	}
	return attrs
}

func stringAttr(v string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
}
