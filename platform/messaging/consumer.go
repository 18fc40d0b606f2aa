package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/fargateshop/shop/platform/events"
)

// Delivery is one received message, as a Handler sees it.
type Delivery struct {
	// MessageID is SQS's id of the message: the same for every delivery of
	// one message, different for a message published twice (use the
	// event's own id to recognise a duplicate event).
	MessageID string
	// Type is the event_type attribute, "" when the publisher set none.
	Type string
	Body []byte
	// ReceiveCount is how often SQS has handed the message out, this
	// delivery included (ApproximateReceiveCount): 1 on the first.
	ReceiveCount int
}

// Handler applies one delivery. It returns nil once the delivery's effect
// is committed: only then is the message deleted. It must be idempotent
// (a message may be delivered more than once: a crash after the commit and
// before the delete, a visibility timeout running out) and safe for
// concurrent use. ctx carries the publisher's trace context and is not
// cancelled when the consumer stops, so a handler finishes what it began.
//
// An error leaves the message for a later delivery; an error marked with
// Permanent, or wrapping events.ErrInvalid, says no delivery can ever
// succeed: the message is made visible again at once on each receive, so
// the queue's redrive policy parks it in the dead-letter queue after its
// maxReceiveCount receives, within seconds.
type Handler func(ctx context.Context, d Delivery) error

// Permanent marks err as one that redelivering the message cannot cure
// (the body is not an event the handler can ever apply). Permanent(nil) is
// nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// IsPermanent reports whether err is marked Permanent or wraps
// events.ErrInvalid.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p) || errors.Is(err, events.ErrInvalid)
}

// ConsumerOptions tune a Consumer; the zero value is the production setting.
type ConsumerOptions struct {
	// Topic names the consumer's spans ("process <topic>") and logs;
	// default: the queue's name, the last segment of its URL.
	Topic string
	// Workers is how many receive loops run at once; each handles the up
	// to 10 messages of one receive concurrently. Default 2.
	Workers int
	// HandlerTimeout bounds one handler call; default 15 s. The queue's
	// visibility timeout (30 s) must exceed it and the delete that follows
	// (settleTimeout), or a slow delivery is handed to another worker while
	// it still runs.
	HandlerTimeout time.Duration
	// RetryBase and RetryMax shape how long a failed message stays hidden
	// before its next delivery: RetryBase doubled per earlier receive,
	// at most RetryMax; default 2 s and 2 min. With the queue's
	// maxReceiveCount they bound how long a failing message is retried
	// before the dead-letter queue takes it.
	RetryBase, RetryMax time.Duration
	// ReceiveBase and ReceiveMax shape the wait after a failed receive
	// (the broker is down or unreachable); default 1 s and 20 s.
	ReceiveBase, ReceiveMax time.Duration
}

