package postgres

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fargateshop/shop/apps/catalog/internal/catalog"
	platformpg "github.com/fargateshop/shop/platform/postgres"
	"github.com/fargateshop/shop/platform/postgres/postgrestest"
)

// storedProducts returns every stored product as the admin API would have
// created it, ordered by sku.
func storedProducts(t *testing.T, pool *platformpg.Pool) []catalog.NewProduct {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT sku, name, description, price_cents, currency, stock
		FROM catalog.products ORDER BY sku`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[catalog.NewProduct])
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestMigrationsLeaveCatalogEmpty(t *testing.T) {
	ctx := context.Background()
	pool := postgrestest.NewPool(t, nil)
	// Replicas that start together migrate together.
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() { errs <- Migrate(ctx, discard, pool) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent migrate: %v", err)
		}
	}
	if got := storedProducts(t, pool); len(got) != 0 {
		t.Errorf("got %d products after the migrations, want none: demo data is not a migration", len(got))
	}

	// Databases migrated before the demo products left the migrations
	// record 002_seed; new ones must record the same history.
	rows, err := pool.Query(ctx, `SELECT version FROM catalog.schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"001_schema", "002_seed"}; !slices.Equal(versions, want) {
		t.Errorf("got versions %v, want %v", versions, want)
	}
}

func TestDemoProductsAreValid(t *testing.T) {
	demo, err := demoProducts()
	if err != nil {
		t.Fatal(err)
	}
	if len(demo) < 6 {
		t.Fatalf("got %d demo products, want at least 6 (the shop page, smoke and system tests buy from them)", len(demo))
	}
	seen := map[string]bool{}
	for _, p := range demo {
		if seen[p.SKU] {
			t.Errorf("sku %s appears twice", p.SKU)
		}
		seen[p.SKU] = true
	}
}

func TestLoadDemoProductsOnceUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	s, pool := newStore(t, time.Minute)
	demo, err := demoProducts()
	if err != nil {
		t.Fatal(err)
	}

	// Replicas that start together each load the demo products.
	var wg sync.WaitGroup
	added := make(chan int, 4)
	for range 4 {
		wg.Go(func() {
			n, err := s.LoadDemoProducts(ctx)
			if err != nil {
				t.Errorf("load: %v", err)
			}
			added <- n
		})
	}
	wg.Wait()
	close(added)
	var counts []int
	for n := range added {
		counts = append(counts, n)
	}
	slices.Sort(counts)
	if want := []int{0, 0, 0, len(demo)}; !slices.Equal(counts, want) {
		t.Errorf("got added counts %v, want %v: one loader adds them all", counts, want)
	}
	want := slices.Clone(demo)
	// Byte order, as the sku column's "C" collation sorts.
	slices.SortFunc(want, func(a, b catalog.NewProduct) int { return strings.Compare(a.SKU, b.SKU) })
	if got := storedProducts(t, pool); !slices.Equal(got, want) {
		t.Errorf("got products\n%v\nwant the demo products\n%v", got, want)
	}

	// A restart loads nothing more.
	if n, err := s.LoadDemoProducts(ctx); err != nil || n != 0 {
		t.Errorf("second load: got %d, %v; want 0 added", n, err)
	}
	if got := storedProducts(t, pool); len(got) != len(demo) {
		t.Errorf("got %d products after a second load, want %d", len(got), len(demo))
	}
}

func TestLoadDemoProductsKeepsAdminChanges(t *testing.T) {
	ctx := context.Background()

	// A catalog an administrator has started filling is left as it is.
	own, ownPool := newStore(t, time.Minute)
	mustCreate(t, own, "OWN-1", 3)
	if n, err := own.LoadDemoProducts(ctx); err != nil || n != 0 {
		t.Errorf("catalog with a product: got %d added, %v; want 0", n, err)
	}
	if got := storedProducts(t, ownPool); len(got) != 1 || got[0].SKU != "OWN-1" {
		t.Errorf("got %v, want only OWN-1", got)
	}

	// A deleted or changed demo product stays deleted or changed on restart.
	s, pool := newStore(t, time.Minute)
	if _, err := s.LoadDemoProducts(ctx); err != nil {
		t.Fatal(err)
	}
	before := storedProducts(t, pool)
	if _, err := pool.Exec(ctx, `DELETE FROM catalog.products WHERE sku = $1`, before[0].SKU); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `UPDATE catalog.products SET stock = 0 WHERE sku = $1`, before[1].SKU); err != nil {
		t.Fatal(err)
	}
	if n, err := s.LoadDemoProducts(ctx); err != nil || n != 0 {
		t.Errorf("after the admin's changes: got %d added, %v; want 0", n, err)
	}
	after := storedProducts(t, pool)
	if len(after) != len(before)-1 || after[0].SKU != before[1].SKU || after[0].Stock != 0 {
		t.Errorf("got %v, want %s gone and %s with stock 0", after, before[0].SKU, before[1].SKU)
	}

	// The documented limit of the rule: a catalog emptied completely is
	// filled again.
	if _, err := pool.Exec(ctx, `DELETE FROM catalog.products`); err != nil {
		t.Fatal(err)
	}
	if n, err := s.LoadDemoProducts(ctx); err != nil || n != len(before) {
		t.Errorf("emptied catalog: got %d added, %v; want %d", n, err, len(before))
	}
}
