package outbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"

	"github.com/fargateshop/shop/apps/orders/internal/order"
	"github.com/fargateshop/shop/apps/orders/internal/outbox"
	"github.com/fargateshop/shop/apps/orders/internal/postgres"
	"github.com/fargateshop/shop/platform/messaging"
	"github.com/fargateshop/shop/platform/oteltest"
	platformpg "github.com/fargateshop/shop/platform/postgres"
	"github.com/fargateshop/shop/platform/postgres/postgrestest"
	"github.com/fargateshop/shop/platform/routing"
)

// hangGuard turns a relay that never gets there into a failure; nothing
// waits it out.
const hangGuard = 30 * time.Second

func newStore(t testing.TB) (*postgres.Store, *platformpg.Pool) {
	t.Helper()
	pool := postgrestest.NewPool(t, postgres.Migrate)
	return postgres.New(pool), pool
}

var request = order.Request{Email: "ada@example.com", Lines: []order.Line{
	{ProductID: "0b9e3f8c-1d2a-4c5b-9e6f-7a8b9c0d1e2f", Quantity: 2},
}}

// confirmOrders confirms n orders under ctx, as checkout does, and returns
// the ids of their events.
func confirmOrders(t *testing.T, ctx context.Context, s *postgres.Store, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		c, err := s.Begin(ctx, order.Attempt{Key: uuid.NewString(), Fingerprint: order.Fingerprint(request),
			Request: request, NewOrderID: uuid.New(), Lease: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		o, err := s.RecordReservation(ctx, c.Order.ID, []order.Item{{ProductID: request.Lines[0].ProductID,
			SKU: "MUG-1", Name: "Mug", Quantity: 2, UnitPriceCents: 1200}}, "EUR", 2400)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := outbox.OrderConfirmed(ctx, o, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Confirm(ctx, c, []byte(`{}`), ev); err != nil {
			t.Fatal(err)
		}
		ids[i] = ev.ID.String()
	}
	return ids
}

// fakePublisher records what it published; publish, when set, decides
// each call first.
type fakePublisher struct {
	mu      sync.Mutex
	sent    map[string]int // event id → times published
	bodies  map[string][]byte
	parents map[string]trace.SpanContext // event id → span context of the publish call
	calls   int
	publish func(ctx context.Context, m messaging.Message) error
}

func newFake(publish func(context.Context, messaging.Message) error) *fakePublisher {
	return &fakePublisher{sent: map[string]int{}, bodies: map[string][]byte{}, parents: map[string]trace.SpanContext{},
		publish: publish}
}

func (f *fakePublisher) Publish(ctx context.Context, m messaging.Message) error {
	var err error
	if f.publish != nil {
		err = f.publish(ctx, m)
	}
	f.mu.Lock()
	f.calls++
	if err == nil {
		f.sent[m.ID]++
		f.bodies[m.ID] = m.Body
		f.parents[m.ID] = trace.SpanContextFromContext(ctx)
	}
	f.mu.Unlock()
	return err
}

func (f *fakePublisher) published() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int, len(f.sent))
	for k, v := range f.sent {
		out[k] = v
	}
	return out
}

// signalling is a Store that signals rounds after each relay round ended
// (committed or not), without blocking.
type signalling struct {
	outbox.Store
	rounds chan struct{}
}

func (s signalling) RelayDue(ctx context.Context, limit int, send func(context.Context, []outbox.Event) []outbox.Result) (int, error) {
	n, err := s.Store.RelayDue(ctx, limit, send)
	select {
	case s.rounds <- struct{}{}:
	default:
	}
	return n, err
}

func relay(log *slog.Logger, s outbox.Store, p outbox.Publisher, cfg outbox.Config) *outbox.Relay {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return outbox.NewRelay(log, s, map[string]outbox.Publisher{routing.OrderEvents: p}, cfg)
}