func (o ConsumerOptions) withDefaults(queueURL string) ConsumerOptions {
	if o.Topic == "" {
		o.Topic = queueName(queueURL)
	}
	setDefault(&o.HandlerTimeout, 15*time.Second)
	setDefault(&o.RetryBase, 2*time.Second)
	setDefault(&o.RetryMax, 2*time.Minute)
	setDefault(&o.ReceiveBase, time.Second)
	setDefault(&o.ReceiveMax, 20*time.Second)
	if o.Workers <= 0 {
		o.Workers = 2
	}
	return o
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// queueName is the last path segment of an SQS queue URL
// (https://sqs.<region>.amazonaws.com/<account>/<name>).
func queueName(queueURL string) string {
	if u, err := url.Parse(queueURL); err == nil && u.Path != "" {
		return path.Base(u.Path)
	}
	return queueURL
}

// Receive parameters (Amazon SQS API reference, ReceiveMessage).
const (
	// waitSeconds is the longest long poll SQS allows: an idle queue costs
	// one request per 20 s per worker, and a message arriving meanwhile is
	// returned at once.
	waitSeconds = 20
	// maxMessages is the most one receive returns.
	maxMessages = 10
	// settleTimeout bounds a delete or visibility change.
	settleTimeout = 10 * time.Second
	// maxVisibility is the longest visibility timeout SQS accepts: 12 h.
	maxVisibility = 12 * time.Hour
)

// Outcomes of a delivery, the outcome attribute of shop.events.processed.
const (
	// Handled: the handler returned nil and the message was deleted (or
	// its delete failed, and the next delivery is a duplicate).
	Handled = "handled"
	// Retry: the handler failed; the message comes back after a backoff.
	Retry = "retry"
	// Invalid: the handler refused the message for good; it goes to the
	// dead-letter queue after the queue's maxReceiveCount receives.
	Invalid = "invalid"
)

const scope = "github.com/fargateshop/shop/platform/messaging"

var (
	tracer       = otel.Tracer(scope)
	processed, _ = otel.Meter(scope).Int64Counter("shop.events.processed", metric.WithUnit("{message}"),
		metric.WithDescription("Messages consumed, by topic and outcome: handled, retry or invalid."))
)

// Consumer reads one SQS queue and hands each message to a Handler.
type Consumer struct {
	client   *sqs.Client
	queueURL string
	handle   Handler
	log      *slog.Logger
	opts     ConsumerOptions

	mu       sync.Mutex
	attempts map[string]int // failed deliveries seen here, by message id
}

// maxTracked bounds the attempts map; past it the map starts again empty,
// which only shortens the next backoffs.
const maxTracked = 10_000

// attempt is which delivery of m this is: SQS's ApproximateReceiveCount,
// or one more than the failures this consumer saw of it when that is
// higher (a broker that does not count receives, as goaws does not, still
// gets growing backoffs).
func (c *Consumer) attempt(d Delivery) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return max(d.ReceiveCount, c.attempts[d.MessageID]+1)
}

// failed records a failed delivery of id; done forgets it.
func (c *Consumer) failed(id string, attempt int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.attempts) >= maxTracked {
		clear(c.attempts)
	}
	c.attempts[id] = attempt
}

func (c *Consumer) done(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.attempts, id)
}

// NewConsumer returns a Consumer of the queue at queueURL.
func NewConsumer(c *sqs.Client, queueURL string, h Handler, log *slog.Logger, o ConsumerOptions) *Consumer {
	o = o.withDefaults(queueURL)
	return &Consumer{client: c, queueURL: queueURL, handle: h, log: log.With("topic", o.Topic), opts: o, attempts: map[string]int{}}
}

// Run receives and handles messages until ctx is cancelled, then waits for
// the handlers in flight and the deletes that follow them, and returns
// nil. A failing broker never stops it: it logs, waits and tries again.
func (c *Consumer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range c.opts.Workers {
		wg.Go(func() { c.work(ctx) })
	}
	wg.Wait()
	return nil
}

// work is one receive loop. The messages of one receive are handled
// concurrently, and the next receive waits for all of them: a worker never
// holds a message it is not working on, whose visibility would run out.
func (c *Consumer) work(ctx context.Context) {
	failures := 0
	for ctx.Err() == nil {
		out, err := c.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(c.queueURL),
			WaitTimeSeconds:             waitSeconds,
			MaxNumberOfMessages:         maxMessages,
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
			MessageAttributeNames:       []string{"All"},
		})
		if err != nil {
			if ctx.Err() != nil {
				return // stopping: the receive was cancelled, nothing failed
			}
			failures++
			wait := backoff(c.opts.ReceiveBase, c.opts.ReceiveMax, failures)
			c.log.WarnContext(ctx, "receive messages", "error", err.Error(), "retry_in", wait.String())
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			continue
		}
		if failures > 0 {
			c.log.InfoContext(ctx, "receiving messages again", "after_failures", failures)
			failures = 0
		}
		var batch sync.WaitGroup
		for _, m := range out.Messages {
			// Detached from ctx: a message received is finished and
			// settled even when the consumer is stopping.
			batch.Go(func() { c.process(context.WithoutCancel(ctx), m) })
		}
		batch.Wait()
	}
}

