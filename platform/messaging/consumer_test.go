package messaging

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/fargateshop/shop/platform/events"
	"github.com/fargateshop/shop/platform/oteltest"
)

// fakeSQS speaks the SQS JSON protocol as the SDK (service/sqs v1.53)
// sends it: POST / with X-Amz-Target: AmazonSQS.<Operation> and an
// application/x-amz-json-1.0 body, answered with the operation's output
// shape, errors as {"__type","message"} (Amazon SQS Developer Guide,
// "Making query API requests using AWS JSON protocol"). It holds the
// messages to hand out and records, in one ordered log shared with the
// tests' handlers, every receive, delete and visibility change.
type fakeSQS struct {
	t   *testing.T
	srv *httptest.Server

	mu           sync.Mutex
	pending      []fakeMessage
	arrived      chan struct{} // closed and replaced when a message is added
	failReceives int           // receives still to answer with a server error
	receives     []map[string]any
	log          []string
	changed      chan struct{} // closed and replaced on every log entry
}

type fakeMessage struct {
	id, body     string
	receiveCount int
	attrs        map[string]string // String message attributes
}

func newFakeSQS(t *testing.T) *fakeSQS {
	f := &fakeSQS{t: t, arrived: make(chan struct{}), changed: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

const queueURL = "https://sqs.eu-west-1.amazonaws.com/123456789012/shipping-order-events"

// client is an SDK client pointed at the fake, without retries, so every
// failure the fake answers reaches the consumer.
func (f *fakeSQS) client() *sqs.Client {
	return sqs.New(sqs.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(f.srv.URL),
		Credentials: aws.AnonymousCredentials{}, Retryer: aws.NopRetryer{},
	})
}

func (f *fakeSQS) add(m fakeMessage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending = append(f.pending, m)
	close(f.arrived)
	f.arrived = make(chan struct{})
}

// record appends to the ordered log.
func (f *fakeSQS) record(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, fmt.Sprintf(format, args...))
	close(f.changed)
	f.changed = make(chan struct{})
}

// await blocks until the log holds n entries and returns it.
func (f *fakeSQS) await(n int) []string {
	f.t.Helper()
	guard := time.After(30 * time.Second) // turns a hang into a failure
	for {
		f.mu.Lock()
		log, changed := slices.Clone(f.log), f.changed
		f.mu.Unlock()
		if len(log) >= n {
			return log
		}
		select {
		case <-changed:
		case <-guard:
			f.t.Fatalf("waited for %d log entries, have %q", n, log)
		}
	}
}

func (f *fakeSQS) serve(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
	if r.Method != http.MethodPost || !ok || r.Header.Get("Content-Type") != "application/x-amz-json-1.0" {
		f.t.Errorf("request %s %s, target %q, content type %q: not the SQS JSON protocol",
			r.Method, r.URL, r.Header.Get("X-Amz-Target"), r.Header.Get("Content-Type"))
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	var in map[string]any
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		f.t.Errorf("%s: body: %v", op, err)
	}
	if in["QueueUrl"] != queueURL {
		f.t.Errorf("%s: QueueUrl %v, want %s", op, in["QueueUrl"], queueURL)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	switch op {
	case "ReceiveMessage":
		f.receive(w, r, in)
	case "DeleteMessage":
		f.record("delete %s", in["ReceiptHandle"])
		io.WriteString(w, "{}")
	case "ChangeMessageVisibility":
		f.record("visibility %s %v", in["ReceiptHandle"], in["VisibilityTimeout"])
		io.WriteString(w, "{}")
	default:
		f.t.Errorf("unexpected operation %s", op)
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"__type":"com.amazonaws.sqs#UnsupportedOperation","message":"not faked"}`)
	}
}

// receive long-polls: it answers at once when messages are pending, else
// when one arrives or the client gives up.
func (f *fakeSQS) receive(w http.ResponseWriter, r *http.Request, in map[string]any) {
	for {
		f.mu.Lock()
		f.receives = append(f.receives, in)
		if f.failReceives > 0 {
			f.failReceives--
			f.mu.Unlock()
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"__type":"com.amazonaws.sqs#InternalError","message":"broker down"}`)
			return
		}
		batch := f.pending[:min(len(f.pending), 10)]
		f.pending = f.pending[len(batch):]
		arrived := f.arrived
		f.mu.Unlock()
		if len(batch) > 0 {
			out := make([]map[string]any, len(batch))
			for i, m := range batch {
				sum := md5.Sum([]byte(m.body))
				attrs := map[string]any{}
				for k, v := range m.attrs {
					attrs[k] = map[string]string{"DataType": "String", "StringValue": v}
				}
				out[i] = map[string]any{
					"MessageId": m.id, "ReceiptHandle": "rh-" + m.id, "Body": m.body,
					"MD5OfBody":         hex.EncodeToString(sum[:]),
					"Attributes":        map[string]string{"ApproximateReceiveCount": fmt.Sprint(m.receiveCount)},
					"MessageAttributes": attrs,
				}
			}
			json.NewEncoder(w).Encode(map[string]any{"Messages": out})
			return
		}
		select {
		case <-arrived:
		case <-r.Context().Done():
			return
		}
	}
}

