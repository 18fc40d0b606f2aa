package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// The queues of the order events (docker-compose.yml's broker): shipping's
// queue and the dead-letter queue its redrive policy parks poison in.
const (
	shippingQueue = "shipping-order-events"
	shippingDLQ   = "shipping-order-events-dlq"
)

// broker reads queue depths from the stack's SNS/SQS broker with the same
// SDK the services use; only the endpoint is the local one.
type broker struct {
	endpoint string
	sqs      *sqs.Client
}

func newBroker(endpoint string) *broker {
	// The local broker checks no signature: any static key will do, and
	// nothing from the caller's AWS profile is read.
	cfg := aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("soak", "soak", ""),
	}
	return &broker{endpoint: endpoint, sqs: sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(endpoint) })}
}

// depth is a queue's message counts as GetQueueAttributes reports them:
// ApproximateNumberOfMessages (waiting; goaws counts the in-flight ones
// there too) and ApproximateNumberOfMessagesNotVisible (received, neither
// deleted nor back yet).
type depth struct{ waiting, inFlight int }

func (d depth) String() string {
	return fmt.Sprintf("ApproximateNumberOfMessages %d, NotVisible %d", d.waiting, d.inFlight)
}

func (d depth) empty() bool { return d.waiting == 0 && d.inFlight == 0 }

func (b *broker) depth(ctx context.Context, queue string) (depth, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	u, err := b.sqs.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(queue)})
	if err != nil {
		return depth{}, fmt.Errorf("queue %s at %s (is the broker published on the host? -broker-url): %w", queue, b.endpoint, err)
	}
	out, err := b.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: u.QueueUrl,
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
		},
	})
	if err != nil {
		return depth{}, fmt.Errorf("attributes of queue %s: %w", queue, err)
	}
	n := func(a types.QueueAttributeName) int {
		v, _ := strconv.Atoi(out.Attributes[string(a)])
		return v
	}
	return depth{waiting: n(types.QueueAttributeNameApproximateNumberOfMessages),
		inFlight: n(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)}, nil
}

// runOrders is the SQL condition on orders.orders (alias o) that selects
// the run's orders: the soak gives each order an email of its run.
func runOrders(runID string) string {
	return fmt.Sprintf("o.email LIKE 'soak-%s-%%'", runID)
}

// shipmentGapSQL counts, for the run, the confirmed orders without a
// shipment and the shipments of orders that are not confirmed.
func shipmentGapSQL(runID string) string {
	return fmt.Sprintf(`SELECT
  (SELECT count(*) FROM orders.orders o WHERE o.status = 'confirmed' AND %[1]s
     AND NOT EXISTS (SELECT 1 FROM shipping.shipments s WHERE s.order_id = o.id)),
  (SELECT count(*) FROM shipping.shipments s
     WHERE (s.email LIKE 'soak-%[2]s-%%' OR EXISTS (SELECT 1 FROM orders.orders o WHERE o.id = s.order_id AND %[1]s))
     AND NOT EXISTS (SELECT 1 FROM orders.orders o WHERE o.id = s.order_id AND o.status = 'confirmed'))`,
		runOrders(runID), runID)
}

// waitShipped polls until every confirmed order of the run has its
// shipment, no event is left in the outbox and shipping's queue is empty,
// or bound passes: invariant 6's "within a bound after the load stops".
func waitShipped(ctx context.Context, dc *composeCLI, b *broker, bound time.Duration, runID string) (time.Duration, error) {
	start := time.Now()
	var last string
	for ctx.Err() == nil {
		rows, err := dc.psql(ctx, shipmentGapSQL(runID)+`, (SELECT count(*) FROM orders.outbox WHERE sent_at IS NULL)`)
		q, qerr := b.depth(ctx, shippingQueue)
		switch {
		case err != nil:
			last = err.Error()
		case qerr != nil:
			last = qerr.Error()
		case len(rows) == 1:
			if rows[0][0] == "0" && rows[0][2] == "0" && q.empty() {
				return time.Since(start), nil
			}
			last = fmt.Sprintf("%s confirmed orders without a shipment, %s events unsent, shipping's queue %s", rows[0][0], rows[0][2], q)
		}
		if time.Since(start) >= bound {
			break
		}
		sleep(ctx, time.Second)
	}
	return time.Since(start), fmt.Errorf("after %s: %s", bound, last)
}

// lag is the event lag of the run's shipments: from the order's
// confirmation (orders.updated_at, set in the transaction that confirmed
// it and wrote its event) to the shipment's commit.
type lag struct {
	n             int
	p50, p99, max time.Duration
}

