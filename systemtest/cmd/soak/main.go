// Command soak drives the running Compose stack at a fixed request rate
// while it injects faults with `docker compose`, then checks the shop's six
// invariants (docs/reliability.md) from the services' schemas, the event
// broker's queues and its own record of what clients were told. It exits 1
// when an invariant fails.
//
//	go run ./systemtest/cmd/soak -duration 2m          # what `make soak` runs
//	go run ./systemtest/cmd/soak -duration 15m -rate 30 -fault-every 30s
//
// Traffic: browse (GET /), read products (list and by id), and place orders
// the way a careful client does: one Idempotency-Key per order, the same key
// on every retry, retries with backoff on 502/503/504, network errors and
// in-progress 409s. Faults, one at a time, in order: SIGKILL orders (events
// committed, not yet published), catalog and shipping (deliveries received,
// not yet deleted), pause catalog, restart postgres, pause the broker,
// SIGTERM-restart orders and catalog, pause postgres, restart web and edge,
// stop shipping for a minute while orders keep confirming.
//
// Pacing uses vegeta's ConstantPacer (github.com/tsenart/vegeta/v12) and its
// latency metrics; the requests themselves are ours, because an order is a
// sequence of requests with retries, which vegeta's attacker cannot express.
package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

type config struct {
	baseURL      string
	duration     time.Duration
	rate         int
	faultEvery   time.Duration
	faults       []string
	composeDir   string
	adminToken   string
	grace        time.Duration
	settle       time.Duration
	ttl          time.Duration
	maxInFlight  int
	strict       bool
	databaseURL  string
	brokerURL    string
	metricsURL   string
	eventBound   time.Duration
	shippingDown time.Duration
}

