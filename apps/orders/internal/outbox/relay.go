package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/fargateshop/shop/platform/messaging"
)

// Result is what became of one claimed event: Err nil means it was
// published; otherwise it is retried no sooner than RetryIn from now,
// unless Untried: the relay stopped before the publication could end, and
// the row stays as it was.
type Result struct {
	Err     error
	RetryIn time.Duration
	Untried bool
}

// Backlog is the state of the unsent rows.
type Backlog struct {
	Unsent int64
	// Oldest is the age of the oldest unsent row, 0 when there is none.
	Oldest time.Duration
}

// Store is the outbox storage the relay needs.
type Store interface {
	// RelayDue claims up to limit unsent events that are due, oldest
	// first, skipping those another relay holds; hands them to send with
	// ctx; and records each Result (sent, or a failed attempt and its next
	// time) in the same transaction, even when ctx ends during send. It
	// returns how many it claimed.
	RelayDue(ctx context.Context, limit int, send func(context.Context, []Event) []Result) (int, error)
	// DeleteSent deletes up to limit events sent more than olderThan ago.
	DeleteSent(ctx context.Context, olderThan time.Duration, limit int) (int64, error)
	Backlog(ctx context.Context) (Backlog, error)
}

// Publisher publishes an event's message; messaging.Publisher is one.
type Publisher interface {
	Publish(ctx context.Context, m messaging.Message) error
}

// Config tunes a Relay; zero fields take the defaults below.
type Config struct {
	// Batch bounds the rows claimed per round. A full batch starts the
	// next round at once, so a backlog drains at the publisher's pace.
	Batch int
	// Idle is the pause after a round that was not full. It bounds the
	// lag of an event written while the relay is idle: 100 ms keeps p99
	// confirm → publish far below a second, for one cheap index scan of
	// the partial outbox_unsent index per replica per interval.
	Idle time.Duration
	// PublishTimeout bounds one publication (with the SDK's own retries).
	// The claimed rows stay locked meanwhile, so it is short.
	PublishTimeout time.Duration
}

const (
	defaultBatch          = 50
	defaultIdle           = 100 * time.Millisecond
	defaultPublishTimeout = 5 * time.Second

	// parallel bounds the publications in flight in one round.
	parallel = 16
	// retention is how long sent rows are kept (to answer "was it
	// published, when?") before the relay deletes them.
	retention = 24 * time.Hour

	// A failed event is retried after backoff(attempts): 500 ms doubling
	// to 30 s, with jitter so that rows failed together spread out.
	firstBackoff = 500 * time.Millisecond
	maxBackoff   = 30 * time.Second
	// maxPause caps the relay's own backoff while nothing gets through,
	// short so that events flow again soon after the outage.
	maxPause = 5 * time.Second

	// The retention sweep runs once a minute, deleting at most sweepBatch
	// rows per statement so that it never holds many locks for long.
	sweepEvery = time.Minute
	sweepBatch = 500

	// warnEvery rate-limits the publish-failure log line: with the broker
	// down, every due row fails every round.
	warnEvery = 10 * time.Second

	// backlogTimeout bounds the gauge's query.
	backlogTimeout = 2 * time.Second
)

const scope = "github.com/fargateshop/shop/apps/orders/internal/outbox"

var published, _ = otel.Meter(scope).Int64Counter("shop.outbox.published", metric.WithUnit("{event}"),
	metric.WithDescription("Outbox events the relay tried to publish, by outcome: sent or failed (retried later)."))

// Relay publishes outbox events.
type Relay struct {
	log        *slog.Logger
	store      Store
	publishers map[string]Publisher // by topic
	cfg        Config
	jitter     func() float64 // in [0, 1)

	mu         sync.Mutex // guards the rate limit of the failure log
	lastWarn   time.Time
	suppressed int
}

// NewRelay returns a Relay publishing each event with the publisher of
// its topic.
func NewRelay(log *slog.Logger, store Store, publishers map[string]Publisher, cfg Config) *Relay {
	if cfg.Batch <= 0 {
		cfg.Batch = defaultBatch
	}
	if cfg.Idle <= 0 {
		cfg.Idle = defaultIdle
	}
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = defaultPublishTimeout
	}
	return &Relay{log: log, store: store, publishers: publishers, cfg: cfg, jitter: rand.Float64}
}

// Run relays until ctx is done: a round, then another at once if the
// round was full, else after cfg.Idle (longer while rounds fail, see
// pause); once a minute it deletes the sent rows past retention. It also
// reports the backlog as the gauges shop.outbox.unsent and
// shop.outbox.oldest_unsent_age while it runs.
// On cancellation the round in flight ends its publications at once and
// records what it knows: the events that went out are marked sent, the
// others are left as they were, for whichever relay runs next.
func (r *Relay) Run(ctx context.Context) {
	if reg, err := r.observeBacklog(); err != nil {
		r.log.WarnContext(ctx, "outbox backlog gauges", "error", err.Error())
	} else {
		defer func() {
			if err := reg.Unregister(); err != nil {
				r.log.WarnContext(ctx, "outbox backlog gauges", "error", err.Error())
			}
		}()
	}
	idle := time.NewTimer(0)
	defer idle.Stop()
	var (
		lastSweep time.Time
		down      int
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-idle.C:
		}
		claimed, failed, err := r.round(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.WarnContext(ctx, "outbox relay", "error", err.Error())
		}
		if time.Since(lastSweep) >= sweepEvery {
			lastSweep = time.Now()
			r.sweep(ctx)
		}
		idle.Reset(r.pause(claimed, failed, err, &down))
	}
}

