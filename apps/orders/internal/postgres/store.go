// Package postgres stores orders and Idempotency-Keys in the orders schema.
package postgres

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fargateshop/shop/apps/orders/internal/order"
	"github.com/fargateshop/shop/apps/orders/internal/outbox"
	platformpg "github.com/fargateshop/shop/platform/postgres"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Schema is the PostgreSQL schema this service owns.
const Schema = "orders"

// Migrate applies the embedded migrations.
func Migrate(ctx context.Context, log *slog.Logger, pool *platformpg.Pool) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	return platformpg.Migrate(ctx, log, pool, Schema, sub)
}

// Store is the orders database.
type Store struct {
	pool *platformpg.Pool
}

// New returns a Store on pool.
func New(pool *platformpg.Pool) *Store { return &Store{pool: pool} }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return platformpg.Error(ctx, "ping", s.pool.Ping(ctx))
}

// Begin registers an attempt under its Idempotency-Key. A new key inserts
// the key row (leased to this attempt) and a pending order in one
// transaction, so no order exists without its key and vice versa. A known
// key is a replay, a body mismatch, a request still in progress, or, when
// the earlier attempt's lease ran out without an answer, a takeover that
// resumes the same order. If that order already failed (released by the
// reconciler or by catalog), the takeover starts a fresh order: the client
// never got an answer for the failed one.
func (s *Store) Begin(ctx context.Context, a order.Attempt) (order.Claim, error) {
	var claim order.Claim
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		leaseID := uuid.New()
		tag, err := tx.Exec(ctx, `
			INSERT INTO orders.idempotency_keys (key, fingerprint, order_id, lease_id, locked_until)
			VALUES ($1, $2, $3, $4, now() + $5 * interval '1 millisecond')
			ON CONFLICT (key) DO NOTHING`,
			a.Key, a.Fingerprint, a.NewOrderID, leaseID, a.Lease.Milliseconds())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			o, err := insertOrder(ctx, tx, a.NewOrderID, a.Request)
			claim = order.Claim{Key: a.Key, LeaseID: leaseID, Order: o}
			return err
		}

		var (
			fingerprint []byte
			orderID     uuid.UUID
			status      *int
			body        []byte
			leased      bool
		)
		err = tx.QueryRow(ctx, `
			SELECT fingerprint, order_id, response_status, response_body, coalesce(locked_until > now(), false)
			FROM orders.idempotency_keys WHERE key = $1 FOR UPDATE`, a.Key).
			Scan(&fingerprint, &orderID, &status, &body, &leased)
		if err != nil {
			return err
		}
		switch {
		case !bytes.Equal(fingerprint, a.Fingerprint):
			return order.ErrKeyReused
		case status != nil:
			claim = order.Claim{Key: a.Key, Order: order.Order{ID: orderID},
				Replay: &order.Response{Status: *status, Body: body}}
			return nil
		case leased:
			return order.ErrInProgress
		}

		o, err := getOrder(ctx, tx, orderID)
		if err != nil {
			return err
		}
		if o.Status == order.Failed {
			if o, err = insertOrder(ctx, tx, a.NewOrderID, a.Request); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `
			UPDATE orders.idempotency_keys
			SET order_id = $2, lease_id = $3, locked_until = now() + $4 * interval '1 millisecond'
			WHERE key = $1`, a.Key, o.ID, leaseID, a.Lease.Milliseconds())
		claim = order.Claim{Key: a.Key, LeaseID: leaseID, Order: o, Resumed: true}
		return err
	})
	if err != nil {
		return order.Claim{}, platformpg.Error(ctx, "begin order", err)
	}
	return claim, nil
}

// insertOrder inserts a pending order and its lines in one round trip.
func insertOrder(ctx context.Context, tx pgx.Tx, id uuid.UUID, r order.Request) (order.Order, error) {
	o := order.Order{ID: id, Status: order.Pending, Email: r.Email, Items: make([]order.Item, len(r.Lines))}
	products := make([]string, len(r.Lines))
	quantities := make([]int32, len(r.Lines))
	for i, l := range r.Lines {
		products[i], quantities[i] = l.ProductID, int32(l.Quantity)
		o.Items[i] = order.Item{ProductID: l.ProductID, Quantity: l.Quantity}
	}
	b := &pgx.Batch{}
	b.Queue(`
		INSERT INTO orders.orders (id, status, email) VALUES ($1, 'pending', $2)
		RETURNING created_at`, id, r.Email).QueryRow(func(row pgx.Row) error { return row.Scan(&o.CreatedAt) })
	b.Queue(`
		INSERT INTO orders.order_items (order_id, line, product_id, quantity)
		SELECT $1, t.ord - 1, t.p::uuid, t.q
		FROM unnest($2::text[], $3::int[]) WITH ORDINALITY AS t(p, q, ord)`, id, products, quantities)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return order.Order{}, err
	}
	return o, nil
}

