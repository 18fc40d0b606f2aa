package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fargateshop/shop/apps/orders/internal/order"
	"github.com/fargateshop/shop/apps/orders/internal/outbox"
	"github.com/fargateshop/shop/apps/orders/internal/postgres"
	"github.com/fargateshop/shop/platform/events"
	platformpg "github.com/fargateshop/shop/platform/postgres"
	"github.com/fargateshop/shop/platform/routing"
)

// confirmedEvent returns the order.confirmed event of o.
func confirmedEvent(t *testing.T, o order.Order) outbox.Event {
	t.Helper()
	e, err := outbox.OrderConfirmed(context.Background(), o, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func outboxRows(t *testing.T, pool *platformpg.Pool, orderID uuid.UUID) int {
	t.Helper()
	return count(t, pool, `SELECT count(*) FROM orders.outbox WHERE order_id = $1`, orderID)
}

func TestConfirmWritesItsEventInTheSameTransaction(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	c := begin(t, s, "k1", time.Minute)
	ev := confirmedEvent(t, reserved(t, s, c.Order.ID))
	if err := s.Confirm(ctx, c, []byte(`{}`), ev); err != nil {
		t.Fatal(err)
	}

	var (
		id          uuid.UUID
		topic, typ  string
		body        []byte
		unsent      bool
		attempts    int
		traceparent *string
	)
	if err := pool.QueryRow(ctx, `SELECT id, topic, type, body, sent_at IS NULL, attempts, traceparent
		FROM orders.outbox WHERE order_id = $1`, c.Order.ID).
		Scan(&id, &topic, &typ, &body, &unsent, &attempts, &traceparent); err != nil {
		t.Fatalf("read the event of order %s: %v", c.Order.ID, err)
	}
	if id != ev.ID || topic != routing.OrderEvents || typ != events.TypeOrderConfirmed || !unsent || attempts != 0 {
		t.Errorf("row %s %s %s unsent=%v attempts=%d, want %s %s %s unsent, 0 attempts",
			id, topic, typ, unsent, attempts, ev.ID, routing.OrderEvents, events.TypeOrderConfirmed)
	}
	if traceparent != nil {
		t.Errorf("traceparent %q written without a span in the context", *traceparent)
	}
	got, err := events.DecodeOrderConfirmed(body)
	if err != nil {
		t.Fatalf("stored body %s: %v", body, err)
	}
	want := []events.Item{
		{ProductID: request.Lines[0].ProductID, SKU: "A", Quantity: 2},
		{ProductID: request.Lines[1].ProductID, SKU: "B", Quantity: 1},
	}
	if got.ID != ev.ID || got.Order.ID != c.Order.ID || got.Order.Email != request.Email ||
		got.Order.TotalCents != 500 || got.Order.Currency != "EUR" || len(got.Order.Items) != 2 ||
		got.Order.Items[0] != want[0] || got.Order.Items[1] != want[1] {
		t.Errorf("event %+v, want order %s of %s with items %+v, 500 EUR", got, c.Order.ID, request.Email, want)
	}

	// A replayed confirmation changes nothing and adds no event.
	if err := s.Confirm(ctx, c, []byte(`{}`), confirmedEvent(t, c.Order)); !errors.Is(err, order.ErrStateChanged) {
		t.Errorf("second Confirm: %v, want ErrStateChanged", err)
	}
	if n := outboxRows(t, pool, c.Order.ID); n != 1 {
		t.Errorf("%d events after a replayed Confirm, want 1", n)
	}

	// An event that cannot be written (here: its id is taken) takes the
	// confirmation down with it.
	c2 := begin(t, s, "k2", time.Minute)
	dup := confirmedEvent(t, reserved(t, s, c2.Order.ID))
	dup.ID = ev.ID
	if err := s.Confirm(ctx, c2, []byte(`{}`), dup); err == nil {
		t.Fatal("Confirm with an event that cannot be stored succeeded")
	}
	o, err := s.Get(ctx, c2.Order.ID)
	if err != nil || o.Status != order.Reserved {
		t.Errorf("order %s after the failed Confirm: %v, %v; want still reserved", c2.Order.ID, o.Status, err)
	}
	if n := count(t, pool, `SELECT count(*) FROM orders.idempotency_keys WHERE key = 'k2' AND response_status IS NULL`); n != 1 {
		t.Errorf("the failed Confirm completed the key")
	}
	if n := outboxRows(t, pool, c2.Order.ID); n != 0 {
		t.Errorf("%d events for an order that is not confirmed, want 0", n)
	}
}

func TestNoEventForAnOrderThatIsNotConfirmed(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()

	pending := begin(t, s, "pending", time.Minute)
	if err := s.Confirm(ctx, pending, []byte(`{}`), confirmedEvent(t, pending.Order)); !errors.Is(err, order.ErrStateChanged) {
		t.Errorf("confirming a pending order: %v, want ErrStateChanged", err)
	}
	refused := begin(t, s, "refused", time.Minute)
	fail(t, s, refused, &order.Response{Status: 409, Body: []byte(`{}`)})
	failed := begin(t, s, "failed", time.Minute)
	reserved(t, s, failed.Order.ID)
	fail(t, s, failed, nil)

	if n := count(t, pool, `SELECT count(*) FROM orders.outbox`); n != 0 {
		t.Errorf("%d events for pending, refused and failed orders, want 0", n)
	}
}

// confirmOrder confirms a new order under key and returns its event.
func confirmOrder(t *testing.T, s *postgres.Store, key string) outbox.Event {
	t.Helper()
	c := begin(t, s, key, time.Minute)
	ev := confirmedEvent(t, reserved(t, s, c.Order.ID))
	if err := s.Confirm(context.Background(), c, []byte(`{}`), ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestDeleteSentKeepsRecentAndUnsentEvents(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	var old []uuid.UUID
	for i := range 3 {
		old = append(old, confirmOrder(t, s, fmt.Sprint("old", i)).ID)
	}
	recent := confirmOrder(t, s, "recent").ID
	unsent := confirmOrder(t, s, "unsent").ID
	// Moved, not waited for: three were sent two days ago, one just now.
	if _, err := pool.Exec(ctx, `UPDATE orders.outbox SET sent_at = now() - interval '2 days' WHERE id = ANY($1::uuid[])`,
		[]string{old[0].String(), old[1].String(), old[2].String()}); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE orders.outbox SET sent_at = now() WHERE id = $1`, recent); err != nil {
		t.Fatal(err)
	}

	for _, want := range []int64{2, 1, 0} { // limit 2: a batch at a time
		if n, err := s.DeleteSent(ctx, 24*time.Hour, 2); err != nil || n != want {
			t.Fatalf("DeleteSent = %d, %v; want %d", n, err, want)
		}
	}
	if n := count(t, pool, `SELECT count(*) FROM orders.outbox WHERE id = ANY($1::uuid[])`,
		[]string{recent.String(), unsent.String()}); n != 2 {
		t.Errorf("%d of the recent and the unsent events left, want both", n)
	}
}

func TestBacklogCountsUnsentEvents(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	if b, err := s.Backlog(ctx); err != nil || b != (outbox.Backlog{}) {
		t.Errorf("empty outbox: %+v, %v; want zero", b, err)
	}
	first := confirmOrder(t, s, "first").ID
	confirmOrder(t, s, "second")
	sent := confirmOrder(t, s, "sent").ID
	if _, err := pool.Exec(ctx, `UPDATE orders.outbox SET created_at = now() - interval '1 minute' WHERE id = $1`, first); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE orders.outbox SET sent_at = now(), created_at = now() - interval '1 hour' WHERE id = $1`, sent); err != nil {
		t.Fatal(err)
	}
	b, err := s.Backlog(ctx)
	if err != nil || b.Unsent != 2 || b.Oldest < time.Minute || b.Oldest > 2*time.Minute {
		t.Errorf("Backlog = %+v, %v; want 2 unsent, the oldest about a minute old", b, err)
	}
}