var quiet = slog.New(slog.DiscardHandler)

// start runs a consumer of the fake until the test ends; stop cancels it
// and waits for Run.
func start(t *testing.T, f *fakeSQS, h Handler, o ConsumerOptions) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	c := NewConsumer(f.client(), queueURL, h, quiet, o)
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
			f := newFakeSQS(t)
			f.add(fakeMessage{id: "m1", body: `{"id":1}`, receiveCount: tc.receiveCount})
			stop := start(t, f, func(ctx context.Context, d Delivery) error {
				defer f.record("handler returned")
				return tc.result()
			}, opts)
			log := f.await(2)
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

func TestConsumerReceivesAsDocumented(t *testing.T) {
	f := newFakeSQS(t)
	f.add(fakeMessage{id: "m1", body: "hello", receiveCount: 3,
		attrs: map[string]string{AttrEventType: events.TypeOrderConfirmed}})
	got := make(chan Delivery, 1)
	start(t, f, func(ctx context.Context, d Delivery) error { got <- d; return nil }, ConsumerOptions{Workers: 1})
	d := <-got
	want := Delivery{MessageID: "m1", Type: events.TypeOrderConfirmed, Body: []byte("hello"), ReceiveCount: 3}
	if d.MessageID != want.MessageID || d.Type != want.Type || string(d.Body) != string(want.Body) || d.ReceiveCount != want.ReceiveCount {
		t.Errorf("delivery: got %+v, want %+v", d, want)
	}
	f.mu.Lock()
	in := f.receives[0]
	f.mu.Unlock()
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
	f := newFakeSQS(t)
	f.add(fakeMessage{id: "m1", body: "{}", receiveCount: 1, attrs: map[string]string{
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
	f := newFakeSQS(t)
	f.failReceives = 3
	f.add(fakeMessage{id: "m1", body: "{}", receiveCount: 1})
	start(t, f, func(ctx context.Context, d Delivery) error { return nil },
		ConsumerOptions{Workers: 1, ReceiveBase: time.Millisecond, ReceiveMax: 2 * time.Millisecond})
	if log := f.await(1); log[0] != "delete rh-m1" {
		t.Errorf("log: got %q, want the message deleted", log)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.receives) < 4 {
		t.Errorf("receives: got %d, want the 3 failures and a success", len(f.receives))
	}
}

// TestConsumerFinishesOnStop stops the consumer while a handler runs: the
// handler's context stays live, and Run returns only after the message it
// handled is deleted.
func TestConsumerFinishesOnStop(t *testing.T) {
	f := newFakeSQS(t)
	f.add(fakeMessage{id: "m1", body: "{}", receiveCount: 1})
	started, release := make(chan struct{}), make(chan struct{})
	var handlerErr error
	c := NewConsumer(f.client(), queueURL, func(ctx context.Context, d Delivery) error {
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
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Equal(f.log, []string{"delete rh-m1"}) {
		t.Errorf("log when Run returned: got %q, want the message deleted", f.log)
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
