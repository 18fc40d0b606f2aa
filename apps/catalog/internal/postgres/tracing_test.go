package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/fargateshop/shop/platform/oteltest"
)

// TestSweeperRecordsOnlyWhatItReleased: sweeps that release nothing add no
// span and nothing to shop.reservations.expired; a sweep that releases
// reservations adds one span carrying how many and adds that many to the
// counter. Expiry is moved (expire), never waited for.
//
// The sweeper runs under a test span so that its database work is traced:
// each sweep's connection acquire ("pool.acquire") is how the test knows
// idle sweeps happened, without sleeping. In the service it runs outside
// any trace and its queries make no spans at all.
func TestSweeperRecordsOnlyWhatItReleased(t *testing.T) {
	rec := oteltest.Install(t) // before the pool: its tracer takes the provider then
	s, pool := newStore(t, time.Hour)
	a := mustCreate(t, s, "A", 5)
	first, second := uuid.New(), uuid.New()
	mustReserve(t, s, []uuid.UUID{first}, line(a, 1))
	mustReserve(t, s, []uuid.UUID{second}, line(a, 2))
	before := oteltest.Count(t, "shop.reservations.expired")

	ctx, cancel := context.WithCancel(context.Background())
	ctx, parent := otel.Tracer("test").Start(ctx, "test")
	done := make(chan struct{})
	go func() {
		s.RunSweeper(ctx, discard, time.Millisecond)
		close(done)
	}()
	stop := func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second): // a hang guard, not a measurement
			t.Fatal("RunSweeper did not return after ctx was cancelled")
		}
		parent.End()
	}
	defer func() {
		if ctx.Err() == nil {
			stop()
		}
	}()

	count := func(spans []sdktrace.ReadOnlySpan, name string) int {
		n := 0
		for _, s := range spans {
			if s.Name() == name && s.Parent().SpanID() == parent.SpanContext().SpanID() {
				n++
			}
		}
		return n
	}
	const sweep = "sweep expired reservations"
	// idleSweeps waits for n more sweeps than the spans hold now.
	idleSweeps := func(n int) []sdktrace.ReadOnlySpan {
		t.Helper()
		from := count(rec.Ended(), "pool.acquire")
		return rec.Await(t, "more sweeps", func(spans []sdktrace.ReadOnlySpan) bool {
			return count(spans, "pool.acquire") >= from+n
		})
	}
	check := func(when string, wantSpans []int64, wantCount int64) {
		t.Helper()
		var got []int64
		for _, sp := range rec.Ended() {
			if sp.Name() == sweep {
				v, _ := oteltest.Attr(sp, "shop.reservations.released")
				got = append(got, v.AsInt64())
			}
		}
		if len(got) != len(wantSpans) {
			t.Fatalf("%s: sweep spans releasing %v, want %v", when, got, wantSpans)
		}
		for i := range got {
			if got[i] != wantSpans[i] {
				t.Errorf("%s: sweep spans releasing %v, want %v", when, got, wantSpans)
			}
		}
		if c := oteltest.Count(t, "shop.reservations.expired") - before; c != wantCount {
			t.Errorf("%s: shop.reservations.expired grew by %d, want %d", when, c, wantCount)
		}
	}

	idleSweeps(3)
	check("nothing expired", nil, 0)

	expire(t, pool, first)
	rec.Await(t, "the first release", func(spans []sdktrace.ReadOnlySpan) bool { return count(spans, sweep) == 1 })
	idleSweeps(3)
	check("one expired", []int64{1}, 1)

	expire(t, pool, second)
	rec.Await(t, "the second release", func(spans []sdktrace.ReadOnlySpan) bool { return count(spans, sweep) == 2 })
	idleSweeps(3)
	stop()
	check("both expired", []int64{1, 1}, 2)
	wantStock(t, s, 5, a)
}
