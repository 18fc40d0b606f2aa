//go:build faults

// The event path's failure handling on the local Compose stack: these checks
// publish straight to the broker (BROKER_URL, default http://127.0.0.1:4100,
// the broker's port published on 127.0.0.1), which a deployed system does
// not expose.
package smoke

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// The order events' topic and shipping's dead-letter queue (docker-compose.yml's broker).
const (
	orderEventsTopic = "order-events"
	shippingDLQ      = "shipping-order-events-dlq"
	// dlqBound: shipping gives a permanently invalid message back at once
	// (visibility 0), so its 5 receives take seconds; the rest is room for
	// a shared machine.
	dlqBound = 60 * time.Second
)

func brokerURL() string {
	if u := os.Getenv("BROKER_URL"); u != "" {
		return strings.TrimRight(u, "/")
	}
	return "http://127.0.0.1:4100"
}

// brokerClients are SNS and SQS clients of the local broker: the SDK the
// services use, only the endpoint differs. The broker checks no signature.
func brokerClients() (*sns.Client, *sqs.Client) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("smoke", "smoke", "")}
	endpoint := aws.String(brokerURL())
	return sns.NewFromConfig(cfg, func(o *sns.Options) { o.BaseEndpoint = endpoint }),
		sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = endpoint })
}

// topicARN finds the topic by name: its ARN holds the broker's account id,
// which is the broker's business, not the test's.
func topicARN(ctx context.Context, t *testing.T, c *sns.Client, name string) string {
	t.Helper()
	p := sns.NewListTopicsPaginator(c, &sns.ListTopicsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list topics at %s (is the broker's port published? BROKER_URL): %v", brokerURL(), err)
		}
		for _, tp := range page.Topics {
			if arn := aws.ToString(tp.TopicArn); strings.HasSuffix(arn, ":"+name) {
				return arn
			}
		}
	}
	t.Fatalf("no topic %s at %s", name, brokerURL())
	return ""
}

// TestPoisonMessageIsParkedAndNothingElseStops: a message that can never be
// an order.confirmed event (invalid JSON, published by hand) ends in
// shipping's dead-letter queue after its bounded receives, while an order
// placed after it still gets its shipment. The test then deletes it from
// the dead-letter queue, so the soak's "dead-letter queue empty" holds.
func TestPoisonMessageIsParkedAndNothingElseStops(t *testing.T) {
	ctx := context.Background()
	snsc, sqsc := brokerClients()
	arn := topicARN(ctx, t, snsc, orderEventsTopic)
	dlq, err := sqsc.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(shippingDLQ)})
	if err != nil {
		t.Fatalf("dead-letter queue %s: %v", shippingDLQ, err)
	}

	// Truncated JSON: no retry can ever decode it. The marker tells it
	// from anything else in the queue.
	marker := newKey()
	poison := `{"id":"` + marker + `","type":"order.confirmed","order":{`
	if _, err := snsc.Publish(ctx, &sns.PublishInput{
		TopicArn: aws.String(arn),
		Message:  aws.String(poison),
		MessageAttributes: map[string]snstypes.MessageAttributeValue{
			"event_type": {DataType: aws.String("String"), StringValue: aws.String("order.confirmed")},
		},
	}); err != nil {
		t.Fatalf("publish the poison message: %v", err)
	}
	published := time.Now()

	p := stocked(t)
	r := placeOrder(t, newKey(), p.ID)
	if r.status != http.StatusCreated {
		t.Fatalf("order after the poison message: %d %s", r.status, r.body)
	}
	var o order
	decode(t, r, &o)
	waitShipment(t, o.ID)
	t.Logf("order %s shipped %v after the poison message was published", o.ID, time.Since(published).Round(time.Millisecond))

	// Receive from the dead-letter queue until the poison shows up; any
	// other message is made visible again at once, for whoever looks next.
	eventually(t, dlqBound, "the poison message in "+shippingDLQ, func() string {
		out, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: dlq.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 30,
		})
		if err != nil {
			return err.Error()
		}
		found := false
		for _, m := range out.Messages {
			if strings.Contains(aws.ToString(m.Body), marker) {
				if _, err := sqsc.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: dlq.QueueUrl, ReceiptHandle: m.ReceiptHandle}); err != nil {
					t.Errorf("delete the poison message from %s: %v", shippingDLQ, err)
				}
				found = true
				continue
			}
			t.Logf("%s also holds %.120q", shippingDLQ, aws.ToString(m.Body))
			_, _ = sqsc.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
				QueueUrl: dlq.QueueUrl, ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0,
			})
		}
		if !found {
			return "not there yet"
		}
		return ""
	})
	t.Logf("poison message parked in %s within %v of its publication", shippingDLQ, time.Since(published).Round(time.Millisecond))
}
