// Command shipping serves /api/shipping/*, with its data in
// PostgreSQL schema shipping.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/fargateshop/shop/platform/config"
	"github.com/fargateshop/shop/platform/postgres"
	"github.com/fargateshop/shop/platform/server"
	"github.com/fargateshop/shop/platform/telemetry"

	shippingpg "github.com/fargateshop/shop/apps/shipping/internal/postgres"
	"github.com/fargateshop/shop/apps/shipping/internal/web"
)

func main() { server.Main(service, version, run) }

const service = "shipping"

type settings struct {
	Database  config.Database
	MaxConns  int
	Telemetry telemetry.Settings
}

func loadSettings(getenv func(string) (string, bool)) (settings, error) {
	e := config.New(getenv)
	s := settings{
		Database:  e.Database(),
		MaxConns:  e.Int("DB_MAX_CONNS", 10, 1, 1000),
		Telemetry: telemetry.FromEnv(e, service),
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
	return server.Serve(ctx, log, server.New(web.New(log, pool.Ping), log, version), ln)
}

// version is the build's version: the image build stamps it with
// -ldflags "-X main.version=...", server.Main logs it and /version serves it.
var version = "dev"
