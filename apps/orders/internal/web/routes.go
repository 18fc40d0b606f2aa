// Package web is the orders service's HTTP API: routes, handlers and
// request types. The workflow an order runs is package checkout's.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/fargateshop/shop/apps/orders/internal/checkout"
	"github.com/fargateshop/shop/apps/orders/internal/order"
	"github.com/fargateshop/shop/platform/httpapi"
)

// Store is the order storage the handlers need, besides what the checkout
// workflow writes.
type Store interface {
	checkout.Store
	Ping(ctx context.Context) error
	Begin(ctx context.Context, a order.Attempt) (order.Claim, error)
	Get(ctx context.Context, id uuid.UUID) (order.Order, error)
}

// Config tunes the handlers.
type Config struct {
	// Lease is how long a request holds its Idempotency-Key before another
	// request with the same key may take the order over. It must exceed the
	// longest request (catalog budget plus database writes).
	Lease time.Duration
}

type handler struct {
	log      *slog.Logger
	store    Store
	checkout *checkout.Service
	cfg      Config
}

// NewHandler returns the service's routes, all in one place.
func NewHandler(log *slog.Logger, store Store, catalog checkout.Catalog, cfg Config) http.Handler {
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	h := &handler{log: log, store: store, checkout: checkout.New(log, store, catalog), cfg: cfg}

	r := httpapi.NewEngine(log, httpapi.Options{})
	httpapi.Health(r, store.Ping) // own database only, never catalog
	r.POST("/api/orders", h.placeOrder)
	r.GET("/api/orders/:id", h.getOrder)
	return r
}
