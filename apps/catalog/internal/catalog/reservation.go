package catalog

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/fargateshop/shop/platform/apperr"
)

// Status is the state of a reservation. The only transitions are
// reserved → confirmed and reserved → released; both end states are final.
type Status string

// The statuses.
const (
	Reserved  Status = "reserved"
	Confirmed Status = "confirmed"
	Released  Status = "released"
)

// Limits on one reservation request.
const (
	MaxReservationLines = 100
	MaxLineQuantity     = 10_000
)

// ReservationRequest asks to hold stock for an order. No product appears in
// two lines. Lines keep the client's order so errors can name "items[i]".
type ReservationRequest struct {
	OrderID uuid.UUID
	Lines   []Line
}

// Line is one product and quantity of a reservation.
type Line struct {
	ProductID uuid.UUID
	Quantity  int
}

// ReservationInput is a reservation request as a client sent it.
type ReservationInput struct {
	OrderID string
	Items   []LineInput
}

// LineInput is one line as a client sent it.
type LineInput struct {
	ProductID string
	Quantity  int
}

// Parse validates in and returns the request, or an Invalid error naming
// every bad field as "order_id" or "items[i].field".
func (in ReservationInput) Parse() (ReservationRequest, error) {
	var fe fieldErrors
	orderID, problem := ParseID(in.OrderID)
	fe.check("order_id", problem)
	switch {
	case len(in.Items) == 0:
		fe.check("items", "must hold at least one line")
	case len(in.Items) > MaxReservationLines:
		fe.check("items", fmt.Sprintf("must hold at most %d lines", MaxReservationLines))
	}
	seen := map[uuid.UUID]bool{}
	lines := make([]Line, 0, len(in.Items))
	for i, it := range in.Items {
		id, problem := ParseID(it.ProductID)
		if problem == "" && seen[id] {
			problem = "appears in more than one line; combine the quantities"
		}
		seen[id] = true
		fe.check(fmt.Sprintf("items[%d].product_id", i), problem)
		if it.Quantity < 1 || it.Quantity > MaxLineQuantity {
			fe.check(fmt.Sprintf("items[%d].quantity", i),
				fmt.Sprintf("must be an integer between 1 and %d", MaxLineQuantity))
		}
		lines = append(lines, Line{ProductID: id, Quantity: it.Quantity})
	}
	if err := apperr.Validation(fe); err != nil {
		return ReservationRequest{}, err
	}
	return ReservationRequest{OrderID: orderID, Lines: lines}, nil
}

// ProductIDs returns the request's product ids in ascending order, the
// order in which stores lock product rows so that two reservations never
// deadlock.
func (r ReservationRequest) ProductIDs() []uuid.UUID {
	ids := make([]uuid.UUID, len(r.Lines))
	for i, l := range r.Lines {
		ids[i] = l.ProductID
	}
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	return ids
}

// ParseID parses a canonical, hyphenated UUID and describes what is wrong
// when it is not one.
func ParseID(s string) (uuid.UUID, string) {
	if s == "" {
		return uuid.Nil, "is required"
	}
	id, err := uuid.Parse(s)
	if err != nil || len(s) != 36 {
		return uuid.Nil, "must be a UUID such as 4f1c2d3e-0000-4000-8000-000000000000"
	}
	return id, ""
}

// Reservation is stock held for an order, with the product details captured
// when it was made so that the order's prices never change afterwards.
type Reservation struct {
	OrderID   uuid.UUID
	Status    Status
	ExpiresAt time.Time
	Lines     []ReservedLine
}

// ReservedLine is one line of a Reservation.
type ReservedLine struct {
	ProductID      uuid.UUID
	SKU            string
	Name           string
	Quantity       int
	UnitPriceCents int64
	Currency       string
}

// SameLines reports whether r holds exactly the lines of req, which is how a
// repeated request is told apart from a different one for the same order.
func (r Reservation) SameLines(req ReservationRequest) bool {
	if len(r.Lines) != len(req.Lines) {
		return false
	}
	want := make(map[uuid.UUID]int, len(req.Lines))
	for _, l := range req.Lines {
		want[l.ProductID] = l.Quantity
	}
	for _, l := range r.Lines {
		if q, ok := want[l.ProductID]; !ok || q != l.Quantity {
			return false
		}
	}
	return true
}

// Reservation errors. Their problem types are part of the contract with the
// orders service.
var (
	ErrReservationNotFound = &apperr.Error{Code: apperr.NotFound, Message: "reservation not found"}
	ErrReservationReleased = &apperr.Error{Code: apperr.Conflict, Type: "/problems/reservation-released",
		Message: "the reservation was released (it expired or was cancelled); its stock is no longer held"}
	ErrReservationConfirmed = &apperr.Error{Code: apperr.Conflict, Type: "/problems/reservation-confirmed",
		Message: "the reservation is confirmed and can no longer be released"}
	ErrReservationMismatch = &apperr.Error{Code: apperr.Conflict, Type: "/problems/reservation-mismatch",
		Message: "a reservation with different items already exists for this order_id"}
)

// OutOfStock is returned when some lines ask for more than is available;
// fields name each short line as "items[i].quantity".
func OutOfStock(fields []apperr.FieldError) error {
	return &apperr.Error{Code: apperr.Conflict, Type: "/problems/out-of-stock",
		Message: "not enough stock for some items", Fields: fields}
}

// UnknownProducts is returned when some lines name no product; fields name
// each as "items[i].product_id".
func UnknownProducts(fields []apperr.FieldError) error {
	return &apperr.Error{Code: apperr.NotFound, Type: "/problems/unknown-product",
		Message: "some items name no known product", Fields: fields}
}
