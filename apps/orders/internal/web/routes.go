// Package web is the orders service's HTTP API: routes, handlers, request
// types, and the flow that drives an order through catalog.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/fargateshop/shop/apps/orders/internal/order"
	"github.com/fargateshop/shop/platform/httpapi"
)

// Store is the order storage the handlers need.
type Store interface {
	Ping(ctx context.Context) error
	Begin(ctx context.Context, a order.Attempt) (order.Claim, error)
	Get(ctx context.Context, id uuid.UUID) (order.Order, error)
	RecordReservation(ctx context.Context, id uuid.UUID, items []order.Item, currency string, total int64) (order.Order, error)
	Confirm(ctx context.Context, c order.Claim, body []byte) error
	Fail(ctx context.Context, c order.Claim, reason string, resp *order.Response) error
	ReleaseLease(ctx context.Context, c order.Claim) error
}

// Catalog is the part of catalog's API that placing an order uses.
type Catalog interface {
	Reserve(ctx context.Context, orderID uuid.UUID, lines []order.Line) (order.Reservation, error)
	Confirm(ctx context.Context, orderID uuid.UUID) error
	Release(ctx context.Context, orderID uuid.UUID) error
}

// Config tunes the handlers.
type Config struct {
	// Lease is how long a request holds its Idempotency-Key before another
	// request with the same key may take the order over. It must exceed the
	// longest request (catalog budget plus database writes).
	Lease time.Duration
}

type handler struct {
	log     *slog.Logger
	store   Store
	catalog Catalog
	cfg     Config
}

// NewHandler returns the service's routes, all in one place.
func NewHandler(log *slog.Logger, store Store, catalog Catalog, cfg Config) http.Handler {
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	h := &handler{log: log, store: store, catalog: catalog, cfg: cfg}

	r := httpapi.NewEngine(log, httpapi.Options{})
	httpapi.Health(r, store.Ping) // own database only, never catalog
	r.POST("/api/orders", h.placeOrder)
	r.GET("/api/orders/:id", h.getOrder)
	return r
}
