// Package reconcile finds orders that no request finished (the process
// died mid-request, or catalog was down and the client never retried) and
// has checkout.Service.Settle end each one. Together with catalog's own
// reservation timeout this keeps stock from staying reserved and never
// loses a confirmed order.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/fargateshop/shop/apps/orders/internal/checkout"
	"github.com/fargateshop/shop/apps/orders/internal/order"
)

// Store is the storage the reconciler needs, besides what the checkout
// workflow writes.
type Store interface {
	checkout.Store
	ClaimStuck(ctx context.Context, olderThan, lease time.Duration, limit int) ([]order.Claim, error)
	DeleteExpiredKeys(ctx context.Context, retention time.Duration) (int64, error)
}

const (
	// batch bounds the orders settled per round.
	batch = 50
	// cleanupEvery spaces out the deletion of expired idempotency keys,
	// which has no urgency.
	cleanupEvery = time.Minute
)

var tracer = otel.Tracer("github.com/fargateshop/shop/apps/orders/internal/reconcile")

// Reconciler settles stuck orders periodically.
type Reconciler struct {
	log      *slog.Logger
	store    Store
	checkout *checkout.Service
	// after is how long an order may stay pending or reserved without a
	// lease holder before it is settled; it is also the lease taken.
	after time.Duration
}

// New returns a Reconciler settling orders stuck for longer than after.
func New(log *slog.Logger, store Store, catalog checkout.Catalog, after time.Duration) *Reconciler {
	return &Reconciler{log: log, store: store, checkout: checkout.New(log, store, catalog), after: after}
}

// Run settles stuck orders every interval, and deletes expired
// idempotency keys every minute, until ctx is done.
func (r *Reconciler) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var lastCleanup time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := r.Once(ctx); err != nil && ctx.Err() == nil {
			r.log.WarnContext(ctx, "reconcile", "error", err.Error())
		}
		if time.Since(lastCleanup) < cleanupEvery {
			continue
		}
		lastCleanup = time.Now()
		if n, err := r.store.DeleteExpiredKeys(ctx, order.KeyRetention); err != nil && ctx.Err() == nil {
			r.log.WarnContext(ctx, "delete expired idempotency keys", "error", err.Error())
		} else if n > 0 {
			r.log.InfoContext(ctx, "deleted expired idempotency keys", "count", n)
		}
	}
}

// Once settles one batch of stuck orders and returns how many it settled.
//
// A round with orders to settle is one trace, "reconcile", begun when the
// round began, with a span per order carrying its id (shop.order.id), so
// a stuck order's end is found by searching for that tag. A round with
// nothing to do leaves no trace: one every few seconds would bury the rest.
func (r *Reconciler) Once(ctx context.Context) (int, error) {
	start := time.Now()
	claims, err := r.store.ClaimStuck(ctx, r.after, r.after, batch)
	if err != nil || len(claims) == 0 {
		return 0, err
	}
	ctx, round := tracer.Start(ctx, "reconcile", trace.WithTimestamp(start), trace.WithNewRoot(),
		trace.WithAttributes(attribute.Int("shop.orders.claimed", len(claims))))
	defer round.End()
	settled := 0
	var errs []error
	for _, c := range claims {
		// On error Settle gives the lease back, so the next round tries
		// again rather than waiting it out.
		if err := r.settle(ctx, c); err != nil {
			errs = append(errs, fmt.Errorf("order %s: %w", c.Order.ID, err))
			continue
		}
		settled++
	}
	round.SetAttributes(attribute.Int("shop.orders.settled", settled))
	if err := errors.Join(errs...); err != nil {
		round.SetStatus(codes.Error, err.Error())
		return settled, err
	}
	return settled, nil
}

func (r *Reconciler) settle(ctx context.Context, c order.Claim) error {
	ctx, span := tracer.Start(ctx, "settle order", trace.WithAttributes(
		attribute.String("shop.order.id", c.Order.ID.String()),
		attribute.String("shop.order.status", string(c.Order.Status))))
	defer span.End()
	how, err := r.checkout.Settle(ctx, c)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return err
	}
	span.SetAttributes(attribute.String("shop.outcome", how))
	return nil
}
