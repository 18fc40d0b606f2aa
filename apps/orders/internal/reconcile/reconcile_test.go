package reconcile_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/fargateshop/shop/apps/orders/internal/catalog"
	"github.com/fargateshop/shop/apps/orders/internal/catalog/catalogtest"
	"github.com/fargateshop/shop/apps/orders/internal/order"
	"github.com/fargateshop/shop/apps/orders/internal/postgres"
	"github.com/fargateshop/shop/apps/orders/internal/reconcile"
	"github.com/fargateshop/shop/platform/events"
	platformpg "github.com/fargateshop/shop/platform/postgres"
	"github.com/fargateshop/shop/platform/postgres/postgrestest"
)

type env struct {
	store *postgres.Store
	pool  *platformpg.Pool
	fake  *catalogtest.Server
	cat   *catalog.Client
	rec   *reconcile.Reconciler
	chair string
	req   order.Request
}

func newEnv(t *testing.T) *env {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool := postgrestest.NewPool(t, postgres.Migrate)
	e := &env{store: postgres.New(pool), pool: pool, fake: catalogtest.New(t)}
	e.cat = catalog.New(e.fake.URL, log)
	e.chair = e.fake.AddProduct(catalogtest.Product{SKU: "CH-1", Name: "Chair", UnitPriceCents: 1250, Stock: 5})
	e.req = order.Request{Email: "ada@example.com", Lines: []order.Line{{ProductID: e.chair, Quantity: 2}}}
	e.rec = reconcile.New(log, e.store, e.cat, 30*time.Second)
	return e
}

