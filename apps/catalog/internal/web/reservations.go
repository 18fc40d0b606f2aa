package web

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/fargateshop/shop/apps/catalog/internal/catalog"
	"github.com/fargateshop/shop/platform/httpapi"
)

// The JSON of the reservation API is the contract with the orders service.

type reserveRequest struct {
	OrderID string            `json:"order_id"`
	Items   []reserveLineJSON `json:"items"`
}

type reserveLineJSON struct {
	ProductID string `json:"product_id"`
	Quantity  int    `json:"quantity"`
}

func (r reserveRequest) parse() (catalog.ReservationRequest, error) {
	in := catalog.ReservationInput{OrderID: r.OrderID, Items: make([]catalog.LineInput, len(r.Items))}
	for i, it := range r.Items {
		in.Items[i] = catalog.LineInput{ProductID: it.ProductID, Quantity: it.Quantity}
	}
	return in.Parse()
}

type reservationJSON struct {
	OrderID   uuid.UUID          `json:"order_id"`
	Status    catalog.Status     `json:"status"`
	ExpiresAt time.Time          `json:"expires_at"`
	Items     []reservedLineJSON `json:"items"`
}

type reservedLineJSON struct {
	ProductID      uuid.UUID `json:"product_id"`
	SKU            string    `json:"sku"`
	Name           string    `json:"name"`
	Quantity       int       `json:"quantity"`
	UnitPriceCents int64     `json:"unit_price_cents"`
	Currency       string    `json:"currency"`
}

// statusJSON answers confirm and release.
type statusJSON struct {
	OrderID uuid.UUID      `json:"order_id"`
	Status  catalog.Status `json:"status"`
}

func (h *handler) reserve(c *gin.Context) {
	var body reserveRequest
	if err := httpapi.DecodeJSON(c, &body); err != nil {
		httpapi.Error(c, err)
		return
	}
	req, err := body.parse()
	if err != nil {
		httpapi.Error(c, err)
		return
	}
	res, created, err := h.store.Reserve(c.Request.Context(), req)
	if err != nil {
		httpapi.Error(c, err)
		return
	}
	out := reservationJSON{OrderID: res.OrderID, Status: res.Status, ExpiresAt: res.ExpiresAt.UTC(),
		Items: make([]reservedLineJSON, len(res.Lines))}
	for i, l := range res.Lines {
		out.Items[i] = reservedLineJSON{ProductID: l.ProductID, SKU: l.SKU, Name: l.Name,
			Quantity: l.Quantity, UnitPriceCents: l.UnitPriceCents, Currency: l.Currency}
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	c.JSON(status, out)
}

func (h *handler) confirm(c *gin.Context) {
	h.transition(c, h.store.Confirm)
}

func (h *handler) release(c *gin.Context) {
	h.transition(c, h.store.Release)
}

// transition runs confirm or release for the :order_id path parameter.
func (h *handler) transition(c *gin.Context, do func(ctx context.Context, orderID uuid.UUID) (catalog.Reservation, error)) {
	orderID, problem := catalog.ParseID(c.Param("order_id"))
	if problem != "" {
		httpapi.Error(c, catalog.ErrReservationNotFound)
		return
	}
	res, err := do(c.Request.Context(), orderID)
	if err != nil {
		httpapi.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, statusJSON{OrderID: res.OrderID, Status: res.Status})
}