// process handles one message and settles it: deleted after success,
// visible again at once when it can never succeed (so the redrive policy
// parks it in the dead-letter queue within seconds), visible again after a
// backoff otherwise.
func (c *Consumer) process(ctx context.Context, m types.Message) {
	d := delivery(m)
	carrier := propagation.MapCarrier{}
	for _, k := range []string{AttrTraceparent, AttrTracestate} {
		if v, ok := m.MessageAttributes[k]; ok && v.StringValue != nil {
			carrier[k] = *v.StringValue
		}
	}
	ctx = otel.GetTextMapPropagator().Extract(ctx, carrier)
	ctx, span := tracer.Start(ctx, "process "+c.opts.Topic, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "aws_sqs"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", c.opts.Topic),
			attribute.String("messaging.message.id", d.MessageID),
			attribute.String("shop.event.type", d.Type),
			attribute.Int("shop.event.receive_count", d.ReceiveCount)))
	defer span.End()
	log := c.log.With("message_id", d.MessageID, "event_type", d.Type, "receive_count", d.ReceiveCount)

	hctx, cancel := context.WithTimeout(ctx, c.opts.HandlerTimeout)
	err := c.call(hctx, d)
	cancel()

	outcome := Handled
	if err == nil || IsPermanent(err) {
		c.done(d.MessageID)
	}
	switch {
	case err == nil:
		if err := c.settle(ctx, m, -1); err != nil {
			// The effect is committed; the next delivery finds it done.
			log.WarnContext(ctx, "delete handled message", "error", err.Error())
		}
	case IsPermanent(err):
		outcome = Invalid
		log.ErrorContext(ctx, "message refused: it goes to the dead-letter queue", "error", err.Error())
		if err := c.settle(ctx, m, 0); err != nil {
			log.WarnContext(ctx, "release refused message", "error", err.Error())
		}
	default:
		outcome = Retry
		attempt := c.attempt(d)
		c.failed(d.MessageID, attempt)
		wait := backoff(c.opts.RetryBase, c.opts.RetryMax, attempt)
		log.WarnContext(ctx, "message failed; it is delivered again later", "error", err.Error(), "retry_in", wait.String())
		if err := c.settle(ctx, m, wait); err != nil {
			// It comes back when the queue's visibility timeout ends.
			log.WarnContext(ctx, "delay failed message", "error", err.Error())
		}
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.SetAttributes(attribute.String("shop.outcome", outcome))
	processed.Add(ctx, 1, metric.WithAttributes(attribute.String("topic", c.opts.Topic), attribute.String("outcome", outcome)))
}

// call runs the handler; a panic is an error for this delivery, not the
// end of the process (the message is retried, and parked in the
// dead-letter queue if it keeps panicking).
func (c *Consumer) call(ctx context.Context, d Delivery) (err error) {
	defer func() {
		if v := recover(); v != nil {
			c.log.ErrorContext(ctx, "handler panic", "message_id", d.MessageID, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panic: %v", v)
		}
	}()
	return c.handle(ctx, d)
}

// settle deletes m (hide < 0) or makes it visible again after hide.
func (c *Consumer) settle(ctx context.Context, m types.Message, hide time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, settleTimeout)
	defer cancel()
	if hide < 0 {
		_, err := c.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(c.queueURL), ReceiptHandle: m.ReceiptHandle})
		return err
	}
	_, err := c.client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl: aws.String(c.queueURL), ReceiptHandle: m.ReceiptHandle,
		VisibilityTimeout: int32(min(hide, maxVisibility) / time.Second),
	})
	return err
}

func delivery(m types.Message) Delivery {
	d := Delivery{MessageID: aws.ToString(m.MessageId), Body: []byte(aws.ToString(m.Body))}
	if v, ok := m.MessageAttributes[AttrEventType]; ok {
		d.Type = aws.ToString(v.StringValue)
	}
	d.ReceiveCount, _ = strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	return d
}

// backoff is base doubled for each attempt after the first, at most
// ceiling.
func backoff(base, ceiling time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < ceiling; i++ {
		d *= 2
	}
	return min(d, ceiling)
}
