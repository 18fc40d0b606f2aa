// Package events is the contract of the events services exchange: their
// types and JSON bodies. orders writes them, shipping reads them; one
// definition, so a renamed field breaks the build of both instead of the
// shipments.
package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// TypeOrderConfirmed is the type of the event orders publishes, on the
// routing.OrderEvents topic, once an order is confirmed.
const TypeOrderConfirmed = "order.confirmed"

// OrderConfirmed is the body of an order.confirmed event.
type OrderConfirmed struct {
	// ID identifies the event: a message delivered twice carries the same ID.
	ID uuid.UUID `json:"id"`
	// Type is TypeOrderConfirmed.
	Type string `json:"type"`
	// Time is when the order was confirmed (UTC).
	Time  time.Time `json:"time"`
	Order Order     `json:"order"`
}

// Order is the confirmed order as consumers need it.
type Order struct {
	ID         uuid.UUID `json:"id"`
	Email      string    `json:"email"`
	Items      []Item    `json:"items"`
	TotalCents int64     `json:"total_cents"`
	Currency   string    `json:"currency"`
}

// Item is one line of a confirmed order.
type Item struct {
	ProductID string `json:"product_id"`
	SKU       string `json:"sku"`
	Quantity  int    `json:"quantity"`
}

// ErrInvalid wraps every reason DecodeOrderConfirmed refuses a body: such a
// message will never succeed, however often it is delivered.
var ErrInvalid = errors.New("invalid event")

// DecodeOrderConfirmed parses and checks an order.confirmed body. Unknown
// fields are accepted (a newer publisher may add some); a missing or
// malformed required field is an error wrapping ErrInvalid.
func DecodeOrderConfirmed(body []byte) (OrderConfirmed, error) {
	var e OrderConfirmed
	if err := json.Unmarshal(body, &e); err != nil {
		return OrderConfirmed{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	var problems []string
	if e.ID == uuid.Nil {
		problems = append(problems, "id is missing")
	}
	if e.Type != TypeOrderConfirmed {
		problems = append(problems, fmt.Sprintf("type is %q, want %q", e.Type, TypeOrderConfirmed))
	}
	if e.Time.IsZero() {
		problems = append(problems, "time is missing")
	}
	if e.Order.ID == uuid.Nil {
		problems = append(problems, "order.id is missing")
	}
	if len(e.Order.Items) == 0 {
		problems = append(problems, "order.items is empty")
	}
	for i, it := range e.Order.Items {
		if _, err := uuid.Parse(it.ProductID); err != nil {
			problems = append(problems, fmt.Sprintf("order.items[%d].product_id is not a UUID", i))
		}
		if it.Quantity < 1 {
			problems = append(problems, fmt.Sprintf("order.items[%d].quantity is %d, want >= 1", i, it.Quantity))
		}
	}
	if len(problems) > 0 {
		return OrderConfirmed{}, fmt.Errorf("%w: %s", ErrInvalid, strings.Join(problems, "; "))
	}
	return e, nil
}
