package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/fargateshop/shop/apps/catalog/internal/catalog"
	"github.com/fargateshop/shop/platform/apperr"
	platformpg "github.com/fargateshop/shop/platform/postgres"
)

// scope names the sweeper's span and counter.
const scope = "github.com/fargateshop/shop/apps/catalog/internal/postgres"

var (
	tracer     = otel.Tracer(scope)
	expired, _ = otel.Meter(scope).Int64Counter("shop.reservations.expired", metric.WithUnit("{reservation}"),
		metric.WithDescription("Reservations the sweeper released because their order was not confirmed in time."))
)

// Locking rules, which make every operation below atomic and deadlock-free:
// a transaction locks the reservation row first (by inserting it or with
// FOR UPDATE), then the product rows it changes, always in ascending id
// order. Status changes happen only while the reservation row is locked,
// so confirm, release and the sweeper each see the one true status and
// exactly one of them moves a reservation out of "reserved".

// Reserve holds stock for every line of req, or for none. It reports
// created=false when req.OrderID already had a reservation, which is then
// returned unchanged (a tombstone left by an early release is returned as
// "released" with no lines and takes no stock).
func (s *Store) Reserve(ctx context.Context, req catalog.ReservationRequest) (res catalog.Reservation, created bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// A concurrent Reserve for the same order waits here on the primary
		// key until this transaction ends, then finds the row.
		var expiresAt time.Time
		err := tx.QueryRow(ctx, `INSERT INTO catalog.reservations (order_id, status, expires_at)
			VALUES ($1, 'reserved', now() + $2 * interval '1 millisecond')
			ON CONFLICT (order_id) DO NOTHING RETURNING expires_at`,
			req.OrderID, s.ttl.Milliseconds()).Scan(&expiresAt)
		if errors.Is(err, pgx.ErrNoRows) {
			res, err = loadReservation(ctx, tx, req.OrderID, false)
			if err != nil {
				return err
			}
			if len(res.Lines) > 0 && !res.SameLines(req) {
				return catalog.ErrReservationMismatch
			}
			return nil
		}
		if err != nil {
			return err
		}
		created = true
		lines, err := takeStock(ctx, tx, req)
		res = catalog.Reservation{OrderID: req.OrderID, Status: catalog.Reserved, ExpiresAt: expiresAt, Lines: lines}
		return err
	})
	if err != nil {
		return catalog.Reservation{}, false, platformpg.Error(ctx, "reserve", err)
	}
	return res, created, nil
}

