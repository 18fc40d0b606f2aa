// Package reconcile settles orders that no request finished: the process
// died mid-request, or catalog was down and the client never retried. Each
// such order is released at catalog (and marked failed) unless catalog says
// it was confirmed (then it is marked confirmed and its key completed with
// the 201 answer). Together with catalog's own reservation timeout this
// keeps stock from staying reserved and never loses a confirmed order.
package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/fargateshop/shop/apps/orders/internal/order"
)

// Store is the storage the reconciler needs.
type Store interface {
	ClaimStuck(ctx context.Context, olderThan, lease time.Duration, limit int) ([]order.Claim, error)
	RecordReservation(ctx context.Context, id uuid.UUID, items []order.Item, currency string, total int64) (order.Order, error)
	Confirm(ctx context.Context, c order.Claim, body []byte) error
	Fail(ctx context.Context, c order.Claim, reason string, resp *order.Response) error
	ReleaseLease(ctx context.Context, c order.Claim) error
	DeleteExpiredKeys(ctx context.Context, retention time.Duration) (int64, error)
}

// Catalog is the part of catalog's API the reconciler uses.
type Catalog interface {
	Reserve(ctx context.Context, orderID uuid.UUID, lines []order.Line) (order.Reservation, error)
	Release(ctx context.Context, orderID uuid.UUID) error
}

const (
	// batch bounds the orders settled per round.
	batch = 50
	// cleanupEvery spaces out the deletion of expired idempotency keys,
	// which has no urgency.
	cleanupEvery = time.Minute
)

// Reconciler settles stuck orders periodically.
type Reconciler struct {
	log     *slog.Logger
	store   Store
	catalog Catalog
	// after is how long an order may stay pending or reserved without a
	// lease holder before it is settled; it is also the lease taken.
	after time.Duration
}

// New returns a Reconciler settling orders stuck for longer than after.
func New(log *slog.Logger, store Store, catalog Catalog, after time.Duration) *Reconciler {
	return &Reconciler{log: log, store: store, catalog: catalog, after: after}
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
func (r *Reconciler) Once(ctx context.Context) (int, error) {
	claims, err := r.store.ClaimStuck(ctx, r.after, r.after, batch)
	if err != nil {
		return 0, err
	}
	settled := 0
	var errs []error
	for _, c := range claims {
		if err := r.settle(ctx, c); err != nil {
			errs = append(errs, fmt.Errorf("order %s: %w", c.Order.ID, err))
			// Let the next round try again rather than waiting out the lease.
			if rerr := r.store.ReleaseLease(context.WithoutCancel(ctx), c); rerr != nil {
				errs = append(errs, rerr)
			}
			continue
		}
		settled++
	}
	return settled, errors.Join(errs...)
}

func (r *Reconciler) settle(ctx context.Context, c order.Claim) error {
	err := r.catalog.Release(ctx, c.Order.ID)
	if err == nil {
		// Released (or tombstoned, so a late reserve takes nothing).
		r.log.InfoContext(ctx, "stuck order released", "order_id", c.Order.ID.String(), "was", string(c.Order.Status))
		return r.store.Fail(ctx, c, "released by reconciler", nil)
	}
	if !errors.Is(err, order.ErrReservationConfirmed) {
		return err
	}

	// Catalog confirmed it: the order stands and must be recorded as such.
	o := c.Order
	if o.Status == order.Pending {
		// Names and prices were never stored; reserve is idempotent and
		// returns the existing reservation without taking stock.
		res, err := r.catalog.Reserve(ctx, o.ID, o.Lines())
		if err != nil {
			return err
		}
		items, currency, total, err := order.Priced(o.Lines(), res)
		if err != nil {
			return err
		}
		if o, err = r.store.RecordReservation(ctx, o.ID, items, currency, total); err != nil {
			return err
		}
	}
	o.Status = order.Confirmed
	body, err := json.Marshal(o)
	if err != nil {
		return err
	}
	r.log.InfoContext(ctx, "stuck order confirmed", "order_id", o.ID.String())
	return r.store.Confirm(ctx, c, body)
}
