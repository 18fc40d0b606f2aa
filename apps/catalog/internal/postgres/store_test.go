package postgres

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fargateshop/shop/apps/catalog/internal/catalog"
	"github.com/fargateshop/shop/platform/apperr"
	platformpg "github.com/fargateshop/shop/platform/postgres"
	"github.com/fargateshop/shop/platform/postgres/postgrestest"
)

var discard = slog.New(slog.DiscardHandler)

// newStore returns a Store on a fresh, migrated database: an empty catalog.
func newStore(t *testing.T, ttl time.Duration) (*Store, *platformpg.Pool) {
	t.Helper()
	pool := postgrestest.NewPool(t, Migrate)
	return NewStore(pool, ttl), pool
}

func mustCreate(t *testing.T, s *Store, sku string, stock int) catalog.Product {
	t.Helper()
	p, err := s.CreateProduct(context.Background(), catalog.NewProduct{SKU: sku, Name: "Product " + sku,
		PriceCents: 250, Currency: "USD", Stock: stock})
	if err != nil {
		t.Fatalf("create %s: %v", sku, err)
	}
	return p
}

func stockOf(t *testing.T, s *Store, id uuid.UUID) int {
	t.Helper()
	p, err := s.Product(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return p.Stock
}

// wantStock checks that each of products has want units in stock.
func wantStock(t *testing.T, s *Store, want int, products ...catalog.Product) {
	t.Helper()
	for _, p := range products {
		if got := stockOf(t, s, p.ID); got != want {
			t.Errorf("%s: got stock %d, want %d", p.SKU, got, want)
		}
	}
}

func request(order uuid.UUID, lines ...catalog.Line) catalog.ReservationRequest {
	return catalog.ReservationRequest{OrderID: order, Lines: lines}
}

func line(p catalog.Product, qty int) catalog.Line {
	return catalog.Line{ProductID: p.ID, Quantity: qty}
}

// mustReserve reserves lines for each of orders.
func mustReserve(t *testing.T, s *Store, orders []uuid.UUID, lines ...catalog.Line) {
	t.Helper()
	for _, order := range orders {
		if _, _, err := s.Reserve(context.Background(), request(order, lines...)); err != nil {
			t.Fatalf("reserve %s: %v", order, err)
		}
	}
}

// expire moves the expiry of orders' reservations into the past.
func expire(t *testing.T, pool *platformpg.Pool, orders ...uuid.UUID) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), `UPDATE catalog.reservations
		SET expires_at = now() - interval '1 hour' WHERE order_id = ANY($1)`, orders); err != nil {
		t.Fatal(err)
	}
}

// wantErr checks that err is the apperr with code and problem type.
func wantErr(t *testing.T, err error, code apperr.Code, typ string) *apperr.Error {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Code != code || e.Type != typ {
		t.Fatalf("got error %v, want code %s type %q", err, code, typ)
	}
	return e
}

func TestProducts(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, time.Minute)

	p := mustCreate(t, s, "T-1", 4)
	if p.ID == uuid.Nil || p.CreatedAt.IsZero() || !p.CreatedAt.Equal(p.UpdatedAt) {
		t.Errorf("got %+v, want an id and equal timestamps", p)
	}
	got, err := s.Product(ctx, p.ID)
	if err != nil || got.SKU != "T-1" || got.Stock != 4 || got.Currency != "USD" {
		t.Fatalf("got %+v, %v; want T-1", got, err)
	}

	_, err = s.CreateProduct(ctx, catalog.NewProduct{SKU: "T-1", Name: "Other", PriceCents: 1, Currency: "EUR"})
	if e := wantErr(t, err, apperr.Conflict, "/problems/duplicate-sku"); e.Fields[0].Field != "sku" {
		t.Errorf("got fields %v, want sku", e.Fields)
	}

	name := "Renamed"
	up, err := s.UpdateProduct(ctx, p.ID, catalog.ProductPatch{Name: &name})
	if err != nil {
		t.Fatal(err)
	}
	if up.Name != "Renamed" || up.PriceCents != p.PriceCents || up.Description != p.Description || !up.UpdatedAt.After(p.UpdatedAt) {
		t.Errorf("got %+v, want only the name and updated_at changed", up)
	}
	price := int64(999)
	up, err = s.UpdateProduct(ctx, p.ID, catalog.ProductPatch{PriceCents: &price})
	if err != nil || up.Name != "Renamed" || up.PriceCents != 999 {
		t.Errorf("got %+v, %v; want the new price and the earlier name", up, err)
	}
	up, err = s.SetStock(ctx, p.ID, 0)
	if err != nil || up.Stock != 0 {
		t.Errorf("got %+v, %v; want stock 0", up, err)
	}

	unknown := uuid.New()
	for _, err := range []error{
		func() error { _, err := s.Product(ctx, unknown); return err }(),
		func() error { _, err := s.UpdateProduct(ctx, unknown, catalog.ProductPatch{Name: &name}); return err }(),
		func() error { _, err := s.SetStock(ctx, unknown, 1); return err }(),
	} {
		wantErr(t, err, apperr.NotFound, "")
	}
}