// takeStock locks the products of req in id order, checks that each has
// enough stock, subtracts it and records the lines.
func takeStock(ctx context.Context, tx pgx.Tx, req catalog.ReservationRequest) ([]catalog.ReservedLine, error) {
	rows, err := tx.Query(ctx, `SELECT id, sku, name, price_cents, currency, stock
		FROM catalog.products WHERE id = ANY($1) ORDER BY id FOR UPDATE`, req.ProductIDs())
	if err != nil {
		return nil, err
	}
	type product struct {
		line  catalog.ReservedLine
		stock int
	}
	found := map[uuid.UUID]product{}
	var p product
	_, err = pgx.ForEachRow(rows, []any{&p.line.ProductID, &p.line.SKU, &p.line.Name,
		&p.line.UnitPriceCents, &p.line.Currency, &p.stock}, func() error {
		found[p.line.ProductID] = p
		return nil
	})
	if err != nil {
		return nil, err
	}

	var unknown, short []apperr.FieldError
	lines := make([]catalog.ReservedLine, len(req.Lines))
	for i, l := range req.Lines {
		p, ok := found[l.ProductID]
		switch {
		case !ok:
			unknown = append(unknown, apperr.FieldError{Field: fmt.Sprintf("items[%d].product_id", i), Message: "no such product"})
		case p.stock < l.Quantity:
			short = append(short, apperr.FieldError{Field: fmt.Sprintf("items[%d].quantity", i),
				Message: fmt.Sprintf("requested %d, %d available", l.Quantity, p.stock)})
		}
		lines[i] = p.line
		lines[i].Quantity = l.Quantity
	}
	if len(unknown) > 0 {
		return nil, catalog.UnknownProducts(unknown)
	}
	if len(short) > 0 {
		return nil, catalog.OutOfStock(short)
	}

	batch := &pgx.Batch{}
	for i, l := range lines {
		// The stock condition is redundant with the check above (the rows
		// are locked) and with the CHECK constraint; it costs nothing.
		batch.Queue(`UPDATE catalog.products SET stock = stock - $2 WHERE id = $1 AND stock >= $2`,
			l.ProductID, l.Quantity).Exec(func(ct pgconn.CommandTag) error {
			if ct.RowsAffected() != 1 {
				return fmt.Errorf("stock of product %s changed while locked", l.ProductID)
			}
			return nil
		})
		batch.Queue(`INSERT INTO catalog.reservation_items
			(order_id, product_id, line, quantity, sku, name, unit_price_cents, currency)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			req.OrderID, l.ProductID, i, l.Quantity, l.SKU, l.Name, l.UnitPriceCents, l.Currency)
	}
	if err := tx.SendBatch(ctx, batch).Close(); err != nil {
		return nil, err
	}
	return lines, nil
}

// Confirm makes a reservation final: its stock is sold. A reservation past
// its expiry is released instead, even if the sweeper has not reached it
// yet, so the TTL means the same thing whatever the sweeper's timing.
func (s *Store) Confirm(ctx context.Context, orderID uuid.UUID) (catalog.Reservation, error) {
	var res catalog.Reservation
	expired := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		res, err = loadReservation(ctx, tx, orderID, true)
		if err != nil {
			return err
		}
		switch {
		case res.Status == catalog.Released:
			return catalog.ErrReservationReleased
		case res.Status == catalog.Confirmed:
			return nil
		}
		ct, err := tx.Exec(ctx, `UPDATE catalog.reservations SET status = 'confirmed', updated_at = now()
			WHERE order_id = $1 AND expires_at > now()`, orderID)
		if err != nil {
			return err
		}
		if ct.RowsAffected() == 0 {
			expired = true
			return release(ctx, tx, []uuid.UUID{orderID})
		}
		res.Status = catalog.Confirmed
		return nil
	})
	if err != nil {
		return catalog.Reservation{}, platformpg.Error(ctx, "confirm reservation", err)
	}
	if expired {
		return catalog.Reservation{}, catalog.ErrReservationReleased
	}
	return res, nil
}

// Release gives a reservation's stock back, once: only the transition from
// "reserved" returns stock. Releasing an unknown order leaves a "released"
// tombstone, so a reserve that arrives later for it takes nothing.
func (s *Store) Release(ctx context.Context, orderID uuid.UUID) (catalog.Reservation, error) {
	var res catalog.Reservation
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var expiresAt time.Time
		err := tx.QueryRow(ctx, `INSERT INTO catalog.reservations (order_id, status, expires_at)
			VALUES ($1, 'released', now()) ON CONFLICT (order_id) DO NOTHING RETURNING expires_at`,
			orderID).Scan(&expiresAt)
		if err == nil {
			res = catalog.Reservation{OrderID: orderID, Status: catalog.Released, ExpiresAt: expiresAt,
				Lines: []catalog.ReservedLine{}}
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		res, err = loadReservation(ctx, tx, orderID, true)
		if err != nil {
			return err
		}
		switch res.Status {
		case catalog.Confirmed:
			return catalog.ErrReservationConfirmed
		case catalog.Released:
			return nil
		}
		res.Status = catalog.Released
		return release(ctx, tx, []uuid.UUID{orderID})
	})
	if err != nil {
		return catalog.Reservation{}, platformpg.Error(ctx, "release reservation", err)
	}
	return res, nil
}

// SweepExpired releases up to limit reservations whose expiry has passed
// and returns how many it released. SKIP LOCKED leaves alone reservations
// that a confirm or release is handling right now (and other replicas'
// sweepers' batches); a later sweep sees their final status.
func (s *Store) SweepExpired(ctx context.Context, limit int) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT order_id FROM catalog.reservations
			WHERE status = 'reserved' AND expires_at <= now()
			ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
		if err != nil {
			return err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil || len(ids) == 0 {
			return err
		}
		n = len(ids)
		return release(ctx, tx, ids)
	})
	if err != nil {
		return 0, platformpg.Error(ctx, "sweep expired reservations", err)
	}
	return n, nil
}

// sweepBatch bounds one sweep transaction, so that a backlog after an
// outage is released in short transactions rather than one long one.
const sweepBatch = 100

// RunSweeper releases expired reservations every interval until ctx ends.
// Several replicas may run it at once: SKIP LOCKED shares the work.
func (s *Store) RunSweeper(ctx context.Context, log *slog.Logger, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		for {
			start := time.Now()
			n, err := s.SweepExpired(ctx, sweepBatch)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("sweep expired reservations", "error", err.Error())
				}
				break
			}
			if n > 0 {
				log.Info("released expired reservations", "count", n)
				expired.Add(ctx, int64(n))
				// A span only for a sweep that did something, after the
				// fact: one every few seconds for nothing would bury the
				// traces worth reading.
				_, span := tracer.Start(ctx, "sweep expired reservations", trace.WithTimestamp(start),
					trace.WithAttributes(attribute.Int("shop.reservations.released", n)))
				span.End()
			}
			if n < sweepBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// release moves reservations, which the caller has locked and found
// "reserved", to "released" and gives their stock back. Products are locked
// in id order first, like Reserve does.
func release(ctx context.Context, tx pgx.Tx, orderIDs []uuid.UUID) error {
	if _, err := tx.Exec(ctx, `UPDATE catalog.reservations SET status = 'released', updated_at = now()
		WHERE order_id = ANY($1) AND status = 'reserved'`, orderIDs); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM catalog.products WHERE id IN
		(SELECT product_id FROM catalog.reservation_items WHERE order_id = ANY($1))
		ORDER BY id FOR UPDATE`, orderIDs); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE catalog.products p SET stock = p.stock + r.quantity
		FROM (SELECT product_id, sum(quantity) AS quantity FROM catalog.reservation_items
		      WHERE order_id = ANY($1) GROUP BY product_id) r
		WHERE p.id = r.product_id`, orderIDs)
	return err
}

// loadReservation reads a reservation and its lines, locking the
// reservation row when forUpdate is set.
func loadReservation(ctx context.Context, tx pgx.Tx, orderID uuid.UUID, forUpdate bool) (catalog.Reservation, error) {
	res := catalog.Reservation{OrderID: orderID, Lines: []catalog.ReservedLine{}}
	q := `SELECT status, expires_at FROM catalog.reservations WHERE order_id = $1`
	if forUpdate {
		q += " FOR UPDATE"
	}
	err := tx.QueryRow(ctx, q, orderID).Scan(&res.Status, &res.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return res, catalog.ErrReservationNotFound
	}
	if err != nil {
		return res, err
	}
	rows, err := tx.Query(ctx, `SELECT product_id, sku, name, quantity, unit_price_cents, currency
		FROM catalog.reservation_items WHERE order_id = $1 ORDER BY line`, orderID)
	if err != nil {
		return res, err
	}
	var l catalog.ReservedLine
	_, err = pgx.ForEachRow(rows, []any{&l.ProductID, &l.SKU, &l.Name, &l.Quantity, &l.UnitPriceCents, &l.Currency},
		func() error {
			res.Lines = append(res.Lines, l)
			return nil
		})
	return res, err
}
