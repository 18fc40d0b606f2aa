// Package outbox is orders' transactional outbox: an event is written to
// the database in the transaction that causes it (OrderConfirmed builds the
// one for a confirmed order), and a Relay publishes what was written.
//
// Publication is at least once: the relay claims due rows with FOR UPDATE
// SKIP LOCKED inside a transaction, publishes them, marks them sent and
// commits, so a crash before the commit publishes the rows again later, and
// consumers deduplicate by event id. Any number of replicas may relay side
// by side: a claimed row is invisible to the others until its claim ends.
// The order path only inserts a row; a broker that is down delays events,
// never orders.
package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/fargateshop/shop/apps/orders/internal/order"
	"github.com/fargateshop/shop/platform/events"
	"github.com/fargateshop/shop/platform/messaging"
	"github.com/fargateshop/shop/platform/routing"
)

// Event is one outbox row: an event to publish to Topic.
type Event struct {
	ID      uuid.UUID
	OrderID uuid.UUID
	Topic   string // a routing topic, e.g. routing.OrderEvents
	Type    string
	Body    []byte
	// Traceparent and Tracestate are the W3C trace context of the span that
	// wrote the event, the parent of its publication.
	Traceparent string
	Tracestate  string
	// Attempts counts the publications tried before this one (rows read
	// back by the relay).
	Attempts int
}

// OrderConfirmed returns the order.confirmed event of o, confirmed at at,
// carrying the trace context of ctx.
func OrderConfirmed(ctx context.Context, o order.Order, at time.Time) (Event, error) {
	e := events.OrderConfirmed{
		ID:   uuid.New(),
		Type: events.TypeOrderConfirmed,
		Time: at.UTC(),
		Order: events.Order{ID: o.ID, Email: o.Email, Items: make([]events.Item, len(o.Items)),
			TotalCents: o.TotalCents, Currency: o.Currency},
	}
	for i, it := range o.Items {
		e.Order.Items[i] = events.Item{ProductID: it.ProductID, SKU: it.SKU, Quantity: it.Quantity}
	}
	body, err := json.Marshal(e)
	if err != nil {
		return Event{}, fmt.Errorf("encode %s event of order %s: %w", e.Type, o.ID, err)
	}
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	return Event{ID: e.ID, OrderID: o.ID, Topic: routing.OrderEvents, Type: e.Type, Body: body,
		Traceparent: carrier.Get(messaging.AttrTraceparent), Tracestate: carrier.Get(messaging.AttrTracestate)}, nil
}

// traceContext returns ctx carrying e's stored trace context as the remote
// parent of what is done with e.
func (e Event) traceContext(ctx context.Context) context.Context {
	return otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier{
		messaging.AttrTraceparent: e.Traceparent,
		messaging.AttrTracestate:  e.Tracestate,
	})
}
