package postgres_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/fargateshop/shop/platform/postgres"
	"github.com/fargateshop/shop/platform/postgres/postgrestest"
)

// TestUUIDRoundTrip sends uuid.UUID values the ways the services do
// (a parameter, an array, a nullable column, both exec modes) through a
// real PostgreSQL and checks what comes back, in both directions: the
// server's text form must match the Go value's String.
func TestUUIDRoundTrip(t *testing.T) {
	ctx := context.Background()
	pool, err := postgres.Open(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), postgrestest.NewDatabase(t), nil, 2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	a, b := uuid.New(), uuid.New()

	for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
		t.Run(mode.String(), func(t *testing.T) {
			var text string
			var back uuid.UUID
			if err := pool.QueryRow(ctx, `SELECT $1::uuid::text, $1::uuid`, mode, a).Scan(&text, &back); err != nil {
				t.Fatal(err)
			}
			if text != a.String() || back != a {
				t.Errorf("sent %s, server saw %s, scanned %s", a, text, back)
			}

			var arr []uuid.UUID
			var arrText string
			if err := pool.QueryRow(ctx, `SELECT $1::uuid[], $1::uuid[]::text`, mode, []uuid.UUID{a, b}).Scan(&arr, &arrText); err != nil {
				t.Fatal(err)
			}
			if want := "{" + a.String() + "," + b.String() + "}"; arrText != want || len(arr) != 2 || arr[0] != a || arr[1] != b {
				t.Errorf("array: server saw %s, scanned %v; want %s", arrText, arr, want)
			}

			var null *uuid.UUID = &a
			if err := pool.QueryRow(ctx, `SELECT NULL::uuid`, mode).Scan(&null); err != nil {
				t.Fatal(err)
			}
			if null != nil {
				t.Errorf("NULL scanned into **uuid.UUID as %v, want nil", *null)
			}
			var direct uuid.UUID
			if err := pool.QueryRow(ctx, `SELECT NULL::uuid`, mode).Scan(&direct); err == nil {
				t.Errorf("NULL scanned into *uuid.UUID without an error (got %s)", direct)
			}
		})
	}
}

// BenchmarkEncodeUUID is the cost of one uuid.UUID parameter, with pgx's
// default type map (through driver.Valuer and text) and with RegisterUUID.
func BenchmarkEncodeUUID(b *testing.B) {
	id := uuid.New()
	withAndWithoutRegister(b, func(b *testing.B, m *pgtype.Map) {
		buf := make([]byte, 0, 64)
		for b.Loop() {
			out, err := m.Encode(pgtype.UUIDOID, pgtype.BinaryFormatCode, id, buf[:0])
			if err != nil || len(out) != 16 {
				b.Fatalf("encode: %d bytes, %v", len(out), err)
			}
		}
	})
}

// BenchmarkScanUUID is the cost of scanning one uuid column into a
// uuid.UUID, with and without RegisterUUID.
func BenchmarkScanUUID(b *testing.B) {
	id := uuid.New()
	withAndWithoutRegister(b, func(b *testing.B, m *pgtype.Map) {
		var got uuid.UUID
		for b.Loop() {
			if err := m.Scan(pgtype.UUIDOID, pgtype.BinaryFormatCode, id[:], &got); err != nil || got != id {
				b.Fatalf("scan: %s, %v", got, err)
			}
		}
	})
}

// withAndWithoutRegister runs bench as the sub-benchmarks "default" (pgx's
// own type map) and "registered" (with RegisterUUID).
func withAndWithoutRegister(b *testing.B, bench func(*testing.B, *pgtype.Map)) {
	for _, register := range []bool{false, true} {
		name := "default"
		if register {
			name = "registered"
		}
		b.Run(name, func(b *testing.B) {
			m := pgtype.NewMap()
			if register {
				postgres.RegisterUUID(m)
			}
			b.ReportAllocs()
			bench(b, m)
		})
	}
}