func TestListProductsOrderAndPages(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, time.Minute)
	// Mixed case and punctuation: the order must be byte order whatever the
	// server's locale, or keyset pages would skip or repeat rows.
	skus := []string{"b", "B", "a-1", "a_1", "A1", "_x", "-y", "z", "Z9", "0"}
	for _, sku := range skus {
		mustCreate(t, s, sku, 1)
	}
	slices.Sort(skus)

	var got []string
	after := ""
	for {
		page, err := s.ListProducts(ctx, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page {
			got = append(got, p.SKU)
		}
		if len(page) < 3 {
			break
		}
		after = page[len(page)-1].SKU
	}
	if !slices.Equal(got, skus) {
		t.Errorf("got %v, want %v", got, skus)
	}
}

func TestConcurrentReservationsNeverOversell(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, time.Minute)
	a := mustCreate(t, s, "A", 10)
	b := mustCreate(t, s, "B", 10)

	// 50 orders of one unit each of A; then 40 orders of A and B listed in
	// both orders, which would deadlock without a fixed locking order.
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, short := 0, 0
	record := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		switch e, _ := apperr.As(err); {
		case err == nil:
			ok++
		case e != nil && e.Type == "/problems/out-of-stock":
			short++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	for range 50 {
		wg.Go(func() {
			_, _, err := s.Reserve(ctx, request(uuid.New(), line(a, 1)))
			record(err)
		})
	}
	wg.Wait()
	if ok != 10 || short != 40 {
		t.Errorf("got %d reserved and %d out of stock, want 10 and 40", ok, short)
	}
	wantStock(t, s, 0, a)

	if _, err := s.SetStock(ctx, a.ID, 10); err != nil {
		t.Fatal(err)
	}
	ok, short = 0, 0
	for i := range 40 {
		wg.Go(func() {
			lines := []catalog.Line{line(a, 1), line(b, 1)}
			if i%2 == 1 {
				slices.Reverse(lines)
			}
			_, _, err := s.Reserve(ctx, request(uuid.New(), lines...))
			record(err)
		})
	}
	wg.Wait()
	if ok != 10 || short != 30 {
		t.Errorf("two lines: got %d reserved and %d out of stock, want 10 and 30", ok, short)
	}
	wantStock(t, s, 0, a, b)
}

func TestReserveIsAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, time.Minute)
	a := mustCreate(t, s, "A", 5)
	b := mustCreate(t, s, "B", 1)
	c := mustCreate(t, s, "C", 0)

	order := uuid.New()
	_, _, err := s.Reserve(ctx, request(order, line(a, 2), line(b, 3), line(c, 1)))
	e := wantErr(t, err, apperr.Conflict, "/problems/out-of-stock")
	if len(e.Fields) != 2 || e.Fields[0].Field != "items[1].quantity" || e.Fields[1].Field != "items[2].quantity" {
		t.Errorf("got fields %v, want items[1].quantity and items[2].quantity", e.Fields)
	}
	wantStock(t, s, 5, a)
	wantStock(t, s, 1, b)

	_, _, err = s.Reserve(ctx, request(order, line(a, 1), catalog.Line{ProductID: uuid.New(), Quantity: 1}))
	e = wantErr(t, err, apperr.NotFound, "/problems/unknown-product")
	if len(e.Fields) != 1 || e.Fields[0].Field != "items[1].product_id" {
		t.Errorf("got fields %v, want items[1].product_id", e.Fields)
	}
	wantStock(t, s, 5, a)

	// Nothing was recorded for the order: it can still reserve.
	if _, err := s.Confirm(ctx, order); apperr.CodeOf(err) != apperr.NotFound {
		t.Errorf("confirm after failed reserves: got %v, want not found", err)
	}
	res, created, err := s.Reserve(ctx, request(order, line(b, 1), line(a, 5)))
	if err != nil || !created {
		t.Fatalf("got created=%v, %v; want a new reservation", created, err)
	}
	if len(res.Lines) != 2 || res.Lines[0].SKU != "B" || res.Lines[1].SKU != "A" ||
		res.Lines[1].UnitPriceCents != 250 || res.Lines[1].Currency != "USD" || res.Status != catalog.Reserved {
		t.Errorf("got %+v, want lines B then A with prices", res)
	}
	wantStock(t, s, 0, a, b)
}

