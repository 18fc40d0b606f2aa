package brokertest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/Admiral-Piett/goaws/app/conf"
	"github.com/Admiral-Piett/goaws/app/gosqs"
	"github.com/Admiral-Piett/goaws/app/models"
	"github.com/Admiral-Piett/goaws/app/router"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/goccy/go-yaml"
	"github.com/sirupsen/logrus"

	"github.com/fargateshop/shop/platform/messaging"
	"github.com/fargateshop/shop/platform/routing"
)

// The files under test, seen from brokertest/.
const (
	brokerConfig = "../compose/goaws.yaml"
	composeFile  = "../docker-compose.yml"
)

// What compose/goaws.yaml creates; docker-compose.yml must name the same.
const (
	account   = "100010001000"
	region    = "us-east-1"
	queueName = "shipping-order-events"
	dlqName   = queueName + "-dlq"
	// The redrive policy's maxReceiveCount and the queue's visibility timeout.
	maxReceives       = routing.MaxReceiveCount
	visibilityTimeout = 30
)

// patience bounds every wait for something the broker does on its own
// clock; reaching it is a failure, never a measurement.
const patience = 30 * time.Second

// broker is the process-wide goaws: its queues and topics are globals of the
// goaws packages, so there is one per test binary.
var broker struct {
	url                string
	topicARN           string
	queueURL, dlqURL   string
	sns                *sns.Client
	sqs                *sqs.Client
	ordersEnv, shipEnv map[string]string
}

