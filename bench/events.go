package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/jackc/pgx/v5"

	"github.com/fargateshop/shop/platform/routing"
)

// budgetEventLagP99 is issue 14's: an order's shipment exists at most 1 s
// after its confirmation, at 200 orders/s through the local broker.
const budgetEventLagP99 = time.Second

// The local broker, as Compose runs it: the same program and configuration
// (compose/goaws.yaml), on a free port of 127.0.0.1 instead of 4100.
const (
	goawsModule   = "github.com/Admiral-Piett/goaws/app/cmd@v0.5.4"
	goawsConfig   = "compose/goaws.yaml"
	shippingQueue = "shipping-order-events"
	// shipBound: the longest wait after a run for its last shipment; a run
	// that needs longer is reported as not all shipped.
	shipBound = time.Minute
)

// eventSystem is the broker and shipping: the half of the shop the events
// section adds to the harness's four services. The broker starts before
// orders, whose relay needs its topic from the start.
type eventSystem struct {
	brokerURL string
	topicARN  string
	queueURL  string
	broker    *execProcess
	shipping  *service
}

type execProcess struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// awsEnv is what orders and shipping need to reach the broker: the SDK's
// own endpoint variable, and keys the broker does not check.
func (e *eventSystem) awsEnv() map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL": e.brokerURL, "AWS_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "bench-not-secret", "AWS_SECRET_ACCESS_KEY": "bench-not-secret",
	}
}

// ordersEnv is what orders adds to publish its events to the broker.
func (e *eventSystem) ordersEnv() map[string]string {
	env := e.awsEnv()
	env[routing.TopicEnv(routing.OrderEvents)] = e.topicARN
	return env
}

// startBroker builds goaws with `go install` (its dependencies stay out of
// this module) and runs it with Compose's configuration on a free port.
func startBroker(ctx context.Context, root, dir string) (*eventSystem, error) {
	gobin := filepath.Join(dir, "goaws-bin")
	cmd := exec.CommandContext(ctx, "go", "install", goawsModule)
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go install %s: %w\n%s", goawsModule, err, out)
	}
	conf, env, err := brokerConfig(filepath.Join(root, goawsConfig))
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf = portLine.ReplaceAllString(conf, "${1}"+strconv.Itoa(port))
	confPath := filepath.Join(dir, "goaws.yaml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	logs, err := os.Create(filepath.Join(dir, "broker.log"))
	if err != nil {
		return nil, err
	}
	defer logs.Close() // the broker has its own copy of the descriptor
	e := &eventSystem{brokerURL: "http://127.0.0.1:" + strconv.Itoa(port)}
	c, done, err := startProcess(filepath.Join(gobin, "cmd"), []string{"-config", confPath, "-loglevel", "warn", env}, nil, logs)
	if err != nil {
		return nil, err
	}
	e.broker = &execProcess{cmd: c, done: done}
	if err := e.discover(ctx); err != nil {
		e.Close()
		b, _ := os.ReadFile(logs.Name())
		return nil, fmt.Errorf("broker on %s: %w\n%s", e.brokerURL, err, tail(string(b), 2000))
	}
	return e, nil
}

// portLine is the configuration's listening port (one Port for SNS and SQS).
var portLine = regexp.MustCompile(`(?m)^(\s+Port:\s*)"?\d+"?`)

// brokerConfig reads Compose's goaws configuration and the name of its
// environment (its first top-level key, which goaws takes as an argument).
func brokerConfig(path string) (conf, env string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", fmt.Errorf("the broker's configuration: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if name, ok := strings.CutSuffix(strings.TrimSpace(line), ":"); ok && line == strings.TrimLeft(line, " \t") && !strings.HasPrefix(line, "#") {
			env = name
			break
		}
	}
	if env == "" || !portLine.Match(b) {
		return "", "", fmt.Errorf("%s: no environment with a Port line (the bench moves it to a free port)", path)
	}
	return string(b), env, nil
}

// discover waits until the broker answers, then finds the topic's ARN and
// the queue's URL, as they are named in the configuration.
func (e *eventSystem) discover(ctx context.Context) error {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("bench", "bench", "")}
	endpoint := aws.String(e.brokerURL)
	sqsc := sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = endpoint })
	snsc := sns.NewFromConfig(cfg, func(o *sns.Options) { o.BaseEndpoint = endpoint })
	deadline := time.Now().Add(15 * time.Second)
	for {
		u, err := sqsc.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(shippingQueue)})
		if err == nil {
			e.queueURL = aws.ToString(u.QueueUrl)
			break
		}
		select {
		case <-e.broker.done:
			return errors.New("exited")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("queue %s not there within 15 s: %w", shippingQueue, err)
		}
	}
	topics, err := snsc.ListTopics(ctx, &sns.ListTopicsInput{})
	if err != nil {
		return fmt.Errorf("list topics: %w", err)
	}
	for _, t := range topics.Topics {
		if arn := aws.ToString(t.TopicArn); strings.HasSuffix(arn, ":"+routing.OrderEvents) {
			e.topicARN = arn
			return nil
		}
	}
	return fmt.Errorf("no topic %s", routing.OrderEvents)
}