func TestReserveIsIdempotent(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, time.Minute)
	a := mustCreate(t, s, "A", 100)
	b := mustCreate(t, s, "B", 100)
	order := uuid.New()

	// Ten concurrent copies of one request take the stock once.
	var wg sync.WaitGroup
	results := make(chan bool, 10)
	for range 10 {
		wg.Go(func() {
			_, created, err := s.Reserve(ctx, request(order, line(a, 3), line(b, 1)))
			if err != nil {
				t.Errorf("reserve: %v", err)
			}
			results <- created
		})
	}
	wg.Wait()
	close(results)
	created := 0
	for c := range results {
		if c {
			created++
		}
	}
	if created != 1 {
		t.Errorf("got %d created, want 1", created)
	}
	wantStock(t, s, 97, a)
	wantStock(t, s, 99, b)

	first, _, _ := s.Reserve(ctx, request(order, line(b, 1), line(a, 3)))
	again, isNew, err := s.Reserve(ctx, request(order, line(a, 3), line(b, 1)))
	if err != nil || isNew || !again.ExpiresAt.Equal(first.ExpiresAt) || len(again.Lines) != 2 {
		t.Errorf("repeat: got %+v, new=%v, %v; want the same reservation", again, isNew, err)
	}
	_, _, err = s.Reserve(ctx, request(order, line(a, 4), line(b, 1)))
	wantErr(t, err, apperr.Conflict, "/problems/reservation-mismatch")
	wantStock(t, s, 97, a)
}

func TestConfirmAndRelease(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t, time.Minute)
	a := mustCreate(t, s, "A", 10)

	confirmed := uuid.New()
	if _, _, err := s.Reserve(ctx, request(confirmed, line(a, 2))); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		res, err := s.Confirm(ctx, confirmed)
		if err != nil || res.Status != catalog.Confirmed {
			t.Fatalf("confirm: got %+v, %v", res, err)
		}
	}
	_, err := s.Release(ctx, confirmed)
	wantErr(t, err, apperr.Conflict, "/problems/reservation-confirmed")
	wantStock(t, s, 8, a)
	res, created, err := s.Reserve(ctx, request(confirmed, line(a, 2)))
	if err != nil || created || res.Status != catalog.Confirmed {
		t.Errorf("reserve a confirmed order: got %+v, %v, %v; want it unchanged", res, created, err)
	}

	// Ten concurrent releases give the stock back once.
	released := uuid.New()
	if _, _, err := s.Reserve(ctx, request(released, line(a, 3))); err != nil {
		t.Fatal(err)
	}
	wantStock(t, s, 5, a)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if res, err := s.Release(ctx, released); err != nil || res.Status != catalog.Released {
				t.Errorf("release: got %+v, %v", res, err)
			}
		})
	}
	wg.Wait()
	wantStock(t, s, 8, a)
	_, err = s.Confirm(ctx, released)
	wantErr(t, err, apperr.Conflict, "/problems/reservation-released")
	wantStock(t, s, 8, a)

	_, err = s.Confirm(ctx, uuid.New())
	wantErr(t, err, apperr.NotFound, "")

	// Releasing an unknown order leaves a tombstone: a late reserve takes nothing.
	late := uuid.New()
	if res, err := s.Release(ctx, late); err != nil || res.Status != catalog.Released || res.Lines == nil {
		t.Fatalf("release unknown: got %+v, %v; want released with empty lines", res, err)
	}
	res, created, err = s.Reserve(ctx, request(late, line(a, 1)))
	if err != nil || created || res.Status != catalog.Released {
		t.Errorf("reserve after tombstone: got %+v, created=%v, %v; want released", res, created, err)
	}
	wantStock(t, s, 8, a)
}

// Invariant 1 of the design: stock given = stock now + confirmed units.
func checkInvariant(t *testing.T, pool *platformpg.Pool, p catalog.Product, given int) {
	t.Helper()
	var now, confirmed int
	err := pool.QueryRow(context.Background(), `SELECT p.stock, COALESCE((SELECT sum(i.quantity)
		FROM catalog.reservation_items i JOIN catalog.reservations r USING (order_id)
		WHERE i.product_id = p.id AND r.status = 'confirmed'), 0)
		FROM catalog.products p WHERE p.id = $1`, p.ID).Scan(&now, &confirmed)
	if err != nil {
		t.Fatal(err)
	}
	if now+confirmed != given {
		t.Errorf("%s: stock %d + confirmed %d = %d, want %d", p.SKU, now, confirmed, now+confirmed, given)
	}
}

