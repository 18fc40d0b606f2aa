// Command orders is the orders service: it places orders against catalog's
// stock and serves them back.
package main

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/fargateshop/shop/apps/orders/internal/catalog"
	"github.com/fargateshop/shop/apps/orders/internal/postgres"
	"github.com/fargateshop/shop/apps/orders/internal/reconcile"
	"github.com/fargateshop/shop/apps/orders/internal/web"
	"github.com/fargateshop/shop/platform/config"
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
	telemetry         telemetry.Settings
}

func loadSettings(getenv func(string) (string, bool)) (settings, error) {
	e := config.New(getenv)
	s := settings{
		database:          e.Database(),
		catalogURL:        e.URL("CATALOG_URL", routing.URL("catalog")),
		maxConns:          e.Int("DB_MAX_CONNS", 10, 1, 200),
		reconcileInterval: e.Duration("RECONCILE_INTERVAL", 5*time.Second),
		lease:             e.DurationAtLeast("ORDER_LEASE", defaultLease, minLease),
		telemetry:         telemetry.FromEnv(e, service),
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

	rctx, stopReconciler := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { reconcile.New(log, store, cat, cfg.lease).Run(rctx, cfg.reconcileInterval) })

	err = server.Serve(ctx, log, server.New(handler, log, version), ln)
	stopReconciler()
	wg.Wait() // before the pool closes
	return err
}

// version is the build's version: the image build stamps it with
// -ldflags "-X main.version=...", server.Main logs it and /version serves it.
var version = "dev"