// getOrder reads an order and its lines in one round trip.
func getOrder(ctx context.Context, db interface {
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
}, id uuid.UUID) (order.Order, error) {
	var o order.Order
	b := &pgx.Batch{}
	found := queueGetOrder(b, id, &o)
	if err := db.SendBatch(ctx, b).Close(); err != nil {
		return order.Order{}, err
	}
	if !*found {
		return order.Order{}, order.ErrNotFound
	}
	return o, nil
}

// queueGetOrder queues the reads of order id and its lines into o, and
// reports through found, once the batch is closed, whether the order
// exists. (A missing order is not an error inside the batch: pgx drops a
// connection's cached statements when a batch fails.)
func queueGetOrder(b *pgx.Batch, id uuid.UUID, o *order.Order) (found *bool) {
	found = new(bool)
	o.ID = id
	b.Queue(`
		SELECT status, email, coalesce(currency, ''), coalesce(total_cents, 0), created_at
		FROM orders.orders WHERE id = $1`, id).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&o.Status, &o.Email, &o.Currency, &o.TotalCents, &o.CreatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		*found = err == nil
		return err
	})
	b.Queue(`
		SELECT product_id::text, coalesce(sku, ''), coalesce(name, ''), quantity, coalesce(unit_price_cents, 0)
		FROM orders.order_items WHERE order_id = $1 ORDER BY line`, id).Query(func(rows pgx.Rows) error {
		var err error
		o.Items, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (order.Item, error) {
			var it order.Item
			err := r.Scan(&it.ProductID, &it.SKU, &it.Name, &it.Quantity, &it.UnitPriceCents)
			return it, err
		})
		return err
	})
	return found
}

// mustChange is a batch callback that fails with order.ErrStateChanged
// when its statement changed no row: another actor moved the order on, and
// the transaction is rolled back.
func mustChange(ct pgconn.CommandTag) error {
	if ct.RowsAffected() == 0 {
		return order.ErrStateChanged
	}
	return nil
}

// Get returns the order with id, or order.ErrNotFound.
func (s *Store) Get(ctx context.Context, id uuid.UUID) (order.Order, error) {
	o, err := getOrder(ctx, s.pool, id)
	if err != nil {
		return order.Order{}, platformpg.Error(ctx, "get order", err)
	}
	return o, nil
}

// RecordReservation moves a pending order to reserved with catalog's names,
// prices, currency and total, and returns the updated order.
func (s *Store) RecordReservation(ctx context.Context, id uuid.UUID, items []order.Item, currency string, total int64) (order.Order, error) {
	products := make([]string, len(items))
	skus := make([]string, len(items))
	names := make([]string, len(items))
	prices := make([]int64, len(items))
	for i, it := range items {
		products[i], skus[i], names[i], prices[i] = it.ProductID, it.SKU, it.Name, it.UnitPriceCents
	}
	var o order.Order
	// One round trip inside the transaction: a status that moved on fails
	// the first statement's check and rolls the rest back.
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`
			UPDATE orders.orders SET status = 'reserved', currency = $2, total_cents = $3, updated_at = now()
			WHERE id = $1 AND status = 'pending'`, id, currency, total).Exec(mustChange)
		b.Queue(`
			UPDATE orders.order_items i SET sku = t.sku, name = t.name, unit_price_cents = t.price
			FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[]) AS t(p, sku, name, price)
			WHERE i.order_id = $1 AND i.product_id = t.p::uuid`, id, products, skus, names, prices)
		found := queueGetOrder(b, id, &o)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if !*found {
			return order.ErrNotFound // unreachable: the update above found it
		}
		return nil
	})
	if err != nil {
		return order.Order{}, platformpg.Error(ctx, "record reservation", err)
	}
	return o, nil
}

// Confirm marks a reserved order confirmed, completes its key with the
// 201 body and writes its order.confirmed event to the outbox, in one
// transaction: a confirmed order always replays and always has its event,
// and an order that is not confirmed has none. A second Confirm of the
// same order changes nothing (ErrStateChanged). It must only be called
// after catalog confirmed the reservation.
func (s *Store) Confirm(ctx context.Context, c order.Claim, body []byte, event outbox.Event) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`
			UPDATE orders.orders SET status = 'confirmed', updated_at = now()
			WHERE id = $1 AND status = 'reserved'`, c.Order.ID).Exec(mustChange)
		b.Queue(completeSQL, completeArgs(c, &order.Response{Status: 201, Body: body})...)
		b.Queue(insertEventSQL, eventArgs(event)...)
		return tx.SendBatch(ctx, b).Close()
	})
	return platformpg.Error(ctx, "confirm order", err)
}