func TestSweeperReleasesOnlyExpiredReservations(t *testing.T) {
	ctx := context.Background()
	s, pool := newStore(t, time.Hour)
	a := mustCreate(t, s, "A", 10)

	expired, kept, confirmed := uuid.New(), uuid.New(), uuid.New()
	mustReserve(t, s, []uuid.UUID{expired, kept, confirmed}, line(a, 1))
	if _, err := s.Confirm(ctx, confirmed); err != nil {
		t.Fatal(err)
	}
	// A confirmed reservation past its expiry must stay confirmed.
	expire(t, pool, expired, confirmed)

	n, err := s.SweepExpired(ctx, 100)
	if err != nil || n != 1 {
		t.Fatalf("got %d released, %v; want 1", n, err)
	}
	if n, _ := s.SweepExpired(ctx, 100); n != 0 {
		t.Errorf("second sweep released %d, want 0", n)
	}
	wantStock(t, s, 8, a)
	// A repeated reserve reads a reservation's status without changing it.
	for order, want := range map[uuid.UUID]catalog.Status{expired: catalog.Released, kept: catalog.Reserved, confirmed: catalog.Confirmed} {
		res, _, err := s.Reserve(ctx, request(order, line(a, 1)))
		if err != nil || res.Status != want {
			t.Errorf("got %v, %v; want %s", res.Status, err, want)
		}
	}
	if _, err := s.Release(ctx, kept); err != nil {
		t.Fatal(err)
	}
	checkInvariant(t, pool, a, 10)
}

func TestConfirmAfterExpiryReleases(t *testing.T) {
	s, pool := newStore(t, time.Hour)
	a := mustCreate(t, s, "A", 5)
	order := uuid.New()
	mustReserve(t, s, []uuid.UUID{order}, line(a, 2))
	expire(t, pool, order)
	_, err := s.Confirm(context.Background(), order)
	wantErr(t, err, apperr.Conflict, "/problems/reservation-released")
	wantStock(t, s, 5, a)
	checkInvariant(t, pool, a, 5)
}

// records hands the sweeper's log records to the test, so it can wait for
// a sweep instead of polling the stock.
type records chan slog.Record

func (r records) Enabled(context.Context, slog.Level) bool { return true }
func (r records) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r records) WithGroup(string) slog.Handler            { return r }
func (r records) Handle(_ context.Context, rec slog.Record) error {
	select {
	case r <- rec:
	default: // never block the sweeper; the test reads only the first few
	}
	return nil
}

func TestRunSweeperReleasesAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, pool := newStore(t, time.Hour)
	a := mustCreate(t, s, "A", 3)
	first, second := uuid.New(), uuid.New()
	mustReserve(t, s, []uuid.UUID{first, second}, line(a, 1))
	expire(t, pool, first)

	logs := make(records, 16)
	done := make(chan struct{})
	go func() {
		s.RunSweeper(ctx, slog.New(logs), 5*time.Millisecond)
		close(done)
	}()
	// The first sweep runs at once; the second reservation expires only
	// after it, so a later tick must release that one.
	released := func(want int) {
		t.Helper()
		select {
		case rec := <-logs:
			if rec.Message != "released expired reservations" {
				t.Fatalf("got log %q, want the release of an expired reservation", rec.Message)
			}
		case <-time.After(30 * time.Second): // a hang guard, not a measurement
			t.Fatal("the sweeper released nothing")
		}
		wantStock(t, s, want, a)
	}
	released(2)
	expire(t, pool, second)
	released(3)

	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("RunSweeper did not return after ctx was cancelled")
	}
}

