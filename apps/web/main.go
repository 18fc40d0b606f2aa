// Command web serves the shop's browser UI. It owns no data: it renders the
// product list from catalog, and the page's script posts orders to
// /api/orders, which the load balancer routes to the orders service.
package main

import (
	"context"
	"log/slog"
	"net"

	"github.com/fargateshop/shop/platform/config"
	"github.com/fargateshop/shop/platform/routing"
	"github.com/fargateshop/shop/platform/server"
	"github.com/fargateshop/shop/platform/telemetry"

	"github.com/fargateshop/shop/apps/web/internal/catalog"
	"github.com/fargateshop/shop/apps/web/internal/web"
)

func main() { server.Main(service, version, run) }

const service = "web"

func run(ctx context.Context, log *slog.Logger, getenv func(string) (string, bool), ln net.Listener) error {
	env := config.New(getenv)
	catalogURL := env.URL("CATALOG_URL", routing.URL("catalog"))
	tcfg := telemetry.FromEnv(env, service)
	env.Server()
	if err := env.Err(); err != nil {
		return err
	}
	tel, err := telemetry.Start(ctx, log, tcfg, version)
	if err != nil {
		return err
	}
	defer tel.Close()

	h, err := web.New(log, catalog.New(catalogURL, log))
	if err != nil {
		return err
	}
	log.Info("config", "catalog_url", catalogURL)
	return server.Serve(ctx, log, server.New(h, log, version), ln)
}

// version is the build's version: the image build stamps it with
// -ldflags "-X main.version=...", server.Main logs it and /version serves it.
var version = "dev"
