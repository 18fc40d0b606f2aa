package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fargateshop/shop/apps/orders/internal/outbox"
	platformpg "github.com/fargateshop/shop/platform/postgres"
)

// insertEventSQL writes an outbox event; the transaction that runs it is
// the one that caused the event.
const insertEventSQL = `
	INSERT INTO orders.outbox (id, order_id, topic, type, body, traceparent, tracestate)
	VALUES ($1, $2, $3, $4, $5, nullif($6, ''), nullif($7, ''))`

func eventArgs(e outbox.Event) []any {
	return []any{e.ID, e.OrderID, e.Topic, e.Type, e.Body, e.Traceparent, e.Tracestate}
}

// relayTimeout bounds a relay round's transaction, which is not cancelled
// with the relay: long enough for any publication, short of forever.
const relayTimeout = time.Minute

// RelayDue claims up to limit due, unsent events, oldest due first, hands
// them to send and records what send reports, in one transaction. FOR
// UPDATE SKIP LOCKED keeps the rows one relay holds from every other until
// it commits (then they are sent, or not due yet) or rolls back (then they
// are due again). A crash after the publish and before the commit
// publishes them again: at least once. The transaction outlives ctx (only
// send sees it), so a relay that stops mid-round still records the
// publications that went out, and releases its rows at once.
func (s *Store) RelayDue(ctx context.Context, limit int, send func(context.Context, []outbox.Event) []outbox.Result) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	sendCtx := ctx
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), relayTimeout)
	defer cancel()
	var claimed int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT id, order_id, topic, type, body, coalesce(traceparent, ''), coalesce(tracestate, ''), attempts
			FROM orders.outbox
			WHERE sent_at IS NULL AND next_attempt_at <= now()
			ORDER BY next_attempt_at
			LIMIT $1
			FOR UPDATE SKIP LOCKED`, limit)
		if err != nil {
			return err
		}
		evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (outbox.Event, error) {
			var e outbox.Event
			err := r.Scan(&e.ID, &e.OrderID, &e.Topic, &e.Type, &e.Body, &e.Traceparent, &e.Tracestate, &e.Attempts)
			return e, err
		})
		if err != nil || len(evs) == 0 {
			return err
		}
		claimed = len(evs)

		results := send(sendCtx, evs)
		var sent, failed, reasons []string
		var waits []int64
		for i, res := range results {
			switch {
			case res.Untried:
				continue
			case res.Err == nil:
				sent = append(sent, evs[i].ID.String())
				continue
			}
			failed = append(failed, evs[i].ID.String())
			reasons = append(reasons, res.Err.Error())
			waits = append(waits, res.RetryIn.Milliseconds())
		}
		b := &pgx.Batch{}
		b.Queue(`
			UPDATE orders.outbox SET sent_at = now(), attempts = attempts + 1, last_error = NULL
			WHERE id = ANY($1::uuid[])`, sent)
		b.Queue(`
			UPDATE orders.outbox o
			SET attempts = o.attempts + 1, last_error = t.reason,
			    next_attempt_at = now() + t.wait * interval '1 millisecond'
			FROM unnest($1::uuid[], $2::text[], $3::bigint[]) AS t(id, reason, wait)
			WHERE o.id = t.id`, failed, reasons, waits)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return 0, platformpg.Error(ctx, "relay outbox events", err)
	}
	return claimed, nil
}

// DeleteSent deletes up to limit events sent more than olderThan ago.
func (s *Store) DeleteSent(ctx context.Context, olderThan time.Duration, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM orders.outbox WHERE id IN (
			SELECT id FROM orders.outbox
			WHERE sent_at < now() - $1 * interval '1 millisecond'
			LIMIT $2
			FOR UPDATE SKIP LOCKED)`, olderThan.Milliseconds(), limit)
	if err != nil {
		return 0, platformpg.Error(ctx, "delete sent outbox events", err)
	}
	return tag.RowsAffected(), nil
}

// Backlog counts the unsent events and the age of the oldest.
func (s *Store) Backlog(ctx context.Context) (outbox.Backlog, error) {
	var b outbox.Backlog
	var oldestMS float64
	err := s.pool.QueryRow(ctx, `
		SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)) * 1000, 0)
		FROM orders.outbox WHERE sent_at IS NULL`).Scan(&b.Unsent, &oldestMS)
	if err != nil {
		return outbox.Backlog{}, platformpg.Error(ctx, "outbox backlog", err)
	}
	b.Oldest = time.Duration(oldestMS) * time.Millisecond
	return b, nil
}