func (l lag) String() string {
	if l.n == 0 {
		return "no shipments"
	}
	return fmt.Sprintf("p50 %s, p99 %s, max %s over %d shipments", l.p50.Round(time.Millisecond), l.p99.Round(time.Millisecond), l.max.Round(time.Millisecond), l.n)
}

func eventLag(ctx context.Context, dc *composeCLI, runID string) (lag, error) {
	rows, err := dc.psql(ctx, fmt.Sprintf(`SELECT count(*),
  coalesce(percentile_disc(0.5) WITHIN GROUP (ORDER BY l), 0),
  coalesce(percentile_disc(0.99) WITHIN GROUP (ORDER BY l), 0),
  coalesce(max(l), 0)
FROM (SELECT extract(epoch FROM s.created_at - o.updated_at)::float8 AS l
      FROM shipping.shipments s JOIN orders.orders o ON o.id = s.order_id WHERE o.status = 'confirmed' AND %s) x`, runOrders(runID)))
	if err != nil {
		return lag{}, err
	}
	if len(rows) != 1 || len(rows[0]) != 4 {
		return lag{}, fmt.Errorf("event lag: unexpected rows %v", rows)
	}
	sec := func(s string) time.Duration {
		f, _ := strconv.ParseFloat(strings.TrimSpace(s), 64)
		return time.Duration(f * float64(time.Second))
	}
	return lag{n: atoi(rows[0][0]), p50: sec(rows[0][1]), p99: sec(rows[0][2]), max: sec(rows[0][3])}, nil
}

// checkEvents is invariant 6: once the load stopped and the bound passed,
// every confirmed order of the run has exactly one shipment, with the
// order's items, no order that is not confirmed has one, the outbox holds
// no unsent event and the dead-letter queue is empty.
func checkEvents(ctx context.Context, cfg config, dc *composeCLI, b *broker, runID string, shipErr error, shipIn time.Duration) (bool, string) {
	rows, err := dc.psql(ctx, shipmentGapSQL(runID)+fmt.Sprintf(`,
  (SELECT count(*) FROM orders.orders o WHERE o.status = 'confirmed' AND %[1]s),
  (SELECT count(*) FROM shipping.shipments s JOIN orders.orders o ON o.id = s.order_id WHERE %[1]s),
  (SELECT count(DISTINCT s.order_id) FROM shipping.shipments s JOIN orders.orders o ON o.id = s.order_id WHERE %[1]s),
  (SELECT count(*) FROM shipping.shipments s JOIN orders.orders o ON o.id = s.order_id WHERE %[1]s
     AND (SELECT array_agg(x.product_id::text || ':' || x.quantity ORDER BY x.product_id::text)
            FROM jsonb_to_recordset(s.items) AS x(product_id uuid, quantity int))
         IS DISTINCT FROM
         (SELECT array_agg(oi.product_id::text || ':' || oi.quantity ORDER BY oi.product_id::text)
            FROM orders.order_items oi WHERE oi.order_id = o.id)),
  (SELECT count(*) FROM orders.outbox WHERE sent_at IS NULL)`, runOrders(runID)))
	if err != nil || len(rows) != 1 || len(rows[0]) != 7 {
		return false, fmt.Sprintf("query: %v %v", err, rows)
	}
	r := rows[0]
	missing, stray, confirmed, shipments, distinct, wrongItems, unsent :=
		atoi(r[0]), atoi(r[1]), atoi(r[2]), atoi(r[3]), atoi(r[4]), atoi(r[5]), atoi(r[6])
	dlq, dlqErr := b.depth(ctx, shippingDLQ)
	queue, queueErr := b.depth(ctx, shippingQueue)

	ok := shipErr == nil && missing == 0 && stray == 0 && confirmed == shipments && shipments == distinct &&
		wrongItems == 0 && unsent == 0 && dlqErr == nil && dlq.empty() && queueErr == nil && queue.empty()
	detail := fmt.Sprintf("%d confirmed orders, %d shipments (%d orders), %d confirmed without a shipment, "+
		"%d shipments of an order not confirmed, %d with other items than the order; %d outbox events unsent; ",
		confirmed, shipments, distinct, missing, stray, wrongItems, unsent)
	if dlqErr != nil {
		detail += "dead-letter queue: " + dlqErr.Error()
	} else {
		detail += "dead-letter queue " + dlq.String()
	}
	if queueErr != nil {
		detail += "; shipping's queue: " + queueErr.Error()
	} else {
		detail += "; shipping's queue " + queue.String()
	}
	if shipErr != nil {
		detail += fmt.Sprintf("; not all shipped within %s after the orders settled: %v", cfg.eventBound, shipErr)
	} else {
		detail += fmt.Sprintf("; all shipped %s after the orders settled (bound %s)", shipIn.Round(time.Second), cfg.eventBound)
	}
	return ok, detail
}