// Once relays one batch and returns how many events it claimed.
func (r *Relay) Once(ctx context.Context) (int, error) {
	claimed, _, err := r.round(ctx)
	return claimed, err
}

// round relays one batch and returns how many events it claimed and how
// many of those it failed to publish.
func (r *Relay) round(ctx context.Context) (claimed, failed int, err error) {
	claimed, err = r.store.RelayDue(ctx, r.cfg.Batch, func(ctx context.Context, evs []Event) []Result {
		results := r.publishAll(ctx, evs)
		for _, res := range results {
			if res.Err != nil {
				failed++
			}
		}
		return results
	})
	return claimed, failed, err
}

// pause returns the wait before the next round, after one that claimed
// claimed events, failed to publish failed of them and ended with err.
// down counts the rounds in a row that got nothing through: the broker or
// the database is down, so the relay backs off as a whole (up to
// maxPause) instead of trying the next due rows every Idle.
func (r *Relay) pause(claimed, failed int, err error, down *int) time.Duration {
	switch {
	case err != nil || (claimed > 0 && failed == claimed):
		*down++
		return min(backoff(*down, r.jitter()), maxPause)
	case claimed == r.cfg.Batch:
		*down = 0
		return 0 // a backlog: carry on
	default:
		*down = 0
		return r.cfg.Idle
	}
}

// publishAll publishes events, at most parallel at a time.
func (r *Relay) publishAll(ctx context.Context, evs []Event) []Result {
	results := make([]Result, len(evs))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, e := range evs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			results[i] = r.publish(ctx, e)
		})
	}
	wg.Wait()
	return results
}

func (r *Relay) publish(ctx context.Context, e Event) Result {
	p, ok := r.publishers[e.Topic]
	var err error
	if !ok {
		err = fmt.Errorf("no publisher for topic %q", e.Topic)
	} else {
		pctx, cancel := context.WithTimeout(e.traceContext(ctx), r.cfg.PublishTimeout)
		err = p.Publish(pctx, messaging.Message{ID: e.ID.String(), Type: e.Type, Body: e.Body})
		cancel()
	}
	if err == nil {
		published.Add(ctx, 1, outcome("sent"))
		return Result{}
	}
	if ctx.Err() != nil {
		// The relay is stopping: not the broker's failure.
		return Result{Err: err, Untried: true}
	}
	published.Add(ctx, 1, outcome("failed"))
	attempts := e.Attempts + 1
	r.warn(ctx, e, attempts, err)
	return Result{Err: err, RetryIn: backoff(attempts, r.jitter())}
}

func outcome(v string) metric.AddOption {
	return metric.WithAttributes(attribute.String("outcome", v))
}

// warn logs a failed publication, at most once per warnEvery, saying how
// many failures the previous quiet period swallowed.
func (r *Relay) warn(ctx context.Context, e Event, attempts int, err error) {
	r.mu.Lock()
	if time.Since(r.lastWarn) < warnEvery {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	suppressed := r.suppressed
	r.lastWarn, r.suppressed = time.Now(), 0
	r.mu.Unlock()
	r.log.WarnContext(ctx, "publish outbox event", "event_id", e.ID.String(), "order_id", e.OrderID.String(),
		"type", e.Type, "attempts", attempts, "error", err.Error(), "failures_not_logged", suppressed)
}

// backoff is the wait after the attempts-th failed publication: 500 ms
// doubling per attempt up to 30 s, then the upper half of that at random
// ("equal jitter"), so a retry never comes sooner than half the step.
func backoff(attempts int, jitter float64) time.Duration {
	d := maxBackoff
	if attempts >= 1 && attempts <= 16 {
		d = min(firstBackoff<<(attempts-1), maxBackoff)
	}
	return d/2 + time.Duration(jitter*float64(d/2))
}

// sweep deletes the sent rows older than the retention, a batch at a time.
func (r *Relay) sweep(ctx context.Context) {
	var total int64
	for {
		n, err := r.store.DeleteSent(ctx, retention, sweepBatch)
		total += n
		if err != nil {
			if ctx.Err() == nil {
				r.log.WarnContext(ctx, "delete sent outbox events", "error", err.Error())
			}
			break
		}
		if n < sweepBatch {
			break
		}
	}
	if total > 0 {
		r.log.InfoContext(ctx, "deleted sent outbox events", "count", total)
	}
}

// observeBacklog registers the backlog gauges, read from the database at
// each collection.
func (r *Relay) observeBacklog() (metric.Registration, error) {
	m := otel.Meter(scope)
	unsent, err1 := m.Int64ObservableGauge("shop.outbox.unsent", metric.WithUnit("{event}"),
		metric.WithDescription("Outbox events not published yet."))
	oldest, err2 := m.Float64ObservableGauge("shop.outbox.oldest_unsent_age", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest outbox event not published yet; 0 when none."))
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, backlogTimeout)
		defer cancel()
		b, err := r.store.Backlog(ctx)
		if err != nil {
			return err
		}
		o.ObserveInt64(unsent, b.Unsent)
		o.ObserveFloat64(oldest, b.Oldest.Seconds())
		return nil
	}, unsent, oldest)
}