func main() {
	var cfg config
	var faults string
	flag.StringVar(&cfg.baseURL, "base-url", "http://localhost:8080", "the stack's edge")
	flag.DurationVar(&cfg.duration, "duration", 2*time.Minute, "how long to send traffic")
	flag.IntVar(&cfg.rate, "rate", 20, "operations started per second (fixed rate)")
	flag.DurationVar(&cfg.faultEvery, "fault-every", 20*time.Second, "time from the start of one fault to the next (0: no faults)")
	flag.StringVar(&faults, "faults", strings.Join(defaultFaults, ","), "faults to inject, in order, cycling")
	flag.StringVar(&cfg.composeDir, "compose-dir", ".", "directory of docker-compose.yml")
	flag.StringVar(&cfg.adminToken, "admin-token", envOr("ADMIN_TOKEN", "local-admin-token-not-secret"), "catalog's admin token (creates the soak's products)")
	flag.DurationVar(&cfg.grace, "grace", 10*time.Second, "after a fault window, failures still count as inside it")
	flag.DurationVar(&cfg.settle, "settle", 3*time.Minute, "longest wait for the system to become quiet before the checks")
	flag.DurationVar(&cfg.ttl, "reservation-ttl", 60*time.Second, "catalog's RESERVATION_TTL (bounds a stuck reservation)")
	flag.IntVar(&cfg.maxInFlight, "max-in-flight", 400, "operations in flight at most; ticks beyond are counted as dropped")
	flag.StringVar(&cfg.databaseURL, "database-url", "", "query this database for the checks instead of the compose postgres (a shop run on the host; faults need compose)")
	flag.StringVar(&cfg.brokerURL, "broker-url", envOr("BROKER_URL", "http://127.0.0.1:4100"), "the stack's SNS/SQS broker as the host reaches it (queue depths)")
	flag.StringVar(&cfg.metricsURL, "metrics-url", envOr("METRICS_URL", "http://127.0.0.1:"+envOr("METRICS_PORT", "8889")+"/metrics"), "the stack's metrics (Prometheus text), for the duplicate deliveries shipping recognised")
	// The queue's visibility timeout (30 s) plus room: a delivery a killed
	// shipping held comes back only after it.
	flag.DurationVar(&cfg.eventBound, "event-bound", 45*time.Second, "once orders are settled, every confirmed order has its shipment within this")
	flag.DurationVar(&cfg.shippingDown, "shipping-down", time.Minute, "how long the stop-shipping fault keeps shipping stopped")
	flag.BoolVar(&cfg.strict, "strict", false, "also fail when a failure inside a fault window is not a 503 (502, 504, network error)")
	flag.Parse()
	for _, f := range strings.Split(faults, ",") {
		if f = strings.TrimSpace(f); f != "" {
			if _, ok := faultActions[f]; !ok {
				fmt.Fprintf(os.Stderr, "soak: unknown fault %q (known: %s)\n", f, strings.Join(defaultFaults, ", "))
				os.Exit(2)
			}
			cfg.faults = append(cfg.faults, f)
		}
	}
	if cfg.rate < 1 || cfg.duration <= 0 {
		fmt.Fprintln(os.Stderr, "soak: -rate must be at least 1 and -duration positive")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, cfg config) (bool, error) {
	runID := fmt.Sprintf("%d", time.Now().Unix())
	c := newClient(cfg.baseURL)
	compose := &composeCLI{dir: cfg.composeDir, dbURL: cfg.databaseURL}
	events := newBroker(cfg.brokerURL)

	if err := c.probe(ctx, "edge"); err != nil {
		return false, fmt.Errorf("the stack does not answer at %s (start it with scripts/stack.sh up): %w", cfg.baseURL, err)
	}
	if _, err := compose.psql(ctx, "SELECT 1"); err != nil {
		return false, fmt.Errorf("cannot query the stack's database with docker compose in %s: %w", cfg.composeDir, err)
	}
	if _, err := events.depth(ctx, shippingDLQ); err != nil {
		return false, err
	}
	products, err := c.createProducts(ctx, cfg.adminToken, runID)
	if err != nil {
		return false, err
	}
	logf("run %s: %d products, %d ops/s for %s, a fault every %s: %s", runID, len(products), cfg.rate, cfg.duration, cfg.faultEvery, strings.Join(cfg.faults, ", "))

	dups := newDuplicates(cfg.metricsURL)
	pollCtx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	var polling sync.WaitGroup
	polling.Go(func() { dups.poll(pollCtx, 5*time.Second) })

	rec := &record{start: time.Now()}
	loadCtx, stopLoad := context.WithTimeout(ctx, cfg.duration)
	defer stopLoad()

	var wg sync.WaitGroup
	if cfg.faultEvery > 0 && len(cfg.faults) > 0 {
		f := &faultEnv{dc: compose, broker: events, shippingDown: cfg.shippingDown}
		wg.Go(func() { injectFaults(loadCtx, ctx, cfg, f, c, rec) })
	}
	drive(loadCtx, cfg, c, rec, products, runID)
	logf("load done (%d requests); waiting for the fault in progress", rec.opsStarted())
	wg.Wait()
	if ctx.Err() != nil {
		return false, ctx.Err()
	}

	logf("waiting for the system to be quiet (at most %s)", cfg.settle)
	quietIn, quietErr := waitQuiet(ctx, compose, cfg.settle, products, runID)
	if quietErr != nil {
		logf("not quiet: %v", quietErr)
	}
	logf("waiting for every confirmed order's shipment (at most %s)", cfg.eventBound)
	shipIn, shipErr := waitShipped(ctx, compose, events, cfg.eventBound, runID)
	if shipErr != nil {
		logf("not shipped: %v", shipErr)
	}
	stopPoll()
	polling.Wait()
	dups.read(ctx)
	res := check(ctx, cfg, compose, rec, products, runID, quietErr, quietIn)
	res.duplicates = dups.String()
	ok6, detail6 := checkEvents(ctx, cfg, compose, events, runID, shipErr, shipIn)
	res.invariants = append(res.invariants, invariant{name: "6 exactly-once effect of events", ok: ok6, detail: detail6})
	if res.lag, err = eventLag(ctx, compose, runID); err != nil {
		logf("event lag: %v", err)
	}
	printSummary(os.Stdout, cfg, rec, res)
	return res.allOK(), nil
}

// drive starts one operation per pacer tick until ctx ends, then waits for
// the operations in flight.
func drive(ctx context.Context, cfg config, c *client, rec *record, products []product, runID string) {
	pacer := vegeta.ConstantPacer{Freq: cfg.rate, Per: time.Second}
	sem := make(chan struct{}, cfg.maxInFlight)
	var wg sync.WaitGroup
	began := time.Now()
	var hits uint64
	for ctx.Err() == nil {
		wait, stop := pacer.Pace(time.Since(began), hits)
		if stop {
			break
		}
		if wait > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
			continue
		}
		hits++
		select {
		case sem <- struct{}{}:
		default:
			rec.drop()
			continue
		}
		n := hits
		wg.Go(func() {
			defer func() { <-sem }()
			// Operations use their own context: an order in progress at
			// the end finishes its retries, as a real client would.
			octx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			switch r := rand.IntN(100); {
			case r < 30:
				c.browse(octx, rec)
			case r < 50:
				c.listProducts(octx, rec)
			case r < 70:
				c.getProduct(octx, rec, products[rand.IntN(len(products))])
			default:
				c.placeOrder(octx, rec, products, fmt.Sprintf("soak-%s-%d", runID, n))
			}
		})
	}
	wg.Wait()
}

// statusOK reports a 2xx.
func statusOK(code int) bool { return code >= 200 && code < 300 }
