package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/fargateshop/shop/platform/events"
	"github.com/fargateshop/shop/platform/messaging/messagingtest"
	"github.com/fargateshop/shop/platform/oteltest"
)

const queueURL = "https://sqs.eu-west-1.amazonaws.com/123456789012/shipping-order-events"

var quiet = slog.New(slog.DiscardHandler)

// start runs a consumer of the fake until the test ends; stop cancels it
// and waits for Run.
func start(t *testing.T, f *messagingtest.SQS, h Handler, o ConsumerOptions) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	c := NewConsumer(f.Client(), queueURL, h, quiet, o)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v, want nil after cancellation", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestConsumerSettlesByOutcome(t *testing.T) {
	opts := ConsumerOptions{Workers: 1, RetryBase: 2 * time.Second, RetryMax: 60 * time.Second}
	for _, tc := range []struct {
		name         string
		receiveCount int
		result       func() error
		settle       string // the fake's log entry after the handler's
		outcome      string
	}{
		{"success deletes", 1, func() error { return nil }, "delete rh-m1", Handled},
		{"a failure comes back after the base delay", 1,
			func() error { return errors.New("database unavailable") }, "visibility rh-m1 2", Retry},
		{"later failures wait longer", 4,
			func() error { return errors.New("database unavailable") }, "visibility rh-m1 16", Retry},
		{"the delay is capped", 30,
			func() error { return errors.New("database unavailable") }, "visibility rh-m1 60", Retry},
		{"an invalid event comes back at once, for the dead-letter queue", 1,
			func() error { return fmt.Errorf("apply: %w: order.id is missing", events.ErrInvalid) }, "visibility rh-m1 0", Invalid},
		{"so does an error marked permanent", 2,
			func() error { return Permanent(errors.New("unknown product")) }, "visibility rh-m1 0", Invalid},
		{"a panic is a failure", 1, func() error { panic("nil map") }, "visibility rh-m1 2", Retry},
	} {
		t.Run(tc.name, func(t *testing.T) {
			oteltest.Install(t)
			outcome := []attribute.KeyValue{attribute.String("topic", "shipping-order-events"), attribute.String("outcome", tc.outcome)}
			before := oteltest.Count(t, "shop.events.processed", outcome...)
			f := messagingtest.NewSQS(t, queueURL)
			f.Add(messagingtest.Message{ID: "m1", Body: `{"id":1}`, ReceiveCount: tc.receiveCount})
			stop := start(t, f, func(ctx context.Context, d Delivery) error {
				defer f.Record("handler returned")
				return tc.result()
			}, opts)
			log := f.Await(2)
			stop()
			if want := []string{"handler returned", tc.settle}; !slices.Equal(log, want) {
				t.Errorf("log: got %q, want %q", log, want)
			}
			if got := oteltest.Count(t, "shop.events.processed", outcome...) - before; got != 1 {
				t.Errorf("shop.events.processed %v: got +%d, want +1", outcome, got)
			}
		})
	}
}

// TestConsumerBackoffGrowsWithoutAReceiveCount: a broker that hands every
// delivery out with ApproximateReceiveCount 1 (goaws) still gets growing
// delays, from the failures the consumer saw itself; a success forgets them.
func TestConsumerBackoffGrowsWithoutAReceiveCount(t *testing.T) {
	f := messagingtest.NewSQS(t, queueURL)
	fail := true
	start(t, f, func(ctx context.Context, d Delivery) error {
		if fail {
			return errors.New("database unavailable")
		}
		return nil
	}, ConsumerOptions{Workers: 1, RetryBase: 2 * time.Second, RetryMax: 60 * time.Second})
	want := []string{"visibility rh-m1 2", "visibility rh-m1 4", "visibility rh-m1 8"}
	for i := range want {
		f.Add(messagingtest.Message{ID: "m1", Body: "{}", ReceiveCount: 1})
		f.Await(i + 1)
	}
	if got := f.Log(); !slices.Equal(got, want) {
		t.Fatalf("log: got %q, want %q", got, want)
	}
	f.Add(messagingtest.Message{ID: "m2", Body: "{}", ReceiveCount: 1})
	if got := f.Await(4)[3]; got != "visibility rh-m2 2" {
		t.Errorf("another message: got %q, want its own first delay", got)
	}
}

func TestConsumerReceivesAsDocumented(t *testing.T) {
	f := messagingtest.NewSQS(t, queueURL)
	f.Add(messagingtest.Message{ID: "m1", Body: "hello", ReceiveCount: 3,
		Attributes: map[string]string{AttrEventType: events.TypeOrderConfirmed}})
	got := make(chan Delivery, 1)
	start(t, f, func(ctx context.Context, d Delivery) error { got <- d; return nil }, ConsumerOptions{Workers: 1})
	d := <-got
	want := Delivery{MessageID: "m1", Type: events.TypeOrderConfirmed, Body: []byte("hello"), ReceiveCount: 3}
	if d.MessageID != want.MessageID || d.Type != want.Type || string(d.Body) != string(want.Body) || d.ReceiveCount != want.ReceiveCount {
		t.Errorf("delivery: got %+v, want %+v", d, want)
	}
	in := f.Receives()[0]
	for _, c := range []struct {
		field string
		want  any
	}{
		{"WaitTimeSeconds", 20.0},
		{"MaxNumberOfMessages", 10.0},
		{"MessageSystemAttributeNames", []any{"ApproximateReceiveCount"}},
		{"MessageAttributeNames", []any{"All"}},
	} {
		if got := fmt.Sprint(in[c.field]); got != fmt.Sprint(c.want) {
			t.Errorf("ReceiveMessage %s: got %s, want %v", c.field, got, c.want)
		}
	}
}