// begin starts an order whose request then "dies"; ageOrders makes it
// look stuck.
func (e *env) begin(t *testing.T, key string) order.Claim {
	t.Helper()
	ctx := context.Background()
	c, err := e.store.Begin(ctx, order.Attempt{Key: key, Fingerprint: order.Fingerprint(e.req), Request: e.req,
		NewOrderID: uuid.New(), Lease: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ageOrders moves time for every order: their leases ran out and they were
// last changed a minute ago. Moved, not slept through.
func (e *env) ageOrders(t *testing.T) {
	t.Helper()
	for _, q := range []string{
		`UPDATE orders.idempotency_keys SET locked_until = now() - interval '1 second'`,
		`UPDATE orders.orders SET updated_at = now() - interval '1 minute'`,
	} {
		if _, err := e.pool.Exec(context.Background(), q); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *env) reserveAndRecord(t *testing.T, c order.Claim) {
	t.Helper()
	ctx := context.Background()
	res, err := e.cat.Reserve(ctx, c.Order.ID, e.req.Lines)
	if err != nil {
		t.Fatal(err)
	}
	items, cur, total, err := order.Priced(e.req.Lines, res)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.RecordReservation(ctx, c.Order.ID, items, cur, total); err != nil {
		t.Fatal(err)
	}
}

func (e *env) once(t *testing.T, want int) {
	t.Helper()
	n, err := e.rec.Once(context.Background())
	if err != nil || n != want {
		t.Fatalf("Once = %d, %v; want %d settled", n, err, want)
	}
}

// events returns the order.confirmed events in the outbox for order id.
func (e *env) events(t *testing.T, id uuid.UUID) []events.OrderConfirmed {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT body FROM orders.outbox WHERE order_id = $1`, id)
	if err != nil {
		t.Fatal(err)
	}
	bodies, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		t.Fatal(err)
	}
	out := make([]events.OrderConfirmed, len(bodies))
	for i, b := range bodies {
		if out[i], err = events.DecodeOrderConfirmed(b); err != nil {
			t.Fatalf("event of order %s: %v", id, err)
		}
	}
	return out
}

func (e *env) status(t *testing.T, id uuid.UUID) order.Status {
	t.Helper()
	o, err := e.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return o.Status
}

func TestStuckReservationIsReleased(t *testing.T) {
	t.Parallel()
	for _, stage := range []string{"pending, reserved at catalog", "reserved", "pending, never reached catalog"} {
		t.Run(stage, func(t *testing.T) {
			e := newEnv(t)
			c := e.begin(t, "k")
			switch stage {
			case "pending, reserved at catalog":
				if _, err := e.cat.Reserve(context.Background(), c.Order.ID, e.req.Lines); err != nil {
					t.Fatal(err)
				}
			case "reserved":
				e.reserveAndRecord(t, c)
			}
			e.ageOrders(t)
			e.once(t, 1)

			if got := e.status(t, c.Order.ID); got != order.Failed {
				t.Errorf("order %s, want failed", got)
			}
			if n := len(e.events(t, c.Order.ID)); n != 0 {
				t.Errorf("%d events for a released order, want 0", n)
			}
			if e.fake.Stock(e.chair) != 5 || e.fake.Status(c.Order.ID) != "released" {
				t.Errorf("stock %d, reservation %q; want 5, released", e.fake.Stock(e.chair), e.fake.Status(c.Order.ID))
			}
			// A late reserve for the order (the dead request's retry) takes nothing.
			if res, err := e.cat.Reserve(context.Background(), c.Order.ID, e.req.Lines); err != nil || res.Status != "released" || e.fake.Stock(e.chair) != 5 {
				t.Errorf("late reserve %+v, %v, stock %d", res, err, e.fake.Stock(e.chair))
			}
			e.once(t, 0)
		})
	}
}

func TestStuckConfirmedOrderIsConfirmed(t *testing.T) {
	t.Parallel()
	for _, stage := range []string{"reserved", "pending"} {
		t.Run(stage, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			c := e.begin(t, "k")
			if stage == "reserved" {
				e.reserveAndRecord(t, c)
			} else if _, err := e.cat.Reserve(ctx, c.Order.ID, e.req.Lines); err != nil {
				t.Fatal(err)
			}
			// The request confirmed at catalog and died before marking the order.
			if err := e.cat.Confirm(ctx, c.Order.ID); err != nil {
				t.Fatal(err)
			}
			e.ageOrders(t)
			e.once(t, 1)

			o, err := e.store.Get(ctx, c.Order.ID)
			if err != nil || o.Status != order.Confirmed || o.TotalCents != 2500 || o.Items[0].Name != "Chair" {
				t.Fatalf("order %+v, %v; want confirmed with catalog's names and prices", o, err)
			}
			if e.fake.Stock(e.chair) != 3 {
				t.Errorf("stock %d, want 3", e.fake.Stock(e.chair))
			}
			// Its order.confirmed event was written with the settlement.
			evs := e.events(t, c.Order.ID)
			if len(evs) != 1 {
				t.Fatalf("%d events for the settled order, want 1", len(evs))
			}
			want := events.Item{ProductID: e.chair, SKU: "CH-1", Quantity: 2}
			if ev := evs[0]; ev.Order.ID != c.Order.ID || ev.Order.TotalCents != 2500 || len(ev.Order.Items) != 1 || ev.Order.Items[0] != want {
				t.Errorf("event %+v, want order %s, 2500, items [%+v]", ev, c.Order.ID, want)
			}
			// The client's retry replays the 201 the request never sent.
			replay, err := e.store.Begin(ctx, order.Attempt{Key: "k", Fingerprint: order.Fingerprint(e.req),
				Request: e.req, NewOrderID: uuid.New(), Lease: time.Minute})
			if err != nil || replay.Replay == nil || replay.Replay.Status != 201 {
				t.Fatalf("retry %+v, %v; want a replayed 201", replay, err)
			}
			var body order.Order
			if err := json.Unmarshal(replay.Replay.Body, &body); err != nil || body.ID != c.Order.ID || body.Status != order.Confirmed {
				t.Errorf("replayed body %s", replay.Replay.Body)
			}
		})
	}
}

// stuckWhileCatalogDown leaves a reserved order stuck, and catalog down.
func (e *env) stuckWhileCatalogDown(t *testing.T) order.Claim {
	t.Helper()
	c := e.begin(t, "k")
	e.reserveAndRecord(t, c)
	e.ageOrders(t)
	e.fake.Close()
	return c
}

func TestCatalogDownLeavesOrderForLater(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.stuckWhileCatalogDown(t)

	if n, err := e.rec.Once(context.Background()); err == nil || n != 0 {
		t.Fatalf("Once with catalog down = %d, %v; want an error", n, err)
	}
	if got := e.status(t, c.Order.ID); got != order.Reserved {
		t.Errorf("order %s, want still reserved", got)
	}
	// The lease was given back, so the next round may try again at once.
	claims, err := e.store.ClaimStuck(context.Background(), time.Second, time.Minute, 10)
	if err != nil || len(claims) != 1 {
		t.Errorf("claims %d, %v; want the order claimable again", len(claims), err)
	}
}

// failNotifier tells the test each time the reconciler marks an order failed.
type failNotifier struct {
	*postgres.Store
	failed chan uuid.UUID
}

func (f failNotifier) Fail(ctx context.Context, c order.Claim, reason string, resp *order.Response) error {
	err := f.Store.Fail(ctx, c, reason, resp)
	if err == nil {
		f.failed <- c.Order.ID
	}
	return err
}

func TestRunStopsWithContext(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.begin(t, "k")
	e.ageOrders(t)
	store := failNotifier{Store: e.store, failed: make(chan uuid.UUID, 1)}
	rec := reconcile.New(slog.New(slog.NewTextHandler(io.Discard, nil)), store, e.cat, 30*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rec.Run(ctx, 10*time.Millisecond); close(done) }()
	// The bounds below only turn a hang into a failure; nothing waits them out.
	select {
	case id := <-store.failed:
		if id != c.Order.ID {
			t.Errorf("settled order %s, want %s", id, c.Order.ID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run never settled the stuck order")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop after cancel")
	}
}

// leaseStuck is a store whose leases cannot be given back.
type leaseStuck struct{ *postgres.Store }

var errLeaseStuck = errors.New("lease stuck")

func (leaseStuck) ReleaseLease(context.Context, order.Claim) error { return errLeaseStuck }

// TestLeaseReleaseFailureIsReported: when settling fails and the lease
// cannot be given back either, Once says so (the order then waits out its
// lease instead of being retried next round).
func TestLeaseReleaseFailureIsReported(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.stuckWhileCatalogDown(t)
	rec := reconcile.New(slog.New(slog.NewTextHandler(io.Discard, nil)), leaseStuck{e.store}, e.cat, 30*time.Second)
	if _, err := rec.Once(context.Background()); !errors.Is(err, errLeaseStuck) {
		t.Errorf("Once = %v, want it to report %v", err, errLeaseStuck)
	}
}
