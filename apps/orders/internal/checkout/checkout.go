// Package checkout is the orders workflow: it drives a claimed order
// through catalog (reserve → price → record → confirm) to an end. The
// POST /api/orders handler and the reconciler both call it, the first to
// complete an order, the second to settle one that no request finished.
package checkout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/fargateshop/shop/apps/orders/internal/order"
	"github.com/fargateshop/shop/apps/orders/internal/outbox"
	"github.com/fargateshop/shop/platform/apperr"
	"github.com/fargateshop/shop/platform/problem"
	"github.com/fargateshop/shop/platform/requestid"
)

// Store is the order storage the workflow writes to.
type Store interface {
	RecordReservation(ctx context.Context, id uuid.UUID, items []order.Item, currency string, total int64) (order.Order, error)
	// Confirm marks the order confirmed and writes event to the outbox in
	// the same transaction.
	Confirm(ctx context.Context, c order.Claim, body []byte, event outbox.Event) error
	Fail(ctx context.Context, c order.Claim, reason string, resp *order.Response) error
	ReleaseLease(ctx context.Context, c order.Claim) error
}

// Catalog is the part of catalog's reservation API the workflow uses.
type Catalog interface {
	Reserve(ctx context.Context, orderID uuid.UUID, lines []order.Line) (order.Reservation, error)
	Confirm(ctx context.Context, orderID uuid.UUID) error
	Release(ctx context.Context, orderID uuid.UUID) error
}

const (
	// catalogBudget bounds all catalog calls of one request together, so a
	// client hears back within 3 s even when catalog hangs.
	catalogBudget = 2500 * time.Millisecond
	// writeTimeout bounds the database writes after catalog answered. They
	// run on a context the client cannot cancel: once catalog acted, the
	// outcome should be recorded even if the client hung up.
	writeTimeout = 5 * time.Second
)

// Outcomes, the values of the counters' "outcome" attribute.
const (
	// Confirmed: the order stands and owns its stock.
	Confirmed = "confirmed"
	// Refused: catalog said no (unknown product, not enough stock, mixed
	// currencies); the refusal is the key's stored answer.
	Refused = "refused"
	// Failed: the attempt did not finish (a dependency unavailable, the
	// reservation expired first); the client may retry with its key.
	Failed = "failed"
	// Released: the reconciler gave a stuck order's stock back.
	Released = "released"
)

const scope = "github.com/fargateshop/shop/apps/orders/internal/checkout"

var (
	placed, _ = otel.Meter(scope).Int64Counter("shop.orders", metric.WithUnit("{order}"),
		metric.WithDescription("Order attempts by outcome: confirmed, refused (by catalog) or failed (may be retried)."))
	settled, _ = otel.Meter(scope).Int64Counter("shop.reconciler.settlements", metric.WithUnit("{order}"),
		metric.WithDescription("Stuck orders the reconciler ended, by outcome: confirmed or released."))
)

func outcome(v string) metric.AddOption {
	return metric.WithAttributes(attribute.String("outcome", v))
}

// timedOut is what a client hears when catalog released its order first.
const timedOut = "the order timed out; retry with the same Idempotency-Key"

// Service runs the workflow.
type Service struct {
	log     *slog.Logger
	store   Store
	catalog Catalog
}

// New returns a Service.
func New(log *slog.Logger, store Store, catalog Catalog) *Service {
	return &Service{log: log, store: store, catalog: catalog}
}

// Place drives the claimed order of a request to an end: reserve at
// catalog (pending), record names and prices (reserved), confirm at
// catalog, then mark it confirmed. Catalog confirms before orders does, so
// a confirmed order always owns its stock; a crash in between is settled
// by a retry or the reconciler.
//
// It returns the answer stored under the key (201, or 409/422 decided by
// catalog's answer), or an error that was not stored and should be
// answered as is; then the lease is released, so the client's retry
// carries on with the same order.
func (s *Service) Place(ctx context.Context, claim order.Claim) (order.Response, error) {
	resp, err := s.place(ctx, claim)
	switch {
	case err != nil:
		placed.Add(ctx, 1, outcome(Failed))
	case resp.Status == http.StatusCreated:
		placed.Add(ctx, 1, outcome(Confirmed))
	default:
		placed.Add(ctx, 1, outcome(Refused))
	}
	if err != nil {
		if rerr := s.releaseLease(ctx, claim); rerr != nil {
			// The client hears err; the lease runs out by itself.
			s.log.WarnContext(ctx, "release lease", "order_id", claim.Order.ID.String(), "error", rerr.Error())
		}
	}
	return resp, err
}

