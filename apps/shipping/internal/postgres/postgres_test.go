package postgres

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/fargateshop/shop/platform/postgres/postgrestest"
)

// TestMigrate applies the migrations twice: the second run must find
// nothing left to do.
func TestMigrate(t *testing.T) {
	ctx := context.Background()
	pool := postgrestest.NewPool(t, Migrate)
	if err := Migrate(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), pool); err != nil {
		t.Fatalf("second Migrate: got %v, want nil", err)
	}
	rows, err := pool.Query(ctx, "SELECT version FROM "+pgx.Identifier{Schema}.Sanitize()+".schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"001_schema", "002_shipments"}; !slices.Equal(got, want) {
		t.Errorf("applied versions: got %q, want %q", got, want)
	}
}
