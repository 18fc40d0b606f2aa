package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fargateshop/shop/apps/orders/internal/checkout"
	"github.com/fargateshop/shop/apps/orders/internal/order"
	"github.com/fargateshop/shop/apps/orders/internal/outbox"
	"github.com/fargateshop/shop/apps/orders/internal/web"
	"github.com/fargateshop/shop/platform/logging"
	"github.com/fargateshop/shop/platform/oteltest"
)

// memStore and memCatalog let an order go through without I/O, so the
// benchmark measures the HTTP layer and the order flow's own work:
// decoding, validation, fingerprint, JSON, the access log. Embedding the
// interfaces keeps them compiling when those grow; the flow calls no other
// method.
type memStore struct{ web.Store }

var benchTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func (memStore) Begin(_ context.Context, a order.Attempt) (order.Claim, error) {
	o := order.Order{ID: a.NewOrderID, Status: order.Pending, Email: a.Request.Email, CreatedAt: benchTime}
	for _, l := range a.Request.Lines {
		o.Items = append(o.Items, order.Item{ProductID: l.ProductID, Quantity: l.Quantity})
	}
	return order.Claim{Key: a.Key, LeaseID: uuid.New(), Order: o}, nil
}

func (memStore) RecordReservation(_ context.Context, id uuid.UUID, items []order.Item, currency string, total int64) (order.Order, error) {
	return order.Order{ID: id, Status: order.Reserved, Email: "ada@example.com", Items: items,
		TotalCents: total, Currency: currency, CreatedAt: benchTime}, nil
}

func (memStore) Confirm(context.Context, order.Claim, []byte, outbox.Event) error { return nil }

type memCatalog struct{ checkout.Catalog }

func (memCatalog) Reserve(_ context.Context, _ uuid.UUID, lines []order.Line) (order.Reservation, error) {
	r := order.Reservation{Status: "reserved"}
	for _, l := range lines {
		r.Items = append(r.Items, order.ReservedItem{ProductID: l.ProductID, SKU: "MUG-001", Name: "Gopher Mug",
			Quantity: l.Quantity, UnitPriceCents: 1299, Currency: "USD"})
	}
	return r, nil
}

func (memCatalog) Confirm(context.Context, uuid.UUID) error { return nil }

// BenchmarkPlaceOrder is POST /api/orders with a two-line order and a new
// Idempotency-Key each time.
func BenchmarkPlaceOrder(b *testing.B) {
	h := newBenchHandler()
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		placeOrder(b, h, n)
	}
}

// BenchmarkTracingPlaceOrder is the write path with telemetry off, at 10 %
// and at 100 % sampling, exporting over OTLP/HTTP
// (oteltest.BenchTracing): make bench's "Tracing cost" rows.
func BenchmarkTracingPlaceOrder(b *testing.B) {
	n := 0
	oteltest.BenchTracing(b, newBenchHandler, func(b *testing.B, h http.Handler) {
		n++
		placeOrder(b, h, n)
	})
}

func newBenchHandler() http.Handler {
	return web.NewHandler(logging.New(io.Discard, "info", "orders"), memStore{}, memCatalog{}, web.Config{})
}

const benchOrder = `{"email":"ada@example.com","items":[` +
	`{"product_id":"0b1c2d3e-4f50-4617-8899-aabbccddeeff","quantity":2},` +
	`{"product_id":"1b1c2d3e-4f50-4617-8899-aabbccddeeff","quantity":1}]}`

// placeOrder posts the order with key number n.
func placeOrder(b *testing.B, h http.Handler, n int) {
	req := httptest.NewRequest(http.MethodPost, "/api/orders", strings.NewReader(benchOrder))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "bench-"+strconv.Itoa(n))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusCreated {
		b.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
}
