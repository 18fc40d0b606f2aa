package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/fargateshop/shop/apps/orders/internal/order"
	"github.com/fargateshop/shop/platform/apperr"
	"github.com/fargateshop/shop/platform/httpapi"
	"github.com/fargateshop/shop/platform/requestid"
)

const (
	// catalogBudget bounds all catalog calls of one request together, so a
	// client hears back within 3 s even when catalog hangs.
	catalogBudget = 2500 * time.Millisecond
	// writeTimeout bounds the database writes after catalog answered. They
	// run on a context the client cannot cancel: once catalog acted, the
	// outcome should be recorded even if the client hung up.
	writeTimeout = 5 * time.Second
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
// and replayed to retries. Transient failures (503) are not stored: the
// lease is released so the client's retry carries on with the same order.
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
	if claim.Replay != nil {
		c.Header("Idempotent-Replayed", "true")
		writeResponse(c, claim.Order.ID, *claim.Replay)
		return
	}
	if claim.Resumed {
		h.log.InfoContext(ctx, "resuming order", "order_id", claim.Order.ID.String(), "status", string(claim.Order.Status))
	}

	resp, err := h.settle(ctx, claim)
	if err != nil {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
		defer cancel()
		if rerr := h.store.ReleaseLease(wctx, claim); rerr != nil {
			h.log.WarnContext(ctx, "release lease", "order_id", claim.Order.ID.String(), "error", rerr.Error())
		}
		httpapi.Error(c, err)
		return
	}
	writeResponse(c, claim.Order.ID, resp)
}

// settle drives the claimed order to an end: reserve at catalog (pending),
// record names and prices (reserved), confirm at catalog, then mark it
// confirmed. Catalog confirms before orders does, so a confirmed order
// always owns its stock; a crash in between is settled by a retry or the
// reconciler. It returns the stored answer, or an error that was not
// stored and should be answered as is.
func (h *handler) settle(ctx context.Context, claim order.Claim) (order.Response, error) {
	cctx, cancel := context.WithTimeout(ctx, catalogBudget)
	defer cancel()
	wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer wcancel()

	o := claim.Order
	if o.Status == order.Pending {
		res, err := h.catalog.Reserve(cctx, o.ID, o.Lines())
		if code := apperr.CodeOf(err); code == apperr.Conflict || code == apperr.Invalid {
			// Catalog refused the whole order and reserved nothing.
			return h.fail(wctx, claim, err)
		} else if err != nil {
			return order.Response{}, err
		}
		if res.Status == "released" {
			// The reconciler released this order id while nobody held it.
			if err := h.store.Fail(wctx, claim, "reservation released", nil); err != nil {
				return order.Response{}, err
			}
			return order.Response{}, apperr.Wrap(apperr.Unavailable, order.ErrReservationReleased,
				"the order timed out; retry with the same Idempotency-Key")
		}
		items, currency, total, err := order.Priced(o.Lines(), res)
		if errors.Is(err, order.ErrMixedCurrency) {
			if rerr := h.catalog.Release(cctx, o.ID); rerr != nil {
				// Catalog's reservation timeout returns the stock.
				h.log.WarnContext(ctx, "release mixed-currency order", "order_id", o.ID.String(), "error", rerr.Error())
			}
			return h.fail(wctx, claim, err)
		}
		if err != nil {
			return order.Response{}, fmt.Errorf("order %s: %w", o.ID, err)
		}
		if o, err = h.store.RecordReservation(wctx, o.ID, items, currency, total); err != nil {
			return order.Response{}, err
		}
	}
	if o.Status != order.Reserved {
		return order.Response{}, fmt.Errorf("order %s is %s but its key has no answer", o.ID, o.Status)
	}

	err := h.catalog.Confirm(cctx, o.ID)
	if errors.Is(err, order.ErrReservationReleased) {
		// Catalog expired the reservation first. Nothing is sold; a retry
		// with the same key starts a fresh order.
		if err := h.store.Fail(wctx, claim, "reservation released before confirm", nil); err != nil {
			return order.Response{}, err
		}
		return order.Response{}, apperr.Wrap(apperr.Unavailable, err,
			"the order timed out; retry with the same Idempotency-Key")
	}
	if err != nil {
		return order.Response{}, err
	}
	o.Status = order.Confirmed
	body, err := json.Marshal(o)
	if err != nil {
		return order.Response{}, fmt.Errorf("encode order: %w", err)
	}
	if err := h.store.Confirm(wctx, claim, body); err != nil {
		return order.Response{}, err
	}
	return order.Response{Status: http.StatusCreated, Body: body}, nil
}

// fail marks the order failed and stores cause as the problem answer.
func (h *handler) fail(ctx context.Context, claim order.Claim, cause error) (order.Response, error) {
	status, body := problem(ctx, cause)
	resp := order.Response{Status: status, Body: body}
	if err := h.store.Fail(ctx, claim, cause.Error(), &resp); err != nil {
		return order.Response{}, err
	}
	return resp, nil
}

// problem renders a client error the way httpapi.Error does, as bytes that
// can be stored and replayed.
func problem(ctx context.Context, err error) (int, []byte) {
	status := httpapi.Status(err)
	p := httpapi.Problem{Type: "about:blank", Title: http.StatusText(status), Status: status,
		RequestID: requestid.From(ctx)}
	if e, ok := apperr.As(err); ok {
		if e.Type != "" {
			p.Type = e.Type
		}
		p.Detail, p.Errors = e.Message, e.Fields
	}
	b, _ := json.Marshal(p) // strings and ints always marshal
	return status, b
}

// writeResponse writes a stored answer byte for byte.
func writeResponse(c *gin.Context, orderID uuid.UUID, resp order.Response) {
	contentType := httpapi.ProblemContentType
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
