// Command shipping makes a shipment for every confirmed order, from the
// order.confirmed events it reads from its queue, and serves them under
// /api/shipping/*, with its data in PostgreSQL schema shipping.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/fargateshop/shop/platform/config"
	"github.com/fargateshop/shop/platform/messaging"
	"github.com/fargateshop/shop/platform/postgres"
	"github.com/fargateshop/shop/platform/routing"
	"github.com/fargateshop/shop/platform/server"
	"github.com/fargateshop/shop/platform/telemetry"

	shippingpg "github.com/fargateshop/shop/apps/shipping/internal/postgres"
	"github.com/fargateshop/shop/apps/shipping/internal/shipment"
	"github.com/fargateshop/shop/apps/shipping/internal/web"
)

func main() { server.Main(service, version, run) }

const service = "shipping"

type settings struct {
	Database  config.Database
	MaxConns  int
	Telemetry telemetry.Settings
	// QueueURL is the SQS queue of order events this service reads
	// (routing.QueueEnv(routing.OrderEvents)).
	QueueURL string
}

func loadSettings(getenv func(string) (string, bool)) (settings, error) {
	e := config.New(getenv)
	s := settings{
		Database:  e.Database(),
		MaxConns:  e.Int("DB_MAX_CONNS", 10, 1, 1000),
		Telemetry: telemetry.FromEnv(e, service),
	}
	queueEnv := routing.QueueEnv(routing.OrderEvents)
	if e.Required(queueEnv) != "" {
		s.QueueURL = e.URL(queueEnv, "")
	}
	e.Server()
	return s, e.Err()
}

// run is the service's whole life; main and the tests call it.
func run(ctx context.Context, log *slog.Logger, getenv func(string) (string, bool), ln net.Listener) error {
	cfg, err := loadSettings(getenv)
	if err != nil {
		_ = ln.Close()
		return err
	}
	tel, err := telemetry.Start(ctx, log, cfg.Telemetry, version)
	if err != nil {
		_ = ln.Close()
		return err
	}
	defer tel.Close() // last, after everything that may still trace
	pool, err := postgres.OpenDatabase(ctx, log, cfg.Database, int32(cfg.MaxConns), 30*time.Second)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("open database: %w", err)
	}
	defer pool.Close()
	if err := shippingpg.Migrate(ctx, log, pool); err != nil {
		_ = ln.Close()
		return err
	}
	awsCfg, err := messaging.LoadAWS(ctx)
	if err != nil {
		_ = ln.Close()
		return err
	}

	store := shippingpg.New(pool)
	shipments := shipment.New(log, store)
	consumer := messaging.NewConsumer(sqs.NewFromConfig(awsCfg), cfg.QueueURL,
		func(ctx context.Context, d messaging.Delivery) error { return shipments.Apply(ctx, d.Type, d.Body) },
		log, messaging.ConsumerOptions{Topic: routing.OrderEvents})

	// The consumer stops with the server and is waited for before the pool
	// closes: a message handled while stopping is committed and deleted.
	cctx, stopConsumer := context.WithCancel(ctx)
	var (
		wg          sync.WaitGroup
		consumerErr error
	)
	wg.Go(func() { consumerErr = consumer.Run(cctx) })
	err = server.Serve(ctx, log, server.New(web.New(log, store), log, version), ln)
	stopConsumer()
	wg.Wait()
	return errors.Join(err, consumerErr)
}

// version is the build's version: the image build stamps it with
// -ldflags "-X main.version=...", server.Main logs it and /version serves it.
var version = "dev"
