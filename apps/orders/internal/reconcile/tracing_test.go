package reconcile_test

import (
	"context"
	"fmt"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"

	"github.com/fargateshop/shop/apps/orders/internal/checkout"
	"github.com/fargateshop/shop/apps/orders/internal/order"
	"github.com/fargateshop/shop/platform/oteltest"
)

// TestRoundWithWorkIsOneTrace: a round that settles stuck orders is one
// "reconcile" trace of its own (a root, even when the caller's context
// carries a span), with a "settle order" child per order carrying its id,
// and shop.reconciler.settlements counts each order by how it ended. These
// tests record into the binary's one meter provider (see oteltest), so they
// do not run in parallel and compare counts before and after.
func TestRoundWithWorkIsOneTrace(t *testing.T) {
	rec := oteltest.Install(t)
	e := newEnv(t)
	released := e.begin(t, "released")
	e.reserveAndRecord(t, released)
	confirmed := e.begin(t, "confirmed")
	e.reserveAndRecord(t, confirmed)
	if err := e.cat.Confirm(context.Background(), confirmed.Order.ID); err != nil {
		t.Fatal(err)
	}
	e.ageOrders(t)
	count := func(outcome string) int64 {
		return oteltest.Count(t, "shop.reconciler.settlements", attribute.String("outcome", outcome))
	}
	beforeReleased, beforeConfirmed := count(checkout.Released), count(checkout.Confirmed)
	rec.Reset()

	ctx, unrelated := otel.Tracer("test").Start(context.Background(), "unrelated")
	n, err := e.rec.Once(ctx)
	unrelated.End()
	if err != nil || n != 2 {
		t.Fatalf("Once = %d, %v; want 2 settled", n, err)
	}

	rounds := rec.Named("reconcile")
	if len(rounds) != 1 {
		t.Fatalf("got %d reconcile spans, want 1", len(rounds))
	}
	round := rounds[0]
	if round.Parent().IsValid() {
		t.Errorf("reconcile span has parent %s, want the root of its own trace", round.Parent().SpanID())
	}
	settles := rec.Named("settle order")
	want := map[string]string{released.Order.ID.String(): checkout.Released, confirmed.Order.ID.String(): checkout.Confirmed}
	if len(settles) != len(want) {
		t.Fatalf("got %d settle order spans, want %d", len(settles), len(want))
	}
	for _, s := range settles {
		if s.Parent().SpanID() != round.SpanContext().SpanID() {
			t.Errorf("settle order span under %s, want the round's %s", s.Parent().SpanID(), round.SpanContext().SpanID())
		}
		id, _ := oteltest.Attr(s, "shop.order.id")
		how, ok := want[id.AsString()]
		if !ok {
			t.Errorf("settle order span with shop.order.id %q, want one of %v", id.AsString(), want)
			continue
		}
		delete(want, id.AsString())
		if got, _ := oteltest.Attr(s, "shop.outcome"); got.AsString() != how {
			t.Errorf("order %s: shop.outcome %q, want %q", id.AsString(), got.AsString(), how)
		}
	}
	// The confirmed order's event continues the trace from its settle span.
	var traceparent string
	if err := e.pool.QueryRow(context.Background(), `SELECT traceparent FROM orders.outbox WHERE order_id = $1`,
		confirmed.Order.ID).Scan(&traceparent); err != nil {
		t.Fatalf("event of the settled order: %v", err)
	}
	for _, s := range settles {
		if id, _ := oteltest.Attr(s, "shop.order.id"); id.AsString() == confirmed.Order.ID.String() {
			sc := s.SpanContext()
			if want := fmt.Sprintf("00-%s-%s-01", sc.TraceID(), sc.SpanID()); traceparent != want {
				t.Errorf("event traceparent %q, want the settle span's %q", traceparent, want)
			}
		}
	}
	if got := count(checkout.Released) - beforeReleased; got != 1 {
		t.Errorf("settlements{outcome=released} grew by %d, want 1", got)
	}
	if got := count(checkout.Confirmed) - beforeConfirmed; got != 1 {
		t.Errorf("settlements{outcome=confirmed} grew by %d, want 1", got)
	}
	if got := e.status(t, released.Order.ID); got != order.Failed {
		t.Errorf("released order %s, want failed", got)
	}

	// Nothing left to settle: no span at all, the store's poll included.
	rec.Reset()
	e.once(t, 0)
	if spans := rec.Ended(); len(spans) != 0 {
		names := make([]string, len(spans))
		for i, s := range spans {
			names[i] = s.Name()
		}
		t.Errorf("an idle round made spans %v, want none", names)
	}
	if got := count(checkout.Released) + count(checkout.Confirmed) - beforeReleased - beforeConfirmed; got != 2 {
		t.Errorf("an idle round changed the settlements to %d, want still 2", got)
	}
}

// TestFailedSettlementIsAnErrorSpan: an order the round could not settle
// (catalog down) ends its span in error and is not counted as settled.
func TestFailedSettlementIsAnErrorSpan(t *testing.T) {
	rec := oteltest.Install(t)
	e := newEnv(t)
	c := e.stuckWhileCatalogDown(t)
	before := oteltest.Count(t, "shop.reconciler.settlements")
	rec.Reset()
	if _, err := e.rec.Once(context.Background()); err == nil {
		t.Fatal("Once with catalog down: nil error, want one")
	}
	settles := rec.Named("settle order")
	if len(settles) != 1 {
		t.Fatalf("got %d settle order spans, want 1", len(settles))
	}
	if id, _ := oteltest.Attr(settles[0], "shop.order.id"); id.AsString() != c.Order.ID.String() {
		t.Errorf("shop.order.id %q, want %s", id.AsString(), c.Order.ID)
	}
	if got := settles[0].Status().Code.String(); got != "Error" {
		t.Errorf("settle order status %s, want Error", got)
	}
	if rounds := rec.Named("reconcile"); len(rounds) != 1 || rounds[0].Status().Code.String() != "Error" {
		t.Errorf("reconcile spans %d, want 1 in Error", len(rounds))
	}
	if got := oteltest.Count(t, "shop.reconciler.settlements") - before; got != 0 {
		t.Errorf("settlements grew by %d, want 0", got)
	}
}
