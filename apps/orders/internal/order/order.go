// Package order holds the orders service's types and rules: what a valid
// order request is, how an Idempotency-Key is read, the order state machine
// and the errors clients see. It imports neither gin nor pgx.
package order

import (
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/fargateshop/shop/platform/apperr"
)

// Status is where an order stands. The transitions are
//
//	pending  → reserved → confirmed
//	pending  → failed
//	reserved → failed
//
// pending: the idempotency key and the requested lines are stored, catalog
// has not (knowingly) reserved stock. reserved: catalog reserved the stock;
// names and prices from catalog are stored. confirmed: catalog confirmed the
// reservation first, then the order was marked, so a confirmed order always
// owns its stock. failed: the reservation was refused or released.
type Status string

const (
	Pending   Status = "pending"
	Reserved  Status = "reserved"
	Confirmed Status = "confirmed"
	Failed    Status = "failed"
)

// Item is one line of an order. SKU, Name and UnitPriceCents come from
// catalog, never from the client; they are empty while the order is pending.
type Item struct {
	ProductID      string `json:"product_id"`
	SKU            string `json:"sku,omitempty"`
	Name           string `json:"name,omitempty"`
	Quantity       int    `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents"`
}

// Order is an order as clients see it. Its JSON form is the 201 body and
// the body of GET /api/orders/{id}, and it is what a replay returns.
type Order struct {
	ID         uuid.UUID `json:"id"`
	Status     Status    `json:"status"`
	Email      string    `json:"email"`
	Items      []Item    `json:"items"`
	TotalCents int64     `json:"total_cents"`
	Currency   string    `json:"currency,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// Lines returns the requested product lines, in the client's order.
func (o Order) Lines() []Line {
	lines := make([]Line, len(o.Items))
	for i, it := range o.Items {
		lines[i] = Line{ProductID: it.ProductID, Quantity: it.Quantity}
	}
	return lines
}

// Reservation is catalog's answer to a reserve call.
type Reservation struct {
	Status string // "reserved", "confirmed" or "released"
	Items  []ReservedItem
}

// ReservedItem is a reserved line with catalog's name and price.
type ReservedItem struct {
	ProductID      string
	SKU            string
	Name           string
	Quantity       int
	UnitPriceCents int64
	Currency       string
}

// Priced returns the order's lines with catalog's names and prices, its
// currency and its total. Mixed currencies are an Invalid error; a
// reservation that does not match the requested lines is an internal error.
func Priced(lines []Line, r Reservation) (items []Item, currency string, total int64, err error) {
	if len(r.Items) != len(lines) {
		return nil, "", 0, errors.New("catalog reserved a different set of lines")
	}
	byProduct := make(map[string]ReservedItem, len(r.Items))
	for _, it := range r.Items {
		byProduct[it.ProductID] = it
	}
	for i, l := range lines {
		it, ok := byProduct[l.ProductID]
		if !ok || it.Quantity != l.Quantity {
			return nil, "", 0, errors.New("catalog reserved a different set of lines")
		}
		if i == 0 {
			currency = it.Currency
		} else if it.Currency != currency {
			return nil, "", 0, ErrMixedCurrency
		}
		items = append(items, Item{ProductID: l.ProductID, SKU: it.SKU, Name: it.Name,
			Quantity: l.Quantity, UnitPriceCents: it.UnitPriceCents})
		total += it.UnitPriceCents * int64(l.Quantity)
	}
	return items, currency, total, nil
}

// Errors clients see. The problem types are stable URIs clients may match.
var (
	ErrNotFound = &apperr.Error{Code: apperr.NotFound, Message: "no such order"}

	ErrMixedCurrency = &apperr.Error{Code: apperr.Invalid, Type: "/problems/mixed-currency",
		Message: "all products of one order must be priced in the same currency",
		Fields:  []apperr.FieldError{{Field: "items", Message: "products are priced in different currencies"}}}

	ErrKeyReused = &apperr.Error{Code: apperr.Invalid, Type: "/problems/idempotency-key-reused",
		Message: "this Idempotency-Key was used with a different request body"}

	ErrInProgress = &apperr.Error{Code: apperr.Conflict, Type: "/problems/request-in-progress",
		Message: "a request with this Idempotency-Key is still being processed; retry later"}
)

// Catalog outcomes that are not client errors.
var (
	// ErrReservationReleased: catalog released the reservation (expired or
	// released by the reconciler), so it can no longer be confirmed.
	ErrReservationReleased = errors.New("reservation released")
	// ErrReservationConfirmed: catalog confirmed the reservation, so it can
	// no longer be released.
	ErrReservationConfirmed = errors.New("reservation confirmed")
	// ErrStateChanged: another actor moved the order on; this one must stop.
	ErrStateChanged = apperr.Wrap(apperr.Unavailable, errors.New("order state changed concurrently"),
		"the order is being processed; retry shortly")
)
