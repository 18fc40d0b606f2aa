// Package web is the catalog's HTTP interface: the public product API, the
// admin writes, and the internal reservation API the orders service calls.
package web

import (
	"context"
	"log/slog"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/fargateshop/shop/apps/catalog/internal/catalog"
	"github.com/fargateshop/shop/platform/httpapi"
)

// Store is the storage the handlers need.
type Store interface {
	Ping(ctx context.Context) error

	ListProducts(ctx context.Context, afterSKU string, limit int) ([]catalog.Product, error)
	Product(ctx context.Context, id uuid.UUID) (catalog.Product, error)
	CreateProduct(ctx context.Context, p catalog.NewProduct) (catalog.Product, error)
	UpdateProduct(ctx context.Context, id uuid.UUID, patch catalog.ProductPatch) (catalog.Product, error)
	SetStock(ctx context.Context, id uuid.UUID, stock int) (catalog.Product, error)

	Reserve(ctx context.Context, req catalog.ReservationRequest) (res catalog.Reservation, created bool, err error)
	Confirm(ctx context.Context, orderID uuid.UUID) (catalog.Reservation, error)
	Release(ctx context.Context, orderID uuid.UUID) (catalog.Reservation, error)
}

// NewHandler returns the catalog's routes. adminToken guards the writes
// under /api/catalog. /internal is not guarded here: no public route
// reaches it (the ALB and the edge forward /api/catalog/* only).
func NewHandler(log *slog.Logger, store Store, adminToken string) *gin.Engine {
	h := &handler{store: store}
	r := httpapi.NewEngine(log, httpapi.Options{})
	httpapi.Health(r, store.Ping)

	api := r.Group("/api/catalog")
	api.GET("/products", h.listProducts)
	api.GET("/products/:id", h.getProduct)

	admin := api.Group("", requireAdmin(adminToken))
	admin.POST("/products", h.createProduct)
	admin.PATCH("/products/:id", h.updateProduct)
	admin.PUT("/products/:id/stock", h.setStock)

	internal := r.Group("/internal")
	internal.POST("/reservations", h.reserve)
	internal.POST("/reservations/:order_id/confirm", h.confirm)
	internal.POST("/reservations/:order_id/release", h.release)
	return r
}

type handler struct {
	store Store
}
