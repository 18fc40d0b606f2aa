// Command catalog serves products and their stock, and holds stock for
// orders while they are placed.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	catalogpg "github.com/fargateshop/shop/apps/catalog/internal/postgres"
	"github.com/fargateshop/shop/apps/catalog/internal/web"
	"github.com/fargateshop/shop/platform/config"
	"github.com/fargateshop/shop/platform/postgres"
	"github.com/fargateshop/shop/platform/server"
	"github.com/fargateshop/shop/platform/telemetry"
)

func main() { server.Main(service, version, run) }

const service = "catalog"

type settings struct {
	Database       config.Database
	AdminToken     string
	MaxConns       int
	ReservationTTL time.Duration
	SweepInterval  time.Duration
	// DemoData loads the demo products into an empty catalog at start:
	// local and dev stacks only; production fills its catalog through the
	// admin API.
	DemoData  bool
	Telemetry telemetry.Settings
}

func loadSettings(getenv func(string) (string, bool)) (settings, error) {
	e := config.New(getenv)
	s := settings{
		Database:       e.Database(),
		AdminToken:     e.Secret("ADMIN_TOKEN", 16),
		MaxConns:       e.Int("DB_MAX_CONNS", 10, 1, 1000),
		ReservationTTL: e.Duration("RESERVATION_TTL", 60*time.Second),
		SweepInterval:  e.Duration("SWEEP_INTERVAL", 5*time.Second),
		DemoData:       e.OneOf("DEMO_DATA", "false", "true", "false") == "true",
		Telemetry:      telemetry.FromEnv(e, service),
	}
	e.Server()
	return s, e.Err()
}

// run is the catalog's whole life; main and the tests call it.
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
	if err := postgres.Migrate(ctx, log, pool, catalogpg.Schema, catalogpg.Migrations()); err != nil {
		_ = ln.Close()
		return err
	}
	store := catalogpg.NewStore(pool, cfg.ReservationTTL)
	if cfg.DemoData {
		n, err := store.LoadDemoProducts(ctx)
		if err != nil {
			_ = ln.Close()
			return err
		}
		log.Info("demo data", "products_added", n)
	}

	// The sweeper stops when run returns, whatever the reason, and is waited
	// for before the pool closes (defers run last to first).
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() { store.RunSweeper(ctx, log, cfg.SweepInterval) })

	handler := web.NewHandler(log, store, cfg.AdminToken)
	return server.Serve(ctx, log, server.New(handler, log, version), ln)
}

// version is the build's version: the image build stamps it with
// -ldflags "-X main.version=...", server.Main logs it and /version serves it.
var version = "dev"
