package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/fargateshop/shop/apps/orders/internal/order"
	"github.com/fargateshop/shop/platform/httpapi"
	"github.com/fargateshop/shop/platform/problem"
)

// placeRequest is the body of POST /api/orders.
type placeRequest struct {
	Email string `json:"email"`
	Items []struct {
		ProductID string `json:"product_id"`
		Quantity  int    `json:"quantity"`
	} `json:"items"`
}

func (p placeRequest) order() order.Request {
	r := order.Request{Email: p.Email, Lines: make([]order.Line, len(p.Items))}
	for i, it := range p.Items {
		r.Lines[i] = order.Line{ProductID: it.ProductID, Quantity: it.Quantity}
	}
	return r
}

// placeOrder handles POST /api/orders. Every definitive answer (201, and
// 409/422 decided by catalog's answer) is stored under the Idempotency-Key
// and replayed to retries. Transient failures (503) are not stored (see
// checkout.Service.Place).
func (h *handler) placeOrder(c *gin.Context) {
	key, err := order.ParseKey(c.Request.Header.Values("Idempotency-Key"))
	if err != nil {
		httpapi.Error(c, err)
		return
	}
	var body placeRequest
	if err := httpapi.DecodeJSON(c, &body); err != nil {
		httpapi.Error(c, err)
		return
	}
	req, err := order.Validate(body.order())
	if err != nil {
		httpapi.Error(c, err)
		return
	}

	ctx := c.Request.Context()
	claim, err := h.store.Begin(ctx, order.Attempt{
		Key: key, Fingerprint: order.Fingerprint(req), Request: req,
		NewOrderID: uuid.New(), Lease: h.cfg.Lease,
	})
	if err != nil {
		httpapi.Error(c, err)
		return
	}
	// The order's id on the request's span: a trace is found by the order
	// a customer or a log line names.
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("shop.order.id", claim.Order.ID.String()))
	if claim.Replay != nil {
		c.Header("Idempotent-Replayed", "true")
		writeResponse(c, claim.Order.ID, *claim.Replay)
		return
	}
	if claim.Resumed {
		h.log.InfoContext(ctx, "resuming order", "order_id", claim.Order.ID.String(), "status", string(claim.Order.Status))
	}

	resp, err := h.checkout.Place(ctx, claim)
	if err != nil {
		httpapi.Error(c, err)
		return
	}
	writeResponse(c, claim.Order.ID, resp)
}

// writeResponse writes a stored answer byte for byte.
func writeResponse(c *gin.Context, orderID uuid.UUID, resp order.Response) {
	contentType := problem.ContentType
	if resp.Status == http.StatusCreated {
		contentType = "application/json"
		c.Header("Location", "/api/orders/"+orderID.String())
	}
	c.Header("Cache-Control", "no-store")
	c.Data(resp.Status, contentType, resp.Body)
}

// getOrder handles GET /api/orders/{id}. Orders are shown in any status;
// a pending or failed order has no names, prices or currency yet.
func (h *handler) getOrder(c *gin.Context) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil || len(c.Param("id")) != 36 {
		httpapi.Error(c, order.ErrNotFound)
		return
	}
	o, err := h.store.Get(c.Request.Context(), id)
	if err != nil {
		httpapi.Error(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, o)
}