// TestTwoRelaysPublishEachEventOnce: relay A holds a claimed batch (its
// publisher is stuck) while relay B runs a round, which must claim other
// rows instead of waiting or taking A's. Then both run to the end: every
// event is published exactly once, none is skipped.
func TestTwoRelaysPublishEachEventOnce(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	const n, batch = 120, 20
	ids := confirmOrders(t, ctx, s, n)

	started, release := make(chan struct{}), make(chan struct{})
	releaseA := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseA) // when the test fails before it lets A go
	var once sync.Once
	a := newFake(func(ctx context.Context, m messaging.Message) error {
		once.Do(func() { close(started) })
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	b := newFake(nil)
	rounds := make(chan struct{}, 1)
	relayA := relay(nil, signalling{s, rounds}, a, outbox.Config{Batch: batch})
	relayB := relay(nil, signalling{s, rounds}, b, outbox.Config{Batch: batch})

	aDone := make(chan error, 1)
	go func() {
		claimed, err := relayA.Once(ctx)
		if err == nil && claimed != batch {
			err = fmt.Errorf("relay A claimed %d, want %d", claimed, batch)
		}
		aDone <- err
	}()
	<-started
	bctx, cancel := context.WithTimeout(ctx, hangGuard) // a B that waits for A's rows fails
	claimed, err := relayB.Once(bctx)
	cancel()
	if err != nil || claimed != batch {
		t.Fatalf("relay B beside a busy relay A: claimed %d, %v; want %d", claimed, err, batch)
	}
	releaseA()
	if err := <-aDone; err != nil {
		t.Fatal(err)
	}

	// Both run until every event went out, then stop.
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { relayA.Run(runCtx) })
	wg.Go(func() { relayB.Run(runCtx) })
	guard := time.After(hangGuard)
	for count(t, pool, `SELECT count(*) FROM orders.outbox WHERE sent_at IS NULL`) > 0 {
		select {
		case <-rounds:
		case <-guard:
			t.Fatalf("events still unsent after %s", hangGuard)
		}
	}
	stop()
	wg.Wait()

	pa, pb := a.published(), b.published()
	for _, id := range ids {
		if got := pa[id] + pb[id]; got != 1 {
			t.Errorf("event %s published %d times (A %d, B %d), want once", id, got, pa[id], pb[id])
		}
	}
	if len(pa)+len(pb) != n {
		t.Errorf("published %d distinct events, want %d", len(pa)+len(pb), n)
	}
	if got := count(t, pool, `SELECT count(*) FROM orders.outbox WHERE attempts = 1 AND last_error IS NULL`); got != n {
		t.Errorf("%d rows sent at the first attempt, want %d", got, n)
	}
}