// startShipping starts shipping, consuming the broker's queue, against the
// bench's database.
func (e *eventSystem) startShipping(ctx context.Context, bin, dsn, logPath string) error {
	vars := e.awsEnv()
	vars["DATABASE_URL"] = dsn
	vars[routing.QueueEnv(routing.OrderEvents)] = e.queueURL
	for k, v := range serviceEnv()["orders"] { // the OTEL_* settings every service gets
		if strings.HasPrefix(k, "OTEL_") {
			vars[k] = v
		}
	}
	s, err := startService(ctx, bin, vars, logPath)
	if err != nil {
		return fmt.Errorf("shipping: %w", err)
	}
	e.shipping = s
	return nil
}

func (e *eventSystem) Close() {
	if e.shipping != nil {
		e.shipping.stop()
	}
	if e.broker != nil {
		stopProcess(e.broker.cmd, e.broker.done)
	}
}

// eventRun is one run's lag: confirmation to shipment, per order.
type eventRun struct {
	placed    Result          // the orders sent
	confirmed int             // orders of the run confirmed
	shipped   int             // of them with a shipment within shipBound
	lags      []time.Duration // sorted
	drained   time.Duration   // end of the load to the last shipment
}

func (r eventRun) p(q float64) time.Duration { return quantile(r.lags, q) }

// over counts the lags above the budget: a handful near the queue's
// visibility timeout (30 s) are deliveries that had to wait for a second
// receive, not a slow path.
func (r eventRun) over(d time.Duration) int {
	i, _ := slices.BinarySearch(r.lags, d+1)
	return len(r.lags) - i
}

// events places orders at a fixed rate through the edge while the relay
// publishes them and shipping consumes them, then measures each order's
// lag from the transaction that confirmed it (orders.updated_at, which
// also wrote its outbox row) to the one that created its shipment, both
// stamped by PostgreSQL's clock.
func (b *bench) events(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, b.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var runs []eventRun
	for i := 0; i < b.cfg.runs; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		logf("events, run %d of %d", i+1, b.cfg.runs)
		var since time.Time
		if err := conn.QueryRow(ctx, `SELECT now()`).Scan(&since); err != nil {
			return err
		}
		var r eventRun
		r.placed = FixedRate(b.orderLoad(), b.cfg.eventsRate, b.cfg.eventsDur)
		loadEnd := time.Now()
		for {
			if err := conn.QueryRow(ctx, `SELECT
  (SELECT count(*) FROM orders.orders o WHERE o.status = 'confirmed' AND o.created_at >= $1),
  (SELECT count(*) FROM shipping.shipments s JOIN orders.orders o ON o.id = s.order_id WHERE o.created_at >= $1)`,
				since).Scan(&r.confirmed, &r.shipped); err != nil {
				return err
			}
			if r.shipped >= r.confirmed || time.Since(loadEnd) > shipBound {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		r.drained = time.Since(loadEnd)
		rows, err := conn.Query(ctx, `SELECT extract(epoch FROM s.created_at - o.updated_at)::float8
FROM shipping.shipments s JOIN orders.orders o ON o.id = s.order_id WHERE o.created_at >= $1`, since)
		if err != nil {
			return err
		}
		secs, err := pgx.CollectRows(rows, pgx.RowTo[float64])
		if err != nil {
			return err
		}
		for _, s := range secs {
			r.lags = append(r.lags, time.Duration(s*float64(time.Second)))
		}
		slices.Sort(r.lags)
		logf("events run %d: %d orders sent, %d ok, %d confirmed, %d shipped, lag p50 %s p99 %s max %s, %d over 1 s, last shipment %s after the load",
			i+1, r.placed.Requests, r.placed.OK, r.confirmed, r.shipped, ms(r.p(0.5)), ms(r.p(0.99)), ms(r.p(1)), r.over(budgetEventLagP99), r.drained.Round(time.Millisecond))
		runs = append(runs, r)
	}
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b eventRun) int { return cmp.Compare(a.p(0.99), b.p(0.99)) })
	m := sorted[len(sorted)/2]
	allShipped := true
	for _, r := range runs {
		allShipped = allShipped && r.confirmed > 0 && r.shipped == r.confirmed
	}
	b.table.Check(fmt.Sprintf("Event lag: order confirmed → shipment committed (outbox, relay, local broker, shipping), %s orders/s × %s via edge",
		thousands(int64(b.cfg.eventsRate)), b.cfg.eventsDur),
		fmt.Sprintf("p50 %s, p90 %s, p99 %s, max %s, %d over 1 s; %d of %d confirmed orders shipped (all runs: %s)",
			ms(m.p(0.5)), ms(m.p(0.9)), ms(m.p(0.99)), ms(m.p(1)), m.over(budgetEventLagP99), m.shipped, m.confirmed, shippedAll(runs)),
		"p99 ≤ 1 s, every confirmed order shipped", m.p(0.99) <= budgetEventLagP99 && allShipped)
	return nil
}

func shippedAll(runs []eventRun) string {
	var shipped, confirmed int
	for _, r := range runs {
		shipped += r.shipped
		confirmed += r.confirmed
	}
	return fmt.Sprintf("%d of %d", shipped, confirmed)
}
