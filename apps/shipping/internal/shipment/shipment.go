// Package shipment holds shipping's types and its one workflow: turning an
// order.confirmed event into a shipment, at most once per order however
// often the event is delivered. It imports neither gin nor pgx.
package shipment

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/fargateshop/shop/platform/apperr"
	"github.com/fargateshop/shop/platform/events"
)

// Status is where a shipment stands. Shipping only creates shipments so
// far: every one is pending.
type Status string

const Pending Status = "pending"

// Shipment is the shipment of one confirmed order.
type Shipment struct {
	OrderID uuid.UUID
	// EventID is the order.confirmed event the shipment was made from.
	EventID   uuid.UUID
	Status    Status
	Email     string
	Items     []Item
	CreatedAt time.Time
}

// Item is one line to ship.
type Item struct {
	ProductID string `json:"product_id"`
	SKU       string `json:"sku"`
	Quantity  int    `json:"quantity"`
}

// ErrNotFound is the answer for an order without a shipment: not
// confirmed, unknown, or its event not applied yet.
var ErrNotFound = &apperr.Error{Code: apperr.NotFound, Message: "no shipment for this order (yet)"}

// Store keeps shipments.
type Store interface {
	// Create stores s unless a shipment for the same order or made from
	// the same event exists, and reports whether it stored it. Two
	// concurrent calls for one order store one shipment.
	Create(ctx context.Context, s Shipment) (created bool, err error)
}

// Outcomes of applying an event, the outcome attribute of shop.shipments.
const (
	Created   = "created"
	Duplicate = "duplicate"
)

const scope = "github.com/fargateshop/shop/apps/shipping/internal/shipment"

var applied, _ = otel.Meter(scope).Int64Counter("shop.shipments", metric.WithUnit("{event}"),
	metric.WithDescription("order.confirmed events applied, by outcome: created (a new shipment) or duplicate (the order had one)."))

// Service applies events to the Store.
type Service struct {
	log   *slog.Logger
	store Store
}

// New returns a Service on store.
func New(log *slog.Logger, store Store) *Service { return &Service{log: log, store: store} }

// Apply applies one event of type eventType (the publisher's event_type
// attribute; "" when it set none). An order.confirmed event creates the
// order's shipment once: a second delivery, or another event for the same
// order, changes nothing. A body that can never be applied is an error
// wrapping events.ErrInvalid, and nothing is written. Events of other
// types are not shipping's business and are ignored, so a new event on
// the topic never ends up in the dead-letter queue, as long as its
// publisher sets event_type; without it the body is read as order.confirmed
// and refused as invalid.
func (s *Service) Apply(ctx context.Context, eventType string, body []byte) error {
	if eventType != "" && eventType != events.TypeOrderConfirmed {
		s.log.InfoContext(ctx, "event ignored", "event_type", eventType)
		return nil
	}
	e, err := events.DecodeOrderConfirmed(body)
	if err != nil {
		return fmt.Errorf("order.confirmed: %w", err)
	}
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("shop.order.id", e.Order.ID.String()))
	sh := Shipment{OrderID: e.Order.ID, EventID: e.ID, Status: Pending, Email: e.Order.Email, Items: make([]Item, len(e.Order.Items))}
	for i, it := range e.Order.Items {
		sh.Items[i] = Item{ProductID: it.ProductID, SKU: it.SKU, Quantity: it.Quantity}
	}
	created, err := s.store.Create(ctx, sh)
	if err != nil {
		return fmt.Errorf("order %s: %w", e.Order.ID, err)
	}
	outcome := Duplicate
	if created {
		outcome = Created
		s.log.InfoContext(ctx, "shipment created", "order_id", e.Order.ID.String(), "event_id", e.ID.String())
	}
	applied.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
	return nil
}