func TestMain(m *testing.M) {
	if err := start(); err != nil {
		fmt.Fprintln(os.Stderr, "brokertest:", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// start loads compose/goaws.yaml into goaws, serves it, and builds the
// clients the way the services do: platform/messaging.LoadAWS with the
// environment docker-compose.yml gives them, the endpoint aside.
func start() error {
	// goaws logs every empty receive and every delete; only its errors matter here.
	logrus.SetLevel(logrus.ErrorLevel)
	if _, err := os.Stat(brokerConfig); err != nil {
		return err
	}
	// LoadYamlConfig reports a bad file in its log only, so the resources it
	// should have made are checked below and by TestResourcesMatchCompose.
	conf.LoadYamlConfig(brokerConfig, "Local")
	for _, q := range []string{queueName, dlqName} {
		if _, ok := models.SyncQueues.Queues[q]; !ok {
			return fmt.Errorf("%s did not create queue %q (goaws logs why above)", brokerConfig, q)
		}
	}
	go gosqs.PeriodicTasks(time.Second, make(chan bool)) // visibility timeouts and redrive, as goaws's main runs it
	srv := httptest.NewServer(router.New())
	broker.url = srv.URL

	var err error
	if broker.ordersEnv, err = composeEnv("orders"); err != nil {
		return err
	}
	if broker.shipEnv, err = composeEnv("shipping"); err != nil {
		return err
	}
	broker.topicARN = broker.ordersEnv[routing.TopicEnv(routing.OrderEvents)]
	broker.queueURL = broker.shipEnv[routing.QueueEnv(routing.OrderEvents)]
	u, err := url.Parse(broker.queueURL)
	if err != nil || broker.queueURL == "" {
		return fmt.Errorf("%s: shipping's %s = %q is not a queue URL", composeFile, routing.QueueEnv(routing.OrderEvents), broker.queueURL)
	}
	u.Path = "/" + account + "/" + dlqName
	broker.dlqURL = u.String()

	// The services' own configuration path: region, credentials and endpoint
	// from the environment compose sets, with the endpoint moved to this server.
	for k, v := range broker.shipEnv {
		if len(k) > 4 && k[:4] == "AWS_" {
			os.Setenv(k, v)
		}
	}
	os.Setenv("AWS_ENDPOINT_URL", broker.url)
	cfg, err := messaging.LoadAWS(context.Background())
	if err != nil {
		return err
	}
	broker.sns = sns.NewFromConfig(cfg)
	broker.sqs = sqs.NewFromConfig(cfg)
	return nil
}

// composeEnv is the environment docker-compose.yml gives service, anchors
// merged and "${VAR:-default}" read as its default.
func composeEnv(service string) (map[string]string, error) {
	data, err := os.ReadFile(composeFile)
	if err != nil {
		return nil, err
	}
	var cf struct {
		Services map[string]struct {
			Environment map[string]any `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &cf); err != nil {
		return nil, fmt.Errorf("%s: %w", composeFile, err)
	}
	s, ok := cf.Services[service]
	if !ok {
		return nil, fmt.Errorf("%s has no service %q", composeFile, service)
	}
	out := map[string]string{}
	for k, v := range s.Environment {
		s := fmt.Sprint(v)
		if m := defaulted.FindStringSubmatch(s); m != nil {
			s = m[1]
		}
		out[k] = s
	}
	return out, nil
}

var defaulted = regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*:?-(.*)\}$`)

// TestResourcesMatchCompose: the topic ARN and queue URL docker-compose.yml
// hands the services name what compose/goaws.yaml creates. goaws itself
// reads only the last segment of either, so a wrong account or region would
// pass every other test here and fail on AWS-shaped code.
func TestResourcesMatchCompose(t *testing.T) {
	ctx := context.Background()
	wantTopic := fmt.Sprintf("arn:aws:sns:%s:%s:%s", region, account, routing.OrderEvents)
	if broker.topicARN != wantTopic {
		t.Errorf("orders' %s = %q, want %q", routing.TopicEnv(routing.OrderEvents), broker.topicARN, wantTopic)
	}
	topics, err := broker.sns.ListTopics(ctx, &sns.ListTopicsInput{})
	if err != nil {
		t.Fatal(err)
	}
	var arns []string
	for _, tp := range topics.Topics {
		arns = append(arns, aws.ToString(tp.TopicArn))
	}
	if len(arns) != 1 || arns[0] != wantTopic {
		t.Errorf("broker topics %q, want only %q", arns, wantTopic)
	}

	if want := "http://broker:4100/" + account + "/" + queueName; broker.queueURL != want {
		t.Errorf("shipping's %s = %q, want %q", routing.QueueEnv(routing.OrderEvents), broker.queueURL, want)
	}
	for _, tc := range []struct {
		env, key, want string
	}{
		{"orders", "AWS_ENDPOINT_URL", "http://broker:4100"},
		{"shipping", "AWS_ENDPOINT_URL", "http://broker:4100"},
		{"orders", "AWS_REGION", region},
		{"shipping", "AWS_REGION", region},
	} {
		e := broker.ordersEnv
		if tc.env == "shipping" {
			e = broker.shipEnv
		}
		if e[tc.key] != tc.want {
			t.Errorf("%s's %s = %q, want %q", tc.env, tc.key, e[tc.key], tc.want)
		}
	}

	attrs := queueAttributes(t, broker.queueURL, sqstypes.QueueAttributeNameQueueArn,
		sqstypes.QueueAttributeNameVisibilityTimeout, sqstypes.QueueAttributeNameRedrivePolicy)
	if want := fmt.Sprintf("arn:aws:sqs:%s:%s:%s", region, account, queueName); attrs["QueueArn"] != want {
		t.Errorf("queue ARN %q, want %q", attrs["QueueArn"], want)
	}
	if attrs["VisibilityTimeout"] != strconv.Itoa(visibilityTimeout) {
		t.Errorf("visibility timeout %q, want %d", attrs["VisibilityTimeout"], visibilityTimeout)
	}
	// goaws writes maxReceiveCount as a string, AWS as a number: accept both.
	var rp struct {
		MaxReceiveCount     json.Number `json:"maxReceiveCount"`
		DeadLetterTargetArn string      `json:"deadLetterTargetArn"`
	}
	if err := json.Unmarshal([]byte(attrs["RedrivePolicy"]), &rp); err != nil {
		t.Fatalf("redrive policy %q: %v", attrs["RedrivePolicy"], err)
	}
	if want := fmt.Sprintf("arn:aws:sqs:%s:%s:%s", region, account, dlqName); rp.DeadLetterTargetArn != want || rp.MaxReceiveCount.String() != strconv.Itoa(maxReceives) {
		t.Errorf("redrive policy %q, want maxReceiveCount %d to %s", attrs["RedrivePolicy"], maxReceives, want)
	}

	subs, err := broker.sns.ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(wantTopic)})
	if err != nil {
		t.Fatal(err)
	}
	if len(subs.Subscriptions) != 1 || aws.ToString(subs.Subscriptions[0].Protocol) != "sqs" ||
		aws.ToString(subs.Subscriptions[0].Endpoint) != fmt.Sprintf("arn:aws:sqs:%s:%s:%s", region, account, queueName) {
		t.Errorf("subscriptions of %s: %+v, want the one sqs subscription of %s", wantTopic, subs.Subscriptions, queueName)
	}
}

// TestPublishArrivesRawWithAttributes: what orders publishes reaches
// shipping's queue byte for byte, with the String attributes the consumer
// reads the event type and the trace context from; a delete removes it.
func TestPublishArrivesRawWithAttributes(t *testing.T) {
	purge(t)
	body := `{"id":"0b5d6f3e-8d0a-4a57-9a53-1f1f3c1c2a10","type":"order.confirmed","order":{"email":"ana@example.com","total_cents":2599}}`
	attrs := map[string]string{
		messaging.AttrEventType:   "order.confirmed",
		messaging.AttrTraceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		messaging.AttrTracestate:  "shop=1",
	}
	publish(t, body, attrs)

	m := receiveOne(t, broker.queueURL, 0)
	if got := aws.ToString(m.Body); got != body {
		t.Errorf("body %q, want the published body %q (raw delivery: no SNS envelope)", got, body)
	}
	for name, want := range attrs {
		a, ok := m.MessageAttributes[name]
		if !ok {
			t.Errorf("attribute %q missing; got %v", name, keys(m.MessageAttributes))
			continue
		}
		if aws.ToString(a.DataType) != "String" || aws.ToString(a.StringValue) != want {
			t.Errorf("attribute %q = %s %q, want String %q", name, aws.ToString(a.DataType), aws.ToString(a.StringValue), want)
		}
	}

	if _, err := broker.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{
		QueueUrl: aws.String(broker.queueURL), ReceiptHandle: m.ReceiptHandle,
	}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if n := depth(t, broker.queueURL); n != 0 {
		t.Errorf("queue holds %d messages after the delete, want 0", n)
	}
}

// TestLongPollReturnsWhenMessageArrives: a receive waiting on an empty queue
// gets a message published during its wait. A broker that ignored
// WaitTimeSeconds would answer the empty queue at once, with nothing.
func TestLongPollReturnsWhenMessageArrives(t *testing.T) {
	purge(t)
	type result struct {
		out *sqs.ReceiveMessageOutput
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := broker.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(broker.queueURL), WaitTimeSeconds: 20, MaxNumberOfMessages: 10,
		})
		done <- result{out, err}
	}()
	// Publish once the receive is surely waiting; if it has already
	// returned empty, the check below fails.
	time.Sleep(time.Second)
	publish(t, `{"long":"poll"}`, map[string]string{messaging.AttrEventType: "order.confirmed"})
	r := <-done
	if r.err != nil {
		t.Fatalf("receive: %v", r.err)
	}
	if len(r.out.Messages) != 1 || aws.ToString(r.out.Messages[0].Body) != `{"long":"poll"}` {
		t.Fatalf("long poll returned %d messages, want the one published while it waited", len(r.out.Messages))
	}
}

// TestRedeliveryAfterVisibilityTimeout: a message received and not deleted
// (the consumer's handler failed, or it died) is delivered again once its
// visibility timeout ends, with a new receipt handle; the old handle no
// longer deletes it.
func TestRedeliveryAfterVisibilityTimeout(t *testing.T) {
	purge(t)
	publish(t, `{"redeliver":true}`, map[string]string{messaging.AttrEventType: "order.confirmed"})
	first := receiveOne(t, broker.queueURL, 1)
	// While it is in flight, nobody else gets it.
	if out := receive(t, broker.queueURL, 0, 0); len(out) != 0 {
		t.Fatalf("an in-flight message was delivered again before its visibility timeout")
	}
	second := receiveOne(t, broker.queueURL, 1)
	if aws.ToString(second.MessageId) != aws.ToString(first.MessageId) || aws.ToString(second.Body) != `{"redeliver":true}` {
		t.Fatalf("redelivered %s %q, want %s again", aws.ToString(second.MessageId), aws.ToString(second.Body), aws.ToString(first.MessageId))
	}
	if aws.ToString(second.ReceiptHandle) == aws.ToString(first.ReceiptHandle) {
		t.Error("the redelivery has the first receipt handle, want a new one")
	}
	// Differs from AWS (docs/reliability.md): goaws never counts receives,
	// ApproximateReceiveCount is "1" on every delivery, where AWS says "2" here.
	if first.Attributes["ApproximateReceiveCount"] != "1" || second.Attributes["ApproximateReceiveCount"] != "1" {
		t.Errorf("ApproximateReceiveCount %q then %q: goaws now counts receives (AWS: \"1\" then \"2\"); correct docs/reliability.md and this test",
			first.Attributes["ApproximateReceiveCount"], second.Attributes["ApproximateReceiveCount"])
	}
	// Differs from AWS too: a delete with the first, stale handle fails in
	// goaws (AWS answers success and keeps the message).
	_, err := broker.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{
		QueueUrl: aws.String(broker.queueURL), ReceiptHandle: first.ReceiptHandle,
	})
	if err == nil {
		t.Error("deleting with a stale receipt handle succeeded: goaws now behaves like AWS here; correct docs/reliability.md and this test")
	}
	if _, err := broker.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{
		QueueUrl: aws.String(broker.queueURL), ReceiptHandle: second.ReceiptHandle,
	}); err != nil {
		t.Fatalf("delete with the current handle: %v", err)
	}
	if n := depth(t, broker.queueURL); n != 0 {
		t.Errorf("queue holds %d messages after the delete, want 0", n)
	}
}

