// Package web is shipping's HTTP API: its routes in one place, the handlers
// and their response types.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/fargateshop/shop/apps/shipping/internal/shipment"
	"github.com/fargateshop/shop/platform/httpapi"
)

// Prefix is the path the load balancer and the edge route to this service
// (its entry in platform/routing). They forward the whole path, so the
// routes live under it.
const Prefix = "/api/shipping"

// Store is the shipment storage the handlers read.
type Store interface {
	Ping(ctx context.Context) error
	Get(ctx context.Context, orderID uuid.UUID) (shipment.Shipment, error)
}

// New returns the service's handler; /readyz pings the store.
func New(log *slog.Logger, store Store) *gin.Engine {
	h := &handler{store: store}
	r := httpapi.NewEngine(log, httpapi.Options{})
	httpapi.Health(r, store.Ping)
	r.GET(Prefix+"/shipments/:order_id", h.getShipment)
	return r
}

type handler struct {
	store Store
}

// shipmentResponse is the body of GET /api/shipping/shipments/{order_id}.
// The customer's email stays out: anyone holding an order id may read it.
type shipmentResponse struct {
	OrderID   uuid.UUID       `json:"order_id"`
	Status    shipment.Status `json:"status"`
	Items     []shipment.Item `json:"items"`
	CreatedAt time.Time       `json:"created_at"`
}

// getShipment handles GET /api/shipping/shipments/{order_id}: 404 until
// the order's order.confirmed event is applied, and for an id that is not
// a UUID in its canonical form (as GET /api/orders/{id} answers).
func (h *handler) getShipment(c *gin.Context) {
	id, err := uuid.Parse(c.Param("order_id"))
	if err != nil || len(c.Param("order_id")) != 36 {
		httpapi.Error(c, shipment.ErrNotFound)
		return
	}
	s, err := h.store.Get(c.Request.Context(), id)
	if err != nil {
		httpapi.Error(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, shipmentResponse{OrderID: s.OrderID, Status: s.Status, Items: s.Items, CreatedAt: s.CreatedAt.UTC()})
}
