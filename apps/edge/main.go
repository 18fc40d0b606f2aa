// Command edge is the local stand-in for the AWS Application Load Balancer,
// listening on :8080 in Compose and in `make run`. It routes by path with
// the rules in platform/routing, the same ones infra/ gives the ALB.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"

	"github.com/fargateshop/shop/platform/config"
	"github.com/fargateshop/shop/platform/routing"
	"github.com/fargateshop/shop/platform/server"
	"github.com/fargateshop/shop/platform/telemetry"

	"github.com/fargateshop/shop/apps/edge/internal/edge"
)

func main() { server.Main(service, version, run) }

const service = "edge"

func run(ctx context.Context, log *slog.Logger, getenv func(string) (string, bool), ln net.Listener) error {
	if err := routing.Validate(routing.Services); err != nil {
		return fmt.Errorf("routing declaration: %w", err)
	}
	settings := config.New(getenv)
	tcfg := telemetry.FromEnv(settings, service)
	settings.Server()
	upstreams, err := Upstreams(routing.Services, getenv)
	if err := errors.Join(settings.Err(), err); err != nil {
		return err
	}
	tel, err := telemetry.Start(ctx, log, tcfg, version)
	if err != nil {
		return err
	}
	defer tel.Close()
	h, err := edge.New(log, routing.Services, upstreams, edge.Options{})
	if err != nil {
		return err
	}
	for _, s := range routing.Services {
		log.Info("upstream", "service", s.Name, "url", upstreams[s.Name].String())
	}
	srv := server.New(telemetry.Handler(h), log, version)
	// The edge only relays: its write deadline is the ALB's idle timeout
	// (60 s), longer than a service's own 30 s, so a service's answer or the
	// edge's 504 always reaches the client instead of a cut connection.
	srv.WriteTimeout = 2 * server.WriteTimeout
	srv.ReadTimeout = server.ReadTimeout - edge.ReadMargin
	// Each request's framing is checked on the wire, where net/http no
	// longer shows it (see edge.FramingListener).
	return server.Serve(ctx, log, srv, edge.FramingListener(srv, ln))
}

// UpstreamEnv is the variable that overrides where service name is reached:
// UPSTREAM_CATALOG for catalog, UPSTREAM_ORDER_HISTORY for order-history.
func UpstreamEnv(name string) string {
	return "UPSTREAM_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// Upstreams returns each service's base URL: UPSTREAM_<NAME> when set (e.g.
// http://localhost:8081 when the services run on the host), else
// http://<name>:<port>, the name Compose and ECS Service Connect resolve.
func Upstreams(services []routing.Service, getenv func(string) (string, bool)) (map[string]*url.URL, error) {
	env := config.New(getenv)
	raw := map[string]string{}
	for _, s := range services {
		raw[s.Name] = env.URL(UpstreamEnv(s.Name), s.URL())
	}
	if err := env.Err(); err != nil {
		return nil, err
	}
	out := map[string]*url.URL{}
	var bad []string
	for _, s := range services {
		name, v := s.Name, raw[s.Name]
		u, err := url.Parse(v)
		if err != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			bad = append(bad, fmt.Sprintf("%s must be scheme://host:port only, got %q", UpstreamEnv(name), v))
			continue
		}
		out[name] = &url.URL{Scheme: u.Scheme, Host: u.Host}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("invalid configuration: %s", strings.Join(bad, "; "))
	}
	return out, nil
}

// version is the build's version: the image build stamps it with
// -ldflags "-X main.version=...", server.Main logs it and /version serves it.
var version = "dev"