// TestRedriveToDeadLetterQueue: a message received maxReceiveCount times
// and never deleted (a poison message) is moved to the dead-letter queue,
// body and attributes intact, and is not delivered from the source again;
// GetQueueAttributes reports the dead-letter queue's depth, as the system
// tests and the soak read it.
func TestRedriveToDeadLetterQueue(t *testing.T) {
	purge(t)
	if n := depth(t, broker.dlqURL); n != 0 {
		t.Fatalf("dead-letter queue holds %d messages after a purge, want 0", n)
	}
	const poison = `{not json`
	publish(t, poison, map[string]string{messaging.AttrEventType: "order.confirmed"})
	var id string
	for i := 1; i <= maxReceives; i++ {
		m := receiveOne(t, broker.queueURL, 1)
		if i == 1 {
			id = aws.ToString(m.MessageId)
		} else if aws.ToString(m.MessageId) != id {
			t.Fatalf("receive %d got message %s, want %s", i, aws.ToString(m.MessageId), id)
		}
	}
	deadline := time.Now().Add(patience)
	for depth(t, broker.dlqURL) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("after %d receives the message did not reach %s within %s", maxReceives, dlqName, patience)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := depth(t, broker.queueURL); n != 0 {
		t.Errorf("%s holds %d messages after the redrive, want 0", queueName, n)
	}
	if out := receive(t, broker.queueURL, 0, 0); len(out) != 0 {
		t.Errorf("the message was delivered a %dth time from %s", maxReceives+1, queueName)
	}
	m := receiveOne(t, broker.dlqURL, 0)
	if aws.ToString(m.Body) != poison || aws.ToString(m.MessageAttributes[messaging.AttrEventType].StringValue) != "order.confirmed" {
		t.Errorf("dead-lettered %q with attributes %v, want %q with its event_type", aws.ToString(m.Body), keys(m.MessageAttributes), poison)
	}
}