// Fail marks a pending or reserved order failed. With resp, the key is
// completed so that retries replay resp; without, the lease is released
// so that a retry runs again (and starts a fresh order).
func (s *Store) Fail(ctx context.Context, c order.Claim, reason string, resp *order.Response) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`
			UPDATE orders.orders SET status = 'failed', failure = $2, updated_at = now()
			WHERE id = $1 AND status IN ('pending', 'reserved')`, c.Order.ID, reason).Exec(mustChange)
		if resp != nil {
			b.Queue(completeSQL, completeArgs(c, resp)...)
		} else {
			b.Queue(releaseLeaseSQL, c.Key, c.LeaseID)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	return platformpg.Error(ctx, "fail order", err)
}

// completeSQL stores the answer of a claim's request under its key, which
// ends the lease: every retry with the key replays it.
const completeSQL = `
	UPDATE orders.idempotency_keys
	SET response_status = $3, response_body = $4, completed_at = now(), lease_id = NULL, locked_until = NULL
	WHERE key = $1 AND order_id = $2 AND response_status IS NULL`

func completeArgs(c order.Claim, resp *order.Response) []any {
	return []any{c.Key, c.Order.ID, resp.Status, resp.Body}
}

// releaseLeaseSQL gives up a claim's lease without an answer.
const releaseLeaseSQL = `
	UPDATE orders.idempotency_keys SET lease_id = NULL, locked_until = now()
	WHERE key = $1 AND lease_id = $2`

// ReleaseLease gives up the lease without storing an answer, so the next
// request with the key (or the reconciler) carries on with the order.
func (s *Store) ReleaseLease(ctx context.Context, c order.Claim) error {
	_, err := s.pool.Exec(ctx, releaseLeaseSQL, c.Key, c.LeaseID)
	return platformpg.Error(ctx, "release lease", err)
}

// ClaimStuck leases up to limit orders that are pending or reserved, were
// last changed more than olderThan ago and whose key is not leased, for the
// reconciler. SKIP LOCKED lets several replicas reconcile side by side.
func (s *Store) ClaimStuck(ctx context.Context, olderThan, lease time.Duration, limit int) ([]order.Claim, error) {
	rows, err := s.pool.Query(ctx, `
		WITH stuck AS (
			SELECT k.key
			FROM orders.idempotency_keys k JOIN orders.orders o ON o.id = k.order_id
			WHERE o.status IN ('pending', 'reserved')
			  AND o.updated_at < now() - $1 * interval '1 millisecond'
			  AND k.response_status IS NULL
			  AND (k.locked_until IS NULL OR k.locked_until <= now())
			ORDER BY o.updated_at
			LIMIT $2
			FOR UPDATE OF k SKIP LOCKED)
		UPDATE orders.idempotency_keys k
		SET lease_id = gen_random_uuid(), locked_until = now() + $3 * interval '1 millisecond'
		FROM stuck WHERE k.key = stuck.key
		RETURNING k.key, k.lease_id, k.order_id`, olderThan.Milliseconds(), limit, lease.Milliseconds())
	if err != nil {
		return nil, platformpg.Error(ctx, "claim stuck orders", err)
	}
	claims, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (order.Claim, error) {
		var c order.Claim
		err := r.Scan(&c.Key, &c.LeaseID, &c.Order.ID)
		return c, err
	})
	if err != nil {
		return nil, platformpg.Error(ctx, "claim stuck orders", err)
	}
	for i := range claims {
		if claims[i].Order, err = s.Get(ctx, claims[i].Order.ID); err != nil {
			return nil, err
		}
	}
	return claims, nil
}

// DeleteExpiredKeys deletes keys older than retention that are done: the
// answer was stored, or the order ended and nobody holds the lease. Orders
// themselves are kept.
func (s *Store) DeleteExpiredKeys(ctx context.Context, retention time.Duration) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM orders.idempotency_keys k USING orders.orders o
		WHERE k.order_id = o.id
		  AND k.created_at < now() - $1 * interval '1 millisecond'
		  AND (k.completed_at IS NOT NULL
		       OR (o.status IN ('confirmed', 'failed') AND (k.locked_until IS NULL OR k.locked_until <= now())))`,
		retention.Milliseconds())
	if err != nil {
		return 0, platformpg.Error(ctx, "delete expired keys", err)
	}
	return tag.RowsAffected(), nil
}
