package outbox_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/google/uuid"

	"github.com/fargateshop/shop/apps/orders/internal/order"
	"github.com/fargateshop/shop/apps/orders/internal/outbox"
	"github.com/fargateshop/shop/apps/orders/internal/postgres"
	"github.com/fargateshop/shop/platform/events"
	"github.com/fargateshop/shop/platform/messaging"
	"github.com/fargateshop/shop/platform/messaging/messagingtest"
)

// lagSNS wraps the fake SNS and records, for every message, the time from
// its event's Time (set just before the confirming transaction) to its
// arrival.
type lagSNS struct {
	*messagingtest.SNS
	mu   sync.Mutex
	lags []time.Duration
}

func (l *lagSNS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	if err := r.ParseForm(); err == nil {
		var e events.OrderConfirmed
		if json.Unmarshal([]byte(r.PostForm.Get("Message")), &e) == nil {
			l.mu.Lock()
			l.lags = append(l.lags, arrived.Sub(e.Time))
			l.mu.Unlock()
		}
	}
	l.SNS.ServeHTTP(w, r)
}

// BenchmarkConfirmToPublish confirms b.N orders at 200 a second through
// the store, with one relay publishing through the real SDK to a fake SNS
// over HTTP, and reports the confirm → publish lag (p50, p99, max).
//
//	go test -run '^$' -bench ConfirmToPublish -benchtime 2000x ./internal/outbox/
func BenchmarkConfirmToPublish(b *testing.B) {
	const rate = 200 // orders a second
	s, _ := newStore(b)
	ctx := context.Background()

	const topic = "arn:aws:sns:eu-west-1:123456789012:order-events"
	fake := &lagSNS{SNS: messagingtest.NewSNS(b, topic)}
	srv := httptest.NewServer(fake)
	b.Cleanup(srv.Close)
	client := sns.New(sns.Options{Region: "eu-west-1", BaseEndpoint: &srv.URL,
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "SECRET", "")})
	r := relay(nil, s, messaging.NewPublisher(client, topic), outbox.Config{})
	runCtx, stop := context.WithCancel(ctx)
	var running sync.WaitGroup
	running.Go(func() { r.Run(runCtx) })

	b.ResetTimer()
	tick := time.NewTicker(time.Second / rate)
	var confirming sync.WaitGroup
	for range b.N {
		<-tick.C
		confirming.Go(func() { confirmOne(b, s) })
	}
	tick.Stop()
	confirming.Wait()
	fake.Await(b, b.N)
	b.StopTimer()
	stop()
	running.Wait()

	lags := slices.Clone(fake.lags)
	slices.Sort(lags)
	at := func(q float64) float64 { return float64(lags[int(q*float64(len(lags)-1))].Microseconds()) / 1000 }
	b.ReportMetric(at(0.5), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(at(1), "max-ms")
}

func confirmOne(b *testing.B, s *postgres.Store) {
	ctx := context.Background()
	c, err := s.Begin(ctx, order.Attempt{Key: uuid.NewString(), Fingerprint: order.Fingerprint(request),
		Request: request, NewOrderID: uuid.New(), Lease: time.Minute})
	if err != nil {
		b.Error(err)
		return
	}
	o, err := s.RecordReservation(ctx, c.Order.ID, []order.Item{{ProductID: request.Lines[0].ProductID,
		SKU: "MUG-1", Name: "Mug", Quantity: 2, UnitPriceCents: 1200}}, "EUR", 2400)
	if err != nil {
		b.Error(err)
		return
	}
	ev, err := outbox.OrderConfirmed(ctx, o, time.Now())
	if err != nil {
		b.Error(err)
		return
	}
	if err := s.Confirm(ctx, c, []byte(`{}`), ev); err != nil {
		b.Error(err)
	}
}