// Confirm, release and the sweeper race on the same reservations, half of
// them expired; each reservation must end in exactly one final state with
// stock to match, and no expired one may be sold.
func TestConfirmReleaseSweeperRace(t *testing.T) {
	ctx := context.Background()
	const n = 40
	s, pool := newStore(t, time.Hour)
	a := mustCreate(t, s, "A", n)
	orders := make([]uuid.UUID, n)
	var expired []uuid.UUID
	for i := range orders {
		orders[i] = uuid.New()
		if i%2 == 1 {
			expired = append(expired, orders[i])
		}
	}
	mustReserve(t, s, orders, line(a, 1))
	expire(t, pool, expired...)

	stop := make(chan struct{})
	var sweeper sync.WaitGroup
	sweeper.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.SweepExpired(ctx, 5); err != nil {
				t.Errorf("sweep: %v", err)
			}
		}
	})

	var wg sync.WaitGroup
	confirmedOK := make([]bool, n)
	for i, order := range orders {
		wg.Go(func() {
			_, err := s.Confirm(ctx, order)
			switch e, _ := apperr.As(err); {
			case err == nil:
				confirmedOK[i] = true
			case e != nil && e.Type == "/problems/reservation-released":
			default:
				t.Errorf("confirm: %v", err)
			}
		})
		if i%4 < 2 { // some orders, expired or not, also release concurrently
			wg.Go(func() {
				_, err := s.Release(ctx, order)
				if err != nil && !errors.Is(err, catalog.ErrReservationConfirmed) {
					t.Errorf("release: %v", err)
				}
			})
		}
	}
	wg.Wait()
	close(stop)
	sweeper.Wait()

	won := 0
	for i, ok := range confirmedOK {
		if ok {
			won++
		}
		if ok && i%2 == 1 {
			t.Errorf("order %d: confirmed after its reservation expired", i)
		}
	}
	t.Logf("%d of %d confirms won against the sweeper and releases", won, n)
	for i, order := range orders {
		var status string
		if err := pool.QueryRow(ctx, `SELECT status FROM catalog.reservations WHERE order_id = $1`, order).Scan(&status); err != nil {
			t.Fatal(err)
		}
		if (status == "confirmed") != confirmedOK[i] {
			t.Errorf("order %d: status %s, but confirm succeeded=%v", i, status, confirmedOK[i])
		}
	}
	checkInvariant(t, pool, a, n)
}

// TestDatabaseErrors checks that the store answers through
// platformpg.Error: an outage is Unavailable, a client that hung up is
// not, and a bug stays internal.
func TestDatabaseErrors(t *testing.T) {
	ctx := context.Background()
	pgxPool, err := pgxpool.New(ctx, "postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer pgxPool.Close()
	s := NewStore(&platformpg.Pool{Pool: pgxPool}, time.Minute)
	_, err = s.ListProducts(ctx, "", 10)
	if code := apperr.CodeOf(err); code != apperr.Unavailable {
		t.Errorf("list: got %s (%v), want unavailable", code, err)
	}
	if code := apperr.CodeOf(s.Ping(ctx)); code != apperr.Unavailable {
		t.Errorf("ping: got %s, want unavailable", code)
	}
	_, _, err = s.Reserve(ctx, request(uuid.New(), catalog.Line{ProductID: uuid.New(), Quantity: 1}))
	if code := apperr.CodeOf(err); code != apperr.Unavailable {
		t.Errorf("reserve: got %s (%v), want unavailable", code, err)
	}

	// A login the server refuses (28P01: during a rotation, the password
	// of a new connection may be the old one) is a dependency failing too.
	dsn := postgrestest.NewDatabase(t)
	role := postgrestest.NewRole(t, dsn, "right-password")
	refusedPool, err := pgxpool.New(ctx, role.URL("wrong-password"))
	if err != nil {
		t.Fatal(err)
	}
	defer refusedPool.Close()
	refused := NewStore(&platformpg.Pool{Pool: refusedPool}, time.Minute)
	if _, err := refused.ListProducts(ctx, "", 10); apperr.CodeOf(err) != apperr.Unavailable {
		t.Errorf("refused login: got %s (%v), want unavailable", apperr.CodeOf(err), err)
	}

	// A client that hung up is no outage: no 503, and context.Canceled
	// stays visible. A deadline is the service's budget for the database:
	// too slow is unavailable, and the context's error stays in the chain.
	s2, _ := newStore(t, time.Minute)
	gone, cancel := context.WithCancel(ctx)
	cancel()
	late, cancelLate := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancelLate()
	for _, tt := range []struct {
		ctx      context.Context
		want     error
		wantCode apperr.Code
	}{{gone, context.Canceled, apperr.Internal}, {late, context.DeadlineExceeded, apperr.Unavailable}} {
		_, err := s2.ListProducts(tt.ctx, "", 1)
		if apperr.CodeOf(err) != tt.wantCode || !errors.Is(err, tt.want) || !strings.Contains(err.Error(), "list products") {
			t.Errorf("list with a done context: got %s (%v), want %s naming list products and %v", apperr.CodeOf(err), err, tt.wantCode, tt.want)
		}
		if _, isApp := apperr.As(err); tt.want == context.Canceled && isApp {
			t.Errorf("cancelled list: got %v, want no apperr code", err)
		}
	}
}
