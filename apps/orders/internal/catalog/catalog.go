// Package catalog is the orders service's client for catalog's internal
// reservation API. It turns catalog's answers into the order package's
// types and errors.
package catalog

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"

	"github.com/google/uuid"

	"github.com/fargateshop/shop/apps/orders/internal/order"
	"github.com/fargateshop/shop/platform/apperr"
	"github.com/fargateshop/shop/platform/httpclient"
)

// Problem types catalog answers with.
const (
	TypeOutOfStock           = "/problems/out-of-stock"
	TypeUnknownProduct       = "/problems/unknown-product"
	TypeReservationReleased  = "/problems/reservation-released"
	TypeReservationConfirmed = "/problems/reservation-confirmed"
)

// Client calls catalog.
type Client struct {
	hc *httpclient.Client
}

// New returns a client for the catalog at baseURL.
func New(baseURL string, log *slog.Logger) *Client {
	return &Client{hc: httpclient.New(httpclient.Config{Name: "catalog", BaseURL: baseURL, Log: log})}
}

type reserveLine struct {
	ProductID string `json:"product_id"`
	Quantity  int    `json:"quantity"`
}

type reserveRequest struct {
	OrderID uuid.UUID     `json:"order_id"`
	Items   []reserveLine `json:"items"`
}

type reservation struct {
	OrderID uuid.UUID `json:"order_id"`
	Status  string    `json:"status"`
	Items   []struct {
		ProductID      string `json:"product_id"`
		SKU            string `json:"sku"`
		Name           string `json:"name"`
		Quantity       int    `json:"quantity"`
		UnitPriceCents int64  `json:"unit_price_cents"`
		Currency       string `json:"currency"`
	} `json:"items"`
}

// Reserve asks catalog to reserve lines for orderID. Catalog is idempotent
// by order id, so the call is retried and may be repeated after a crash.
// Errors: out of stock is a Conflict with type out-of-stock; an unknown
// product is an Invalid error (422: the client named it) with field errors;
// an unreachable catalog is Unavailable.
func (c *Client) Reserve(ctx context.Context, orderID uuid.UUID, lines []order.Line) (order.Reservation, error) {
	req := reserveRequest{OrderID: orderID, Items: make([]reserveLine, len(lines))}
	for i, l := range lines {
		req.Items[i] = reserveLine{ProductID: l.ProductID, Quantity: l.Quantity}
	}
	var res reservation
	if err := c.hc.Do(ctx, http.MethodPost, "/internal/reservations", true, req, &res); err != nil {
		p, refused := httpclient.Refusal(err)
		switch {
		case !refused:
			return order.Reservation{}, err
		case p.Code == apperr.Conflict && p.Type == TypeOutOfStock:
			return order.Reservation{}, &apperr.Error{Code: apperr.Conflict, Type: TypeOutOfStock,
				Message: "not enough stock for this order", Fields: fieldsFor(p.Fields, lines, "quantity", "not enough stock")}
		case p.Code == apperr.NotFound:
			return order.Reservation{}, &apperr.Error{Code: apperr.Invalid, Type: TypeUnknownProduct,
				Message: "the order names a product that does not exist", Fields: fieldsFor(p.Fields, lines, "product_id", "no such product")}
		case p.Code == apperr.Invalid:
			return order.Reservation{}, &apperr.Error{Code: apperr.Invalid,
				Message: "catalog rejected the order", Fields: p.Fields}
		default:
			return order.Reservation{}, unexpected("reserve", orderID, err)
		}
	}
	if res.OrderID != orderID {
		return order.Reservation{}, fmt.Errorf("reserve order %s: catalog answered for order %s", orderID, res.OrderID)
	}
	out := order.Reservation{Status: res.Status, Items: make([]order.ReservedItem, len(res.Items))}
	for i, it := range res.Items {
		out.Items[i] = order.ReservedItem{ProductID: it.ProductID, SKU: it.SKU, Name: it.Name,
			Quantity: it.Quantity, UnitPriceCents: it.UnitPriceCents, Currency: it.Currency}
	}
	return out, nil
}

var fieldIndex = regexp.MustCompile(`^items\[(\d+)\]\.`)

// fieldsFor keeps catalog's field errors that name one of our lines (we
// send lines in the client's order, so indexes match the client's body).
// When catalog names none, every line's field gets msg.
func fieldsFor(errs []apperr.FieldError, lines []order.Line, field, msg string) []apperr.FieldError {
	var out []apperr.FieldError
	for _, fe := range errs {
		m := fieldIndex.FindStringSubmatch(fe.Field)
		if m == nil {
			continue
		}
		if i, err := strconv.Atoi(m[1]); err == nil && i < len(lines) {
			out = append(out, fe)
		}
	}
	if len(out) == 0 {
		for i := range lines {
			out = append(out, apperr.FieldError{Field: fmt.Sprintf("items[%d].%s", i, field), Message: msg})
		}
	}
	return out
}

// Confirm makes the reservation permanent. order.ErrReservationReleased
// means catalog released it first (expired or released), so it never will.
func (c *Client) Confirm(ctx context.Context, orderID uuid.UUID) error {
	err := c.hc.Do(ctx, http.MethodPost, "/internal/reservations/"+orderID.String()+"/confirm", true, nil, nil)
	if p, refused := httpclient.Refusal(err); !refused {
		return err
	} else if p.Type == TypeReservationReleased || p.Code == apperr.NotFound { // never saw it
		return order.ErrReservationReleased
	}
	return unexpected("confirm", orderID, err)
}

// Release gives the reservation's stock back (or leaves a tombstone so a
// late reserve takes nothing). order.ErrReservationConfirmed means catalog
// confirmed it first, so the order stands.
func (c *Client) Release(ctx context.Context, orderID uuid.UUID) error {
	err := c.hc.Do(ctx, http.MethodPost, "/internal/reservations/"+orderID.String()+"/release", true, nil, nil)
	if p, refused := httpclient.Refusal(err); !refused {
		return err
	} else if p.Type == TypeReservationConfirmed {
		return order.ErrReservationConfirmed
	}
	return unexpected("release", orderID, err)
}

// unexpected is a refusal from catalog that this client does not expect:
// a bug on one side, so an internal error whatever catalog's status was.
func unexpected(op string, orderID uuid.UUID, err error) error {
	return fmt.Errorf("%s order %s: catalog answered %w", op, orderID, err)
}
