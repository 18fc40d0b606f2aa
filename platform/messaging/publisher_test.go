package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/fargateshop/shop/platform/messaging"
	"github.com/fargateshop/shop/platform/oteltest"
)

const topicARN = "arn:aws:sns:eu-west-1:123456789012:order-events"

// published is one Publish call as the fake SNS received it.
type published struct {
	topicARN string
	message  string
	// attrs maps each message attribute's name to "DataType=StringValue".
	attrs map[string]string
}

// fakeSNS speaks the SNS Query protocol the SDK uses: a form-encoded POST
// with Action=Publish&Version=2010-03-31, answered with XML
// (https://docs.aws.amazon.com/sns/latest/api/API_Publish.html; errors
// as in https://docs.aws.amazon.com/sns/latest/api/CommonErrors.html).
// A Publish to a topic other than topicARN is answered NotFound, as SNS
// answers a topic that does not exist.
type fakeSNS struct {
	mu   sync.Mutex
	sent []published
}

func (f *fakeSNS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		http.Error(w, "want a form POST", http.StatusBadRequest)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.PostForm.Get("Action") != "Publish" || r.PostForm.Get("Version") != "2010-03-31" {
		http.Error(w, "unexpected action "+r.PostForm.Get("Action"), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	p := published{topicARN: r.PostForm.Get("TopicArn"), message: r.PostForm.Get("Message"), attrs: entries(r.PostForm)}
	if p.topicARN != topicARN {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type>`+
			`<Code>NotFound</Code><Message>Topic does not exist</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`)
		return
	}
	f.mu.Lock()
	f.sent = append(f.sent, p)
	n := len(f.sent)
	f.mu.Unlock()
	fmt.Fprintf(w, `<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult>`+
		`<MessageId>m-%d</MessageId></PublishResult><ResponseMetadata><RequestId>r-%d</RequestId>`+
		`</ResponseMetadata></PublishResponse>`, n, n)
}

// entries decodes MessageAttributes.entry.N.{Name,Value.DataType,Value.StringValue}.
func entries(form url.Values) map[string]string {
	attrs := map[string]string{}
	for i := 1; ; i++ {
		prefix := fmt.Sprintf("MessageAttributes.entry.%d.", i)
		name := form.Get(prefix + "Name")
		if name == "" {
			return attrs
		}
		attrs[name] = form.Get(prefix+"Value.DataType") + "=" + form.Get(prefix+"Value.StringValue")
	}
}

func (f *fakeSNS) published() []published {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]published(nil), f.sent...)
}

func newClient(t *testing.T, h http.Handler) *sns.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return sns.New(sns.Options{
		Region:       "eu-west-1",
		BaseEndpoint: &srv.URL,
		Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
	})
}

func TestPublishSendsBodyTypeAndTraceContext(t *testing.T) {
	rec := oteltest.Install(t)
	fake := &fakeSNS{}
	p := messaging.NewPublisher(newClient(t, fake), topicARN)

	ctx, parent := otel.Tracer("test").Start(context.Background(), "confirm order")
	body := `{"id":"e-1","type":"order.confirmed"}`
	if err := p.Publish(ctx, messaging.Message{ID: "e-1", Type: "order.confirmed", Body: []byte(body)}); err != nil {
		t.Fatalf("publish: %v", err)
	}
	parent.End()

	sent := fake.published()
	if len(sent) != 1 {
		t.Fatalf("got %d messages, want 1", len(sent))
	}
	got := sent[0]
	if got.topicARN != topicARN || got.message != body {
		t.Errorf("got topic %q body %q, want %q %q", got.topicARN, got.message, topicARN, body)
	}
	if got.attrs[messaging.AttrEventType] != "String=order.confirmed" {
		t.Errorf("event_type = %q, want String=order.confirmed", got.attrs[messaging.AttrEventType])
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
	if got.attrs[messaging.AttrTraceparent] != want {
		t.Errorf("traceparent = %q, want %q", got.attrs[messaging.AttrTraceparent], want)
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
	fake := &fakeSNS{}
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
	sent := fake.published()
	if len(sent) != 1 {
		t.Fatalf("got %d messages, want 1", len(sent))
	}
	attrs := sent[0].attrs
	if tp := attrs[messaging.AttrTraceparent]; !strings.HasPrefix(tp, "String=00-"+traceID+"-") || strings.Contains(tp, "00f067aa0ba902b7") {
		t.Errorf("traceparent = %q, want trace %s with the producer span's id", tp, traceID)
	}
	if ts := attrs[messaging.AttrTracestate]; ts != "String=vendor=x" {
		t.Errorf("tracestate = %q, want String=vendor=x", ts)
	}
}

func TestPublishReturnsTheSDKError(t *testing.T) {
	rec := oteltest.Install(t)
	fake := &fakeSNS{}
	p := messaging.NewPublisher(newClient(t, fake), "arn:aws:sns:eu-west-1:123456789012:no-such-topic")
	err := p.Publish(context.Background(), messaging.Message{ID: "e-3", Type: "order.confirmed", Body: []byte("{}")})
	var notFound *types.NotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("got %v, want a wrapped NotFoundException", err)
	}
	if !strings.Contains(err.Error(), "e-3") || !strings.Contains(err.Error(), "no-such-topic") {
		t.Errorf("error %q should name the event and the topic", err)
	}
	if n := len(fake.published()); n != 0 {
		t.Errorf("fake recorded %d messages, want 0", n)
	}
	spans := rec.Named("publish no-such-topic")
	if len(spans) != 1 || spans[0].Status().Code.String() != "Error" {
		t.Errorf("want one publish span with status Error, got %d", len(spans))
	}
}
