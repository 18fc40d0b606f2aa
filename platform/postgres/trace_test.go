package postgres_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/fargateshop/shop/platform/oteltest"
	"github.com/fargateshop/shop/platform/postgres"
	"github.com/fargateshop/shop/platform/postgres/postgrestest"
)

// TestQueriesAreTracedOnlyInsideATrace: database work outside any span (a
// background poll) makes no span at all, so it never starts a trace of its
// own; the same work inside a span makes spans in that trace, the query's
// a child of the caller's named by its SQL operation.
func TestQueriesAreTracedOnlyInsideATrace(t *testing.T) {
	rec := oteltest.Install(t) // before the pool: its tracer takes the provider then
	pool := postgrestest.NewPool(t, nil)
	rec.Reset() // opening the pool pinged it outside any trace

	work := []struct {
		name string
		do   func(ctx context.Context, pool *postgres.Pool) error
	}{
		{"query", func(ctx context.Context, pool *postgres.Pool) error {
			var n int
			return pool.QueryRow(ctx, "SELECT $1::int", 7).Scan(&n)
		}},
		{"exec", func(ctx context.Context, pool *postgres.Pool) error {
			_, err := pool.Exec(ctx, "SELECT pg_sleep(0)")
			return err
		}},
		{"batch", func(ctx context.Context, pool *postgres.Pool) error {
			b := &pgx.Batch{}
			b.Queue("SELECT 1")
			b.Queue("SELECT 2")
			return pool.SendBatch(ctx, b).Close()
		}},
		{"transaction", func(ctx context.Context, pool *postgres.Pool) error {
			return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, "SELECT 1")
				return err
			})
		}},
	}
	for _, w := range work {
		t.Run(w.name, func(t *testing.T) {
			rec.Reset()
			if err := w.do(context.Background(), pool); err != nil {
				t.Fatalf("outside a span: %v", err)
			}
			if spans := rec.Ended(); len(spans) != 0 {
				t.Errorf("outside a span: got spans %v, want none", names(spans))
			}

			ctx, caller := otel.Tracer("test").Start(context.Background(), "caller")
			err := w.do(ctx, pool)
			caller.End()
			if err != nil {
				t.Fatalf("inside a span: %v", err)
			}
			var children, selects int
			for _, s := range rec.Ended() {
				if s.Name() == "caller" {
					continue
				}
				if s.SpanContext().TraceID() != caller.SpanContext().TraceID() {
					t.Errorf("span %q in trace %s, want the caller's %s", s.Name(), s.SpanContext().TraceID(), caller.SpanContext().TraceID())
				}
				if s.Parent().SpanID() == caller.SpanContext().SpanID() {
					children++
				}
				if s.Name() == "SELECT" {
					selects++
				}
			}
			if children == 0 || selects == 0 {
				t.Errorf("inside a span: got spans %v, want children of the caller and a span named SELECT", names(rec.Ended()))
			}
		})
	}
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name()
	}
	return out
}

// TestPoolRecordsGaugesButNoQueryHistogram: the pool's gauges and the
// count of failed queries are recorded; the pgx tracer's per-query
// duration histogram is not (it cost every query, sampled or not, more
// than the rest of telemetry together).
func TestPoolRecordsGaugesButNoQueryHistogram(t *testing.T) {
	oteltest.Install(t)
	pool := postgrestest.NewPool(t, nil)
	ctx := context.Background()
	var n int
	if err := pool.QueryRow(ctx, "SELECT $1::int", 7).Scan(&n); err != nil {
		t.Fatal(err)
	}
	before := oteltest.Count(t, "db.client.operation.errors")
	if err := pool.QueryRow(ctx, "SELECT 1/0").Scan(&n); err == nil {
		t.Fatal("SELECT 1/0 succeeded")
	}
	if got := oteltest.Count(t, "db.client.operation.errors") - before; got != 1 {
		t.Errorf("db.client.operation.errors rose by %d, want 1", got)
	}
	seen := map[string]bool{}
	for _, sm := range oteltest.Metrics(t).ScopeMetrics {
		for _, m := range sm.Metrics {
			seen[m.Name] = true
		}
	}
	if !seen["pgxpool.acquired_connections"] || !seen["pgxpool.idle_connections"] {
		t.Errorf("pool gauges missing among %v", seen)
	}
	if seen["db.client.operation.duration"] {
		t.Error("db.client.operation.duration recorded, want no per-query histogram")
	}
}
