// Command stamped is the smallest service built the way every image builds
// one: TestVersionStamp links it with -X main.version=... and asks it.
package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"

	"github.com/fargateshop/shop/platform/server"
)

var version = "dev"

func main() {
	server.Main("stamped", version, func(ctx context.Context, log *slog.Logger, _ func(string) (string, bool), ln net.Listener) error {
		srv := server.New(http.NotFoundHandler(), log, version)
		return server.Serve(ctx, log, srv, ln)
	})
}