// TestFailedPublishBacksOffThenSucceeds: a failed publication is recorded
// (attempts, last_error, a next attempt in the future), counted, logged
// with the event id and attempt count, and the row is not claimed again
// before its time; once the time came, a working publisher sends it.
// Records into the shared meter provider, so not parallel.
func TestFailedPublishBacksOffThenSucceeds(t *testing.T) {
	oteltest.Install(t)
	s, pool := newStore(t)
	ctx := context.Background()
	id := confirmOrders(t, ctx, s, 1)[0]
	failed := func() int64 {
		return oteltest.Count(t, "shop.outbox.published", attribute.String("outcome", "failed"))
	}
	sent := func() int64 { return oteltest.Count(t, "shop.outbox.published", attribute.String("outcome", "sent")) }
	failedBefore, sentBefore := failed(), sent()

	brokerDown := errors.New("broker down")
	healthy := false
	fake := newFake(func(context.Context, messaging.Message) error {
		if healthy {
			return nil
		}
		return brokerDown
	})
	var logs bytes.Buffer
	r := relay(slog.New(slog.NewJSONHandler(&logs, nil)), s, fake, outbox.Config{})

	if claimed, err := r.Once(ctx); err != nil || claimed != 1 {
		t.Fatalf("first round: claimed %d, %v; want 1", claimed, err)
	}
	var (
		attempts  int
		lastError string
		later     bool
	)
	if err := pool.QueryRow(ctx, `SELECT attempts, last_error, next_attempt_at > now() FROM orders.outbox
		WHERE id = $1 AND sent_at IS NULL`, id).Scan(&attempts, &lastError, &later); err != nil {
		t.Fatalf("read the failed event: %v", err)
	}
	if attempts != 1 || lastError != "broker down" || !later {
		t.Errorf("after a failure: attempts %d, last_error %q, later %v; want 1, broker down, true", attempts, lastError, later)
	}
	if got := failed() - failedBefore; got != 1 {
		t.Errorf("published{outcome=failed} grew by %d, want 1", got)
	}
	for _, want := range []string{`"level":"WARN"`, `"event_id":"` + id + `"`, `"attempts":1`, `broker down`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log %s lacks %s", logs.String(), want)
		}
	}

	if claimed, err := r.Once(ctx); err != nil || claimed != 0 {
		t.Errorf("a round before the retry time claimed %d, %v; want 0", claimed, err)
	}

	// Time moves on to the retry; the broker is back.
	if _, err := pool.Exec(ctx, `UPDATE orders.outbox SET next_attempt_at = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	healthy = true
	if claimed, err := r.Once(ctx); err != nil || claimed != 1 {
		t.Fatalf("retry round: claimed %d, %v; want 1", claimed, err)
	}
	if got := fake.published()[id]; got != 1 {
		t.Errorf("event published %d times, want 1", got)
	}
	if n := count(t, pool, `SELECT count(*) FROM orders.outbox
		WHERE id = $1 AND sent_at IS NOT NULL AND attempts = 2 AND last_error IS NULL`, id); n != 1 {
		t.Errorf("the retried event is not recorded as sent at attempt 2")
	}
	if got := sent() - sentBefore; got != 1 {
		t.Errorf("published{outcome=sent} grew by %d, want 1", got)
	}
}

// TestRelayStopsOnCancel: cancelling Run while a publication hangs ends
// Run; the round records the publication that went out and leaves the
// hung one's row as it was (no failed attempt: stopping is not the broker
// failing), released for the next relay. While it runs, the unsent gauge
// counts the rows.
func TestRelayStopsOnCancel(t *testing.T) {
	oteltest.Install(t)
	s, pool := newStore(t)
	ctx := context.Background()
	ids := confirmOrders(t, ctx, s, 2)
	sent, hangs := ids[0], ids[1]

	called := make(chan struct{})
	hung := newFake(func(ctx context.Context, m messaging.Message) error {
		if m.ID != hangs {
			return nil
		}
		close(called)
		<-ctx.Done()
		return ctx.Err()
	})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		relay(nil, s, hung, outbox.Config{PublishTimeout: time.Hour}).Run(runCtx)
		close(done)
	}()
	<-called
	if got := gauge(t, "shop.outbox.unsent"); got != 2 {
		t.Errorf("shop.outbox.unsent = %d, want 2", got)
	}
	stop()
	select {
	case <-done:
	case <-time.After(hangGuard):
		t.Fatalf("Run still running %s after its context was cancelled", hangGuard)
	}
	if n := count(t, pool, `SELECT count(*) FROM orders.outbox WHERE id = $1 AND sent_at IS NOT NULL`, sent); n != 1 {
		t.Errorf("the event published before the stop is not marked sent")
	}
	if n := count(t, pool, `SELECT count(*) FROM orders.outbox
		WHERE id = $1 AND sent_at IS NULL AND attempts = 0 AND last_error IS NULL AND next_attempt_at <= now()`, hangs); n != 1 {
		t.Errorf("the abandoned row changed; want it unsent, untried and due")
	}

	next := newFake(nil)
	if claimed, err := relay(nil, s, next, outbox.Config{}).Once(ctx); err != nil || claimed != 1 || next.published()[hangs] != 1 {
		t.Errorf("next relay: claimed %d, %v, published %v; want the abandoned event once", claimed, err, next.published())
	}
}

// gauge returns the last value of the integer gauge name.
func gauge(t *testing.T, name string) int64 {
	t.Helper()
	for _, sm := range oteltest.Metrics(t).ScopeMetrics {
		for _, m := range sm.Metrics {
			if g, ok := m.Data.(metricdata.Gauge[int64]); ok && m.Name == name && len(g.DataPoints) > 0 {
				return g.DataPoints[len(g.DataPoints)-1].Value
			}
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

// TestPublicationContinuesTheConfirmingTrace: the publish call's parent is
// the span that confirmed the order, stored with the event.
func TestPublicationContinuesTheConfirmingTrace(t *testing.T) {
	oteltest.Install(t)
	s, _ := newStore(t)
	ctx, confirming := otel.Tracer("test").Start(context.Background(), "POST /api/orders")
	id := confirmOrders(t, ctx, s, 1)[0]
	confirming.End()

	fake := newFake(nil)
	if _, err := relay(nil, s, fake, outbox.Config{}).Once(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := fake.parents[id]
	want := confirming.SpanContext()
	if got.TraceID() != want.TraceID() || got.SpanID() != want.SpanID() || !got.IsRemote() {
		t.Errorf("publish ran under %v/%v (remote %v), want the confirming span %v/%v",
			got.TraceID(), got.SpanID(), got.IsRemote(), want.TraceID(), want.SpanID())
	}
}

// TestEventWithoutPublisherIsRetried: a topic nobody publishes to fails
// like a broker error, so the row waits instead of being lost.
func TestEventWithoutPublisherIsRetried(t *testing.T) {
	t.Parallel()
	s, pool := newStore(t)
	ctx := context.Background()
	confirmOrders(t, ctx, s, 1)
	r := outbox.NewRelay(slog.New(slog.DiscardHandler), s, map[string]outbox.Publisher{"other-events": newFake(nil)}, outbox.Config{})
	if claimed, err := r.Once(ctx); err != nil || claimed != 1 {
		t.Fatalf("claimed %d, %v; want 1", claimed, err)
	}
	if n := count(t, pool, `SELECT count(*) FROM orders.outbox
		WHERE sent_at IS NULL AND attempts = 1 AND last_error LIKE 'no publisher for topic%'`); n != 1 {
		t.Errorf("the row without a publisher is not recorded as a failed attempt")
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
