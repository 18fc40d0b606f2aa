// Command orders is the orders service: it places orders against catalog's
// stock and serves them back.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/fargateshop/shop/apps/orders/internal/catalog"
	"github.com/fargateshop/shop/apps/orders/internal/outbox"
	"github.com/fargateshop/shop/apps/orders/internal/postgres"
	"github.com/fargateshop/shop/apps/orders/internal/reconcile"
	"github.com/fargateshop/shop/apps/orders/internal/web"
	"github.com/fargateshop/shop/platform/config"
	"github.com/fargateshop/shop/platform/messaging"
	platformpg "github.com/fargateshop/shop/platform/postgres"
	"github.com/fargateshop/shop/platform/routing"
	"github.com/fargateshop/shop/platform/server"
	"github.com/fargateshop/shop/platform/telemetry"
)

func main() { server.Main(service, version, run) }

const service = "orders"

type settings struct {
	database          config.Database
	catalogURL        string
	maxConns          int
	reconcileInterval time.Duration
	lease             time.Duration
	// orderEventsTopic is the ARN of the SNS topic order events go to;
	// empty, events stay in the outbox (see newRelay).
	orderEventsTopic string
	telemetry        telemetry.Settings
}

func loadSettings(getenv func(string) (string, bool)) (settings, error) {
	e := config.New(getenv)
	s := settings{
		database:          e.Database(),
		catalogURL:        e.URL("CATALOG_URL", routing.URL("catalog")),
		maxConns:          e.Int("DB_MAX_CONNS", 10, 1, 200),
		reconcileInterval: e.Duration("RECONCILE_INTERVAL", 5*time.Second),
		lease:             e.DurationAtLeast("ORDER_LEASE", defaultLease, minLease),
		orderEventsTopic:  e.String(routing.TopicEnv(routing.OrderEvents), ""),
		telemetry:         telemetry.FromEnv(e, service),
	}
	if t := s.orderEventsTopic; t != "" && !strings.HasPrefix(t, "arn:") {
		e.Fail("%s must be an SNS topic ARN (arn:aws:sns:<region>:<account>:%s), got %q",
			routing.TopicEnv(routing.OrderEvents), routing.OrderEvents, t)
	}
	e.Server()
	return s, e.Err()
}

// ORDER_LEASE is how long an attempt holds its Idempotency-Key before a
// retry or the reconciler may take the order over: above the longest request.
const (
	defaultLease = 30 * time.Second
	minLease     = 3 * time.Second
)

func run(ctx context.Context, log *slog.Logger, getenv func(string) (string, bool), ln net.Listener) error {
	cfg, err := loadSettings(getenv)
	if err != nil {
		return err
	}
	tel, err := telemetry.Start(ctx, log, cfg.telemetry, version)
	if err != nil {
		return err
	}
	defer tel.Close() // last, after everything that may still trace
	pool, err := platformpg.OpenDatabase(ctx, log, cfg.database, int32(cfg.maxConns), 30*time.Second)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := postgres.Migrate(ctx, log, pool); err != nil {
		return err
	}

	store := postgres.New(pool)
	cat := catalog.New(cfg.catalogURL, log)
	handler := web.NewHandler(log, store, cat, web.Config{Lease: cfg.lease})

	relay, err := newRelay(ctx, log, store, cfg.orderEventsTopic)
	if err != nil {
		return err
	}

	bctx, stopBackground := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { reconcile.New(log, store, cat, cfg.lease).Run(bctx, cfg.reconcileInterval) })
	if relay != nil {
		wg.Go(func() { relay.Run(bctx) })
	}

	err = server.Serve(ctx, log, server.New(handler, log, version), ln)
	stopBackground()
	wg.Wait() // before the pool closes
	return err
}

// newRelay returns the outbox relay publishing order events to the SNS
// topic topicARN, through the SDK's configuration from the environment
// (AWS_ENDPOINT_URL_SNS or AWS_ENDPOINT_URL selects a local broker).
//
// Without a topic it returns nil, and says so: orders still confirms
// orders and writes their events to orders.outbox, where they wait, none
// lost, until an orders process with a topic publishes them. That is how
// `make run` on a laptop without a broker behaves.
func newRelay(ctx context.Context, log *slog.Logger, store *postgres.Store, topicARN string) (*outbox.Relay, error) {
	if topicARN == "" {
		log.WarnContext(ctx, "order events are not published: "+routing.TopicEnv(routing.OrderEvents)+
			" is not set; they stay in orders.outbox until orders runs with it")
		return nil, nil
	}
	awsCfg, err := messaging.LoadAWS(ctx)
	if err != nil {
		return nil, fmt.Errorf("order events (%s is set): %w", routing.TopicEnv(routing.OrderEvents), err)
	}
	pub := messaging.NewPublisher(sns.NewFromConfig(awsCfg), topicARN)
	return outbox.NewRelay(log, store, map[string]outbox.Publisher{routing.OrderEvents: pub}, outbox.Config{}), nil
}

// version is the build's version: the image build stamps it with
// -ldflags "-X main.version=...", server.Main logs it and /version serves it.
var version = "dev"
