package postgres_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/fargateshop/shop/platform/postgres"
	"github.com/fargateshop/shop/platform/postgres/postgrestest"
)

func TestMigrateConcurrentReplicas(t *testing.T) {
	dsn := postgrestest.NewDatabase(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	fsys := fstest.MapFS{
		"0001_items.sql": {Data: []byte(`CREATE TABLE demo.items (id int PRIMARY KEY)`)},
		"0002_seed.sql":  {Data: []byte(`INSERT INTO demo.items VALUES (1), (2)`)},
	}
	// Five replicas start at once; the advisory lock must make exactly one
	// apply each file (a second apply would fail on CREATE TABLE or the key).
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	for i := 0; i < 5; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pool, err := postgres.Open(ctx, log, dsn, nil, 2, 5*time.Second)
			if err != nil {
				errs <- err
				return
			}
			defer pool.Close()
			errs <- postgres.Migrate(ctx, log, pool, "demo", fsys)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Migrate: %v", err)
		}
	}
	pool, err := postgres.Open(ctx, log, dsn, nil, 2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var items, versions int
	if err := pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM demo.items), (SELECT count(*) FROM demo.schema_migrations)`).Scan(&items, &versions); err != nil {
		t.Fatal(err)
	}
	if items != 2 || versions != 2 {
		t.Errorf("got %d items and %d versions, want 2 and 2", items, versions)
	}
}

func TestMigrateFailedFileIsNotRecorded(t *testing.T) {
	dsn := postgrestest.NewDatabase(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool, err := postgres.Open(ctx, log, dsn, nil, 2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	bad := fstest.MapFS{"0001_bad.sql": {Data: []byte(`CREATE TABLE demo.t (id int); SELECT no_such_function()`)}}
	if err := postgres.Migrate(ctx, log, pool, "demo", bad); err == nil {
		t.Fatal("Migrate with a failing file = nil, want error")
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM demo.schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("failed migration recorded: %d versions, want 0", n)
	}
	if err := postgres.Migrate(ctx, log, pool, "Bad-Name", bad); err == nil {
		t.Error("Migrate accepted an invalid schema name")
	}
}

func TestOpenHidesPassword(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	_, err := postgres.Open(context.Background(), log, "postgres://u:s3cret@127.0.0.1:1/db?connect_timeout=1", nil, 1, 0)
	if err == nil {
		t.Fatal("Open on a closed port = nil, want error")
	}
	if got := err.Error(); strings.Contains(got, "s3cret") {
		t.Errorf("error leaks the password: %s", got)
	}
}