// TestUnknownQueueFails: a wrong queue URL is an error the consumer sees,
// not an empty queue it polls forever.
func TestUnknownQueueFails(t *testing.T) {
	_, err := broker.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String("http://broker:4100/" + account + "/no-such-queue"),
	})
	if err == nil {
		t.Fatal("receive from an unknown queue succeeded")
	}
	_, err = broker.sns.Publish(context.Background(), &sns.PublishInput{
		TopicArn: aws.String(fmt.Sprintf("arn:aws:sns:%s:%s:no-such-topic", region, account)), Message: aws.String("x"),
	})
	if err == nil {
		t.Fatal("publish to an unknown topic succeeded")
	}
}

func publish(t *testing.T, body string, attrs map[string]string) {
	t.Helper()
	in := &sns.PublishInput{TopicArn: aws.String(broker.topicARN), Message: aws.String(body),
		MessageAttributes: map[string]snstypes.MessageAttributeValue{}}
	for k, v := range attrs {
		in.MessageAttributes[k] = snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	if _, err := broker.sns.Publish(context.Background(), in); err != nil {
		t.Fatalf("publish to %s: %v", broker.topicARN, err)
	}
}

// receive asks queue for up to ten messages, waiting up to wait seconds;
// visibility 0 keeps the queue's own timeout.
func receive(t *testing.T, queue string, wait, visibility int32) []sqstypes.Message {
	t.Helper()
	out, err := broker.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(queue),
		MaxNumberOfMessages:         10,
		WaitTimeSeconds:             wait,
		VisibilityTimeout:           visibility,
		MessageAttributeNames:       []string{"All"},
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount},
	})
	if err != nil {
		t.Fatalf("receive from %s: %v", queue, err)
	}
	return out.Messages
}

