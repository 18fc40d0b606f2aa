package postgres_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fargateshop/shop/apps/orders/internal/order"
	"github.com/fargateshop/shop/apps/orders/internal/postgres"
	"github.com/fargateshop/shop/platform/apperr"
	platformpg "github.com/fargateshop/shop/platform/postgres"
	"github.com/fargateshop/shop/platform/postgres/postgrestest"
)

func newStore(t *testing.T) (*postgres.Store, *platformpg.Pool) {
	t.Helper()
	pool := postgrestest.NewPool(t, postgres.Migrate)
	return postgres.New(pool), pool
}

var request = order.Request{Email: "ada@example.com", Lines: []order.Line{
	{ProductID: "0b9e3f8c-1d2a-4c5b-9e6f-7a8b9c0d1e2f", Quantity: 2},
	{ProductID: "1c0f4a9d-2e3b-4d6c-8f70-8b9c0d1e2f3a", Quantity: 1},
}}

func attempt(key string, lease time.Duration) order.Attempt {
	return order.Attempt{Key: key, Fingerprint: order.Fingerprint(request), Request: request,
		NewOrderID: uuid.New(), Lease: lease}
}

// begin starts an attempt under key and fails the test if it cannot.
func begin(t *testing.T, s *postgres.Store, key string, lease time.Duration) order.Claim {
	t.Helper()
	c, err := s.Begin(context.Background(), attempt(key, lease))
	if err != nil {
		t.Fatalf("begin %s: %v", key, err)
	}
	return c
}

// fail fails c's order, storing resp when it is not nil.
func fail(t *testing.T, s *postgres.Store, c order.Claim, resp *order.Response) {
	t.Helper()
	if err := s.Fail(context.Background(), c, "failed by the test", resp); err != nil {
		t.Fatalf("fail order %s: %v", c.Order.ID, err)
	}
}