func (s *Service) place(ctx context.Context, claim order.Claim) (order.Response, error) {
	cctx, cancel := context.WithTimeout(ctx, catalogBudget)
	defer cancel()
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer wcancel()

	o := claim.Order
	if o.Status == order.Pending {
		res, err := s.catalog.Reserve(cctx, o.ID, o.Lines())
		if code := apperr.CodeOf(err); code == apperr.Conflict || code == apperr.Invalid {
			// Catalog refused the whole order and reserved nothing.
			return s.fail(wctx, claim, err)
		} else if err != nil {
			return order.Response{}, err
		}
		if res.Status == "released" {
			// The reconciler released this order id while nobody held it.
			if err := s.store.Fail(wctx, claim, "reservation released", nil); err != nil {
				return order.Response{}, err
			}
			return order.Response{}, apperr.Wrap(apperr.Unavailable, order.ErrReservationReleased, timedOut)
		}
		o, err = s.record(wctx, o, res)
		if errors.Is(err, order.ErrMixedCurrency) {
			if rerr := s.catalog.Release(cctx, o.ID); rerr != nil {
				// Catalog's reservation timeout returns the stock.
				s.log.WarnContext(ctx, "release mixed-currency order", "order_id", o.ID.String(), "error", rerr.Error())
			}
			return s.fail(wctx, claim, err)
		}
		if err != nil {
			return order.Response{}, err
		}
	}
	if o.Status != order.Reserved {
		return order.Response{}, fmt.Errorf("order %s is %s but its key has no answer", o.ID, o.Status)
	}

	err := s.catalog.Confirm(cctx, o.ID)
	if errors.Is(err, order.ErrReservationReleased) {
		// Catalog expired the reservation first. Nothing is sold; a retry
		// with the same key starts a fresh order.
		if err := s.store.Fail(wctx, claim, "reservation released before confirm", nil); err != nil {
			return order.Response{}, err
		}
		return order.Response{}, apperr.Wrap(apperr.Unavailable, err, timedOut)
	}
	if err != nil {
		return order.Response{}, err
	}
	return s.complete(wctx, claim, o)
}

// Settle ends an order that no request finished (the process died, or
// catalog was down and the client never retried). The order is released at
// catalog and marked failed, unless catalog says it was confirmed: then it
// is recorded, marked confirmed and its key completed with the 201 answer.
// On error the lease is released so the next round may try again.
// It returns how the order ended (Confirmed or Released).
func (s *Service) Settle(ctx context.Context, claim order.Claim) (string, error) {
	how, err := s.settle(ctx, claim)
	if err != nil {
		return "", errors.Join(err, s.releaseLease(ctx, claim))
	}
	settled.Add(ctx, 1, outcome(how))
	return how, nil
}

func (s *Service) settle(ctx context.Context, claim order.Claim) (string, error) {
	err := s.catalog.Release(ctx, claim.Order.ID)
	if err == nil {
		// Released (or tombstoned, so a late reserve takes nothing).
		s.log.InfoContext(ctx, "stuck order released", "order_id", claim.Order.ID.String(), "was", string(claim.Order.Status))
		return Released, s.store.Fail(ctx, claim, "released by reconciler", nil)
	}
	if !errors.Is(err, order.ErrReservationConfirmed) {
		return "", err
	}

	// Catalog confirmed it: the order stands and must be recorded as such.
	o := claim.Order
	if o.Status == order.Pending {
		// Names and prices were never stored; reserve is idempotent and
		// returns the existing reservation without taking stock.
		res, err := s.catalog.Reserve(ctx, o.ID, o.Lines())
		if err != nil {
			return "", err
		}
		if o, err = s.record(ctx, o, res); err != nil {
			return "", err
		}
	}
	s.log.InfoContext(ctx, "stuck order confirmed", "order_id", o.ID.String())
	_, err = s.complete(ctx, claim, o)
	return Confirmed, err
}

// record stores catalog's names and prices for a pending order.
func (s *Service) record(ctx context.Context, o order.Order, res order.Reservation) (order.Order, error) {
	items, currency, total, err := order.Priced(o.Lines(), res)
	if errors.Is(err, order.ErrMixedCurrency) {
		return o, err
	}
	if err != nil {
		return o, fmt.Errorf("order %s: %w", o.ID, err)
	}
	return s.store.RecordReservation(ctx, o.ID, items, currency, total)
}

// complete marks a reserved order confirmed, stores its 201 answer and
// writes its order.confirmed event, whose trace context is ctx's: the
// request's, or the reconciler's when it settles the order.
func (s *Service) complete(ctx context.Context, claim order.Claim, o order.Order) (order.Response, error) {
	o.Status = order.Confirmed
	body, err := json.Marshal(o)
	if err != nil {
		return order.Response{}, fmt.Errorf("encode order %s: %w", o.ID, err)
	}
	event, err := outbox.OrderConfirmed(ctx, o, time.Now())
	if err != nil {
		return order.Response{}, err
	}
	if err := s.store.Confirm(ctx, claim, body, event); err != nil {
		return order.Response{}, err
	}
	return order.Response{Status: http.StatusCreated, Body: body}, nil
}

// fail marks the order failed and stores cause as its problem answer.
func (s *Service) fail(ctx context.Context, claim order.Claim, cause error) (order.Response, error) {
	status, body := problem.Render(cause, requestid.From(ctx))
	resp := order.Response{Status: status, Body: body}
	if err := s.store.Fail(ctx, claim, cause.Error(), &resp); err != nil {
		return order.Response{}, err
	}
	return resp, nil
}

// releaseLease gives the key back after a failure that was not stored, on
// a context the client cannot cancel.
func (s *Service) releaseLease(ctx context.Context, claim order.Claim) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	if err := s.store.ReleaseLease(wctx, claim); err != nil {
		return fmt.Errorf("release lease of order %s: %w", claim.Order.ID, err)
	}
	return nil
}