func TestConsumerContinuesThePublishersTrace(t *testing.T) {
	rec := oteltest.Install(t)
	const (
		traceID = "4bf92f3577b34da6a3ce929e0e4736a1"
		spanID  = "00f067aa0ba902b7"
	)
	f := messagingtest.NewSQS(t, queueURL)
	f.Add(messagingtest.Message{ID: "m1", Body: "{}", ReceiveCount: 1, Attributes: map[string]string{
		AttrTraceparent: "00-" + traceID + "-" + spanID + "-01", AttrTracestate: "shop=1"}})
	inHandler := make(chan trace.SpanContext, 1)
	start(t, f, func(ctx context.Context, d Delivery) error {
		inHandler <- trace.SpanContextFromContext(ctx)
		return nil
	}, ConsumerOptions{Workers: 1, Topic: "order-events"})
	sc := <-inHandler
	spans := rec.Await(t, "the consumer span", func(s []sdktrace.ReadOnlySpan) bool { return len(s) > 0 })
	span := spans[0]
	if span.Name() != "process order-events" || span.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("span: got %q kind %v, want \"process order-events\" kind consumer", span.Name(), span.SpanKind())
	}
	if got := span.Parent().SpanID().String(); got != spanID || !span.Parent().IsRemote() {
		t.Errorf("span parent: got %s (remote %v), want the publisher's %s", got, span.Parent().IsRemote(), spanID)
	}
	if sc.TraceID().String() != traceID || sc.SpanID() != span.SpanContext().SpanID() {
		t.Errorf("handler's span context %s/%s: want trace %s, span %s", sc.TraceID(), sc.SpanID(), traceID, span.SpanContext().SpanID())
	}
	if got := sc.TraceState().Get("shop"); got != "1" {
		t.Errorf("tracestate shop: got %q, want 1", got)
	}
	if v, _ := oteltest.Attr(span, "messaging.message.id"); v.AsString() != "m1" {
		t.Errorf("messaging.message.id: got %q, want m1", v.AsString())
	}
}

func TestConsumerOutlivesBrokerFailures(t *testing.T) {
	f := messagingtest.NewSQS(t, queueURL)
	f.FailReceives(3)
	f.Add(messagingtest.Message{ID: "m1", Body: "{}", ReceiveCount: 1})
	start(t, f, func(ctx context.Context, d Delivery) error { return nil },
		ConsumerOptions{Workers: 1, ReceiveBase: time.Millisecond, ReceiveMax: 2 * time.Millisecond})
	if log := f.Await(1); log[0] != "delete rh-m1" {
		t.Errorf("log: got %q, want the message deleted", log)
	}
	if n := len(f.Receives()); n < 4 {
		t.Errorf("receives: got %d, want the 3 failures and a success", n)
	}
}

// TestConsumerFinishesOnStop stops the consumer while a handler runs: the
// handler's context stays live, and Run returns only after the message it
// handled is deleted.
func TestConsumerFinishesOnStop(t *testing.T) {
	f := messagingtest.NewSQS(t, queueURL)
	f.Add(messagingtest.Message{ID: "m1", Body: "{}", ReceiveCount: 1})
	started, release := make(chan struct{}), make(chan struct{})
	var handlerErr error
	c := NewConsumer(f.Client(), queueURL, func(ctx context.Context, d Delivery) error {
		close(started)
		<-release
		handlerErr = ctx.Err()
		return nil
	}, quiet, ConsumerOptions{Workers: 1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	<-started
	cancel()
	close(release)
	if err := <-done; err != nil {
		t.Errorf("Run: %v, want nil", err)
	}
	if handlerErr != nil {
		t.Errorf("handler context: %v, want it live while stopping", handlerErr)
	}
	if log := f.Log(); !slices.Equal(log, []string{"delete rh-m1"}) {
		t.Errorf("log when Run returned: got %q, want the message deleted", log)
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		attempt int
		want    time.Duration
	}{
		{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {5, 16 * time.Second},
		{6, 30 * time.Second}, {1000, 30 * time.Second},
	} {
		if got := backoff(time.Second, 30*time.Second, tc.attempt); got != tc.want {
			t.Errorf("backoff(1s, 30s, %d): got %s, want %s", tc.attempt, got, tc.want)
		}
	}
}

func TestIsPermanent(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("timeout"), false},
		{fmt.Errorf("decode: %w", events.ErrInvalid), true},
		{Permanent(errors.New("no such product")), true},
		{fmt.Errorf("apply: %w", Permanent(errors.New("no such product"))), true},
	} {
		if got := IsPermanent(tc.err); got != tc.want {
			t.Errorf("IsPermanent(%v): got %v, want %v", tc.err, got, tc.want)
		}
	}
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) is not nil")
	}
}