// expireLease moves the lease of key into the past, as if the attempt
// holding it had died that long ago.
func expireLease(t *testing.T, pool *platformpg.Pool, key string) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), `UPDATE orders.idempotency_keys
		SET locked_until = now() - interval '1 second' WHERE key = $1`, key); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, pool *platformpg.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func reserved(t *testing.T, s *postgres.Store, id uuid.UUID) order.Order {
	t.Helper()
	items := []order.Item{
		{ProductID: request.Lines[0].ProductID, SKU: "A", Name: "Chair", UnitPriceCents: 100},
		{ProductID: request.Lines[1].ProductID, SKU: "B", Name: "Desk", UnitPriceCents: 300},
	}
	o, err := s.RecordReservation(context.Background(), id, items, "EUR", 500)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestBeginStoresKeyAndPendingOrderInOneTransaction(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	a := attempt("k1", time.Minute)
	c, err := s.Begin(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if c.Replay != nil || c.Resumed || c.Order.ID != a.NewOrderID || c.Order.Status != order.Pending || len(c.Order.Items) != 2 {
		t.Fatalf("claim %+v, want a new pending order %s with 2 items", c, a.NewOrderID)
	}
	if n := count(t, pool, `SELECT count(*) FROM orders.idempotency_keys WHERE key = 'k1' AND order_id = $1`, a.NewOrderID); n != 1 {
		t.Errorf("key rows %d, want 1", n)
	}

	// When the order insert fails, the key must not stay behind.
	b := attempt("k2", time.Minute)
	b.NewOrderID = a.NewOrderID // primary key violation on orders
	if _, err := s.Begin(ctx, b); err == nil {
		t.Fatal("Begin with a duplicate order id succeeded")
	}
	if n := count(t, pool, `SELECT count(*) FROM orders.idempotency_keys WHERE key = 'k2'`); n != 0 {
		t.Errorf("key k2 stored without its order")
	}
}

func TestBeginKnownKey(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	first := begin(t, s, "k", time.Minute)

	if _, err := s.Begin(ctx, attempt("k", time.Minute)); !errors.Is(err, order.ErrInProgress) {
		t.Errorf("same key while leased: %v, want ErrInProgress", err)
	}
	other := attempt("k", time.Minute)
	other.Fingerprint = order.Fingerprint(order.Request{Email: "bob@example.com", Lines: request.Lines})
	if _, err := s.Begin(ctx, other); !errors.Is(err, order.ErrKeyReused) {
		t.Errorf("same key, other body: %v, want ErrKeyReused", err)
	}

	reserved(t, s, first.Order.ID)
	if err := s.Confirm(ctx, first, []byte(`{"id":"x"}`), confirmedEvent(t, first.Order)); err != nil {
		t.Fatal(err)
	}
	c, err := s.Begin(ctx, attempt("k", time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if c.Replay == nil || c.Replay.Status != 201 || string(c.Replay.Body) != `{"id":"x"}` || c.Order.ID != first.Order.ID {
		t.Errorf("replay %+v of order %s, want the stored 201", c.Replay, c.Order.ID)
	}
	o, err := s.Get(ctx, first.Order.ID)
	if err != nil || o.Status != order.Confirmed || o.Currency != "EUR" || o.TotalCents != 500 || o.Items[1].Name != "Desk" {
		t.Errorf("Get = %+v, %v", o, err)
	}
}

// TestBeginAfterFail: a failed order whose answer was stored replays it;
// one failed without an answer (released while the client waited, so it
// never heard) is taken over by the retry as a fresh order, and the
// failed one is kept.
func TestBeginAfterFail(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	answered, released := begin(t, s, "answered", time.Minute), begin(t, s, "released", time.Minute)
	fail(t, s, answered, &order.Response{Status: 409, Body: []byte(`{"status":409}`)})
	fail(t, s, released, nil) // as the reconciler does when catalog released the order

	again, err := s.Begin(ctx, attempt("answered", time.Minute))
	if err != nil || again.Replay == nil || again.Replay.Status != 409 {
		t.Fatalf("Begin after a stored 409 = %+v, %v; want the replay", again, err)
	}
	if err := s.Fail(ctx, answered, "again", nil); !errors.Is(err, order.ErrStateChanged) {
		t.Errorf("failing a failed order: %v, want ErrStateChanged", err)
	}

	a := attempt("released", time.Minute)
	c, err := s.Begin(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Resumed || c.Order.ID != a.NewOrderID || c.Order.Status != order.Pending {
		t.Fatalf("claim %+v, want fresh pending order %s", c, a.NewOrderID)
	}
	if n := count(t, pool, `SELECT count(*) FROM orders.orders`); n != 3 {
		t.Errorf("orders %d, want 3 (the failed ones are kept)", n)
	}
}

func TestLeaseTakeoverResumesTheSameOrder(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	first := begin(t, s, "k", time.Minute)
	reserved(t, s, first.Order.ID) // the first attempt got as far as reserving, then "died"
	expireLease(t, pool, "k")

	second, err := s.Begin(ctx, attempt("k", time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !second.Resumed || second.Order.ID != first.Order.ID || second.Order.Status != order.Reserved || second.LeaseID == first.LeaseID {
		t.Fatalf("takeover %+v, want order %s resumed as reserved under a new lease", second, first.Order.ID)
	}
	// The dead attempt's lease id no longer releases anything.
	if err := s.ReleaseLease(ctx, first); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Begin(ctx, attempt("k", time.Minute)); !errors.Is(err, order.ErrInProgress) {
		t.Errorf("after a stale release: %v, want ErrInProgress (the new lease holds)", err)
	}
	// Releasing the current lease lets the next retry in at once.
	if err := s.ReleaseLease(ctx, second); err != nil {
		t.Fatal(err)
	}
	third, err := s.Begin(ctx, attempt("k", time.Minute))
	if err != nil || !third.Resumed || third.Order.ID != first.Order.ID {
		t.Errorf("after release: %+v, %v; want the same order resumed", third, err)
	}
}

func TestConcurrentSameKeyMakesOneOrder(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	const n = 20
	var (
		wg                  sync.WaitGroup
		mu                  sync.Mutex
		started, inProgress int
	)
	for range n {
		wg.Go(func() {
			_, err := s.Begin(context.Background(), attempt("same", time.Minute))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				started++
			case errors.Is(err, order.ErrInProgress):
				inProgress++
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if started != 1 || inProgress != n-1 {
		t.Errorf("started %d, in progress %d; want 1 and %d", started, inProgress, n-1)
	}
	if got := count(t, pool, `SELECT count(*) FROM orders.orders`); got != 1 {
		t.Errorf("orders %d, want 1", got)
	}
}

func TestClaimStuck(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	live := begin(t, s, "live", time.Minute)
	dead := begin(t, s, "dead", time.Minute)
	done := begin(t, s, "done", time.Minute)
	expireLease(t, pool, "dead")
	fail(t, s, done, &order.Response{Status: 409, Body: []byte("{}")})
	if _, err := pool.Exec(ctx, `UPDATE orders.orders SET updated_at = now() - interval '1 minute'`); err != nil {
		t.Fatal(err)
	}

	claims, err := s.ClaimStuck(ctx, 30*time.Second, time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(claims) != 1 || claims[0].Order.ID != dead.Order.ID || claims[0].Key != "dead" || len(claims[0].Order.Items) != 2 {
		t.Fatalf("claims %+v, want only order %s (live %s is leased)", claims, dead.Order.ID, live.Order.ID)
	}
	if again, err := s.ClaimStuck(ctx, 30*time.Second, time.Minute, 10); err != nil || len(again) != 0 {
		t.Errorf("second claim %+v, %v; want none (leased by the first)", again, err)
	}
	if _, err := s.Begin(ctx, attempt("dead", time.Minute)); !errors.Is(err, order.ErrInProgress) {
		t.Errorf("client retry while the reconciler holds the order: %v, want ErrInProgress", err)
	}
}

func TestDeleteExpiredKeys(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	for _, k := range []string{"old-done", "old-running", "new-done"} {
		c := begin(t, s, k, time.Minute)
		if k != "old-running" {
			fail(t, s, c, &order.Response{Status: 409, Body: []byte("{}")})
		}
	}
	if _, err := pool.Exec(ctx, `UPDATE orders.idempotency_keys SET created_at = now() - interval '25 hours' WHERE key LIKE 'old-%'`); err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteExpiredKeys(ctx, order.KeyRetention)
	if err != nil || n != 1 {
		t.Fatalf("deleted %d, %v; want 1", n, err)
	}
	if got := count(t, pool, `SELECT count(*) FROM orders.idempotency_keys WHERE key = 'old-done'`); got != 0 {
		t.Error("old completed key kept")
	}
}

// TestClientGoneIsNoOutage: a client that hangs up mid-order cancels its
// Begin; the error says so and is no 503, so nothing logs an outage.
func TestClientGoneIsNoOutage(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := s.Begin(ctx, attempt("k", time.Minute))
	if _, isApp := apperr.As(err); isApp || !errors.Is(err, context.Canceled) {
		t.Errorf("Begin for a client that left: %v, want context.Canceled without an apperr code", err)
	}
}

func TestUnreachableDatabaseIsUnavailable(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	pool.Close()
	_, err := s.Begin(context.Background(), attempt("k", time.Minute))
	if apperr.CodeOf(err) != apperr.Unavailable {
		t.Errorf("Begin on a closed pool: %v, want Unavailable", err)
	}
	if _, err := s.Get(context.Background(), uuid.New()); apperr.CodeOf(err) != apperr.Unavailable {
		t.Errorf("Get on a closed pool: %v, want Unavailable", err)
	}
	if err := s.Ping(context.Background()); apperr.CodeOf(err) != apperr.Unavailable {
		t.Errorf("Ping on a closed pool: %v, want Unavailable", err)
	}

	// A password the server refuses (28P01, as in the seconds of a
	// rotation) is a dependency failing, 503 and not 500.
	role := postgrestest.NewRole(t, postgrestest.NewDatabase(t), "right-password")
	pgxPool, err := pgxpool.New(context.Background(), role.URL("wrong-password"))
	if err != nil {
		t.Fatal(err)
	}
	defer pgxPool.Close()
	refused := postgres.New(&platformpg.Pool{Pool: pgxPool})
	if _, err := refused.Get(context.Background(), uuid.New()); apperr.CodeOf(err) != apperr.Unavailable {
		t.Errorf("Get with a refused login: got %s (%v), want Unavailable", apperr.CodeOf(err), err)
	}
}

// TestRecordReservationAndConfirmCheckTheState covers the batched steps of
// an order: each records every line in order, refuses an order another
// actor moved on, and then changes nothing.
func TestRecordReservationAndConfirmCheckTheState(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	c := begin(t, s, "k", time.Minute)
	if err := s.Confirm(ctx, c, []byte(`{}`), confirmedEvent(t, c.Order)); !errors.Is(err, order.ErrStateChanged) {
		t.Errorf("confirming a pending order: %v, want ErrStateChanged", err)
	}
	if n := count(t, pool, `SELECT count(*) FROM orders.idempotency_keys WHERE key = 'k' AND response_status IS NULL`); n != 1 {
		t.Errorf("a refused Confirm completed the key")
	}

	o := reserved(t, s, c.Order.ID)
	want := []order.Item{
		{ProductID: request.Lines[0].ProductID, SKU: "A", Name: "Chair", Quantity: 2, UnitPriceCents: 100},
		{ProductID: request.Lines[1].ProductID, SKU: "B", Name: "Desk", Quantity: 1, UnitPriceCents: 300},
	}
	if o.Status != order.Reserved || o.Currency != "EUR" || o.TotalCents != 500 || !slices.Equal(o.Items, want) {
		t.Errorf("RecordReservation = %+v, want reserved EUR 500 with %+v", o, want)
	}
	other := []order.Item{{ProductID: request.Lines[0].ProductID, SKU: "Z", Name: "Other", UnitPriceCents: 1}}
	if _, err := s.RecordReservation(ctx, c.Order.ID, other, "USD", 1); !errors.Is(err, order.ErrStateChanged) {
		t.Errorf("recording a reserved order again: %v, want ErrStateChanged", err)
	}
	if got, err := s.Get(ctx, c.Order.ID); err != nil || got.Currency != "EUR" || !slices.Equal(got.Items, want) {
		t.Errorf("after the refused RecordReservation, Get = %+v, %v; want it unchanged", got, err)
	}

	if _, err := s.Get(ctx, uuid.New()); !errors.Is(err, order.ErrNotFound) {
		t.Errorf("Get of an unknown order: %v, want ErrNotFound", err)
	}
}
