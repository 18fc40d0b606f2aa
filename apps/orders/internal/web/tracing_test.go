package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"

	"github.com/fargateshop/shop/apps/orders/internal/checkout"
	"github.com/fargateshop/shop/platform/oteltest"
)

// TestOrdersCountedByOutcome: every order attempt that reaches catalog
// adds one to shop.orders under its outcome, and nothing under the others;
// a replayed answer is not a new attempt. These tests record into the
// binary's one meter provider (see oteltest), so they do not run in
// parallel and compare counts before and after.
func TestOrdersCountedByOutcome(t *testing.T) {
	outcomes := []string{checkout.Confirmed, checkout.Refused, checkout.Failed}
	tests := []struct {
		name       string
		body       func(e *env) string
		setup      func(e *env)
		wantStatus int
		want       string // outcome counted; "" for none
		replay     bool   // send it twice with the same key
	}{
		{name: "placed", body: func(e *env) string { return orderBody("ada@example.com", e.chair, 1) },
			wantStatus: http.StatusCreated, want: checkout.Confirmed},
		{name: "out of stock", body: func(e *env) string { return orderBody("ada@example.com", e.desk, 3) },
			wantStatus: http.StatusConflict, want: checkout.Refused},
		{name: "unknown product", body: func(e *env) string { return orderBody("ada@example.com", uuid.NewString(), 1) },
			wantStatus: http.StatusUnprocessableEntity, want: checkout.Refused},
		{name: "catalog down", body: func(e *env) string { return orderBody("ada@example.com", e.chair, 1) },
			setup: func(e *env) { e.cat.Close() }, wantStatus: http.StatusServiceUnavailable, want: checkout.Failed},
		{name: "invalid, never reaches catalog", body: func(e *env) string { return orderBody("not-an-email", e.chair, 1) },
			wantStatus: http.StatusUnprocessableEntity},
		{name: "replayed", body: func(e *env) string { return orderBody("ada@example.com", e.chair, 1) },
			wantStatus: http.StatusCreated, want: checkout.Confirmed, replay: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oteltest.Install(t)
			e := newEnv(t, 30*time.Second)
			if tt.setup != nil {
				tt.setup(e)
			}
			before := map[string]int64{}
			for _, o := range outcomes {
				before[o] = oteltest.Count(t, "shop.orders", attribute.String("outcome", o))
			}
			r := e.post(t, "k-1", tt.body(e))
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", r.status, tt.wantStatus, r.body)
			}
			if tt.replay {
				if again := e.post(t, "k-1", tt.body(e)); again.header.Get("Idempotent-Replayed") != "true" {
					t.Fatalf("second post was not a replay: %d %s", again.status, again.body)
				}
			}
			for _, o := range outcomes {
				want := int64(0)
				if o == tt.want {
					want = 1
				}
				if got := oteltest.Count(t, "shop.orders", attribute.String("outcome", o)) - before[o]; got != want {
					t.Errorf("shop.orders{outcome=%s} grew by %d, want %d", o, got, want)
				}
			}
		})
	}
}

// TestOrderRequestSpan: the request's server span is named after the route
// and carries the order's id, and catalog's calls and the database's
// queries are in the same trace.
func TestOrderRequestSpan(t *testing.T) {
	rec := oteltest.Install(t)
	e := newEnv(t, 30*time.Second)
	r := e.post(t, "k-1", orderBody("ada@example.com", e.chair, 1))
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	servers := rec.Named("POST /api/orders")
	if len(servers) != 1 {
		t.Fatalf("got %d spans named POST /api/orders, want 1", len(servers))
	}
	server := servers[0]
	id := strings.TrimPrefix(r.header.Get("Location"), "/api/orders/")
	if v, _ := oteltest.Attr(server, "shop.order.id"); v.AsString() != id {
		t.Errorf("shop.order.id %q, want the order's %q", v.AsString(), id)
	}
	// The order's event carries the request's trace to its publication.
	var traceparent string
	if err := e.pool.QueryRow(context.Background(), `SELECT traceparent FROM orders.outbox WHERE order_id = $1`, id).
		Scan(&traceparent); err != nil {
		t.Fatalf("the order's event: %v", err)
	}
	if !strings.HasPrefix(traceparent, "00-"+server.SpanContext().TraceID().String()+"-") {
		t.Errorf("event traceparent %q, want the request's trace %s", traceparent, server.SpanContext().TraceID())
	}
	calls := rec.Named("POST catalog")
	if len(calls) < 2 { // reserve, then confirm
		t.Fatalf("got %d spans named POST catalog, want the reserve and the confirm", len(calls))
	}
	for _, c := range calls {
		if c.SpanContext().TraceID() != server.SpanContext().TraceID() {
			t.Errorf("catalog call in trace %s, want the request's %s", c.SpanContext().TraceID(), server.SpanContext().TraceID())
		}
	}
	queries := 0
	for _, s := range rec.Ended() {
		if v, _ := oteltest.Attr(s, "db.system.name"); v.AsString() == "postgresql" && s.SpanContext().TraceID() == server.SpanContext().TraceID() {
			queries++
		}
	}
	if queries == 0 {
		t.Error("no database span in the request's trace")
	}
}