// receiveOne long-polls queue until it delivers exactly one message, which
// it hides for visibility seconds (0: the queue's own timeout). The short
// timeouts the tests ask for are the SQS API's own per-receive override.
func receiveOne(t *testing.T, queue string, visibility int32) sqstypes.Message {
	t.Helper()
	deadline := time.Now().Add(patience)
	for time.Now().Before(deadline) {
		switch out := receive(t, queue, 5, visibility); len(out) {
		case 0:
			continue
		case 1:
			return out[0]
		default:
			t.Fatalf("%s delivered %d messages, want 1", queue, len(out))
		}
	}
	t.Fatalf("%s delivered nothing within %s", queue, patience)
	return sqstypes.Message{}
}

func queueAttributes(t *testing.T, queue string, names ...sqstypes.QueueAttributeName) map[string]string {
	t.Helper()
	out, err := broker.sqs.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(queue), AttributeNames: names,
	})
	if err != nil {
		t.Fatalf("attributes of %s: %v", queue, err)
	}
	return out.Attributes
}

// depth is ApproximateNumberOfMessages. goaws counts in-flight messages too
// (AWS counts those apart); the tests read it when none is in flight.
func depth(t *testing.T, queue string) int {
	t.Helper()
	v := queueAttributes(t, queue, sqstypes.QueueAttributeNameApproximateNumberOfMessages)["ApproximateNumberOfMessages"]
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("ApproximateNumberOfMessages of %s = %q: %v", queue, v, err)
	}
	return n
}

// purge empties both queues: the broker outlives each test.
func purge(t *testing.T) {
	t.Helper()
	for _, q := range []string{broker.queueURL, broker.dlqURL} {
		if _, err := broker.sqs.PurgeQueue(context.Background(), &sqs.PurgeQueueInput{QueueUrl: aws.String(q)}); err != nil {
			t.Fatalf("purge %s: %v", q, err)
		}
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
