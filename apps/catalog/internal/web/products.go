package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/fargateshop/shop/apps/catalog/internal/catalog"
	"github.com/fargateshop/shop/platform/apperr"
	"github.com/fargateshop/shop/platform/catalogapi"
	"github.com/fargateshop/shop/platform/httpapi"
)

// Page sizes of GET /api/catalog/products.
const (
	defaultLimit = 20
	maxLimit     = 100
)

func toProductJSON(p catalog.Product) catalogapi.Product {
	return catalogapi.Product{ID: p.ID.String(), ProductInput: catalogapi.ProductInput{SKU: p.SKU, Name: p.Name,
		Description: p.Description, PriceCents: p.PriceCents, Currency: p.Currency, Stock: p.Stock},
		CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC()}
}

func (h *handler) listProducts(c *gin.Context) {
	afterSKU, limit, err := pageParams(c.Query("cursor"), c.Query("limit"))
	if err != nil {
		httpapi.Error(c, err)
		return
	}
	// One extra row tells whether another page follows.
	products, err := h.store.ListProducts(c.Request.Context(), afterSKU, limit+1)
	if err != nil {
		httpapi.Error(c, err)
		return
	}
	page := catalogapi.Page{Items: make([]catalogapi.Product, 0, limit)}
	if len(products) > limit {
		products = products[:limit]
		page.NextCursor = encodeCursor(products[limit-1].SKU)
	}
	for _, p := range products {
		page.Items = append(page.Items, toProductJSON(p))
	}
	writeJSON(c, http.StatusOK, page)
}

// writeJSON answers v with a Content-Length. Without one, net/http sends a
// body over 2 KiB (a page of products) chunked, and a reverse proxy in front
// (the edge's httputil.ReverseProxy) then flushes each chunk to its client
// as it arrives: one more write per request there (bench/).
func writeJSON(c *gin.Context, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		httpapi.Error(c, fmt.Errorf("encode answer: %w", err))
		return
	}
	c.Header("Content-Length", strconv.Itoa(len(b)))
	c.Data(status, "application/json; charset=utf-8", b)
}

// pageParams parses the query parameters of a product listing.
func pageParams(cursor, limitParam string) (afterSKU string, limit int, err error) {
	var fields []apperr.FieldError
	limit = defaultLimit
	if limitParam != "" {
		n, err := strconv.Atoi(limitParam)
		if err != nil || n < 1 || n > maxLimit {
			fields = append(fields, apperr.FieldError{Field: "limit",
				Message: "must be an integer between 1 and " + strconv.Itoa(maxLimit)})
		}
		limit = n
	}
	if cursor != "" {
		var ok bool
		if afterSKU, ok = decodeCursor(cursor); !ok {
			fields = append(fields, apperr.FieldError{Field: "cursor",
				Message: "is not a cursor this API returned; start again without one"})
		}
	}
	if len(fields) > 0 {
		return "", 0, &apperr.Error{Code: apperr.BadRequest, Message: "invalid query parameters", Fields: fields}
	}
	return afterSKU, limit, nil
}

func (h *handler) getProduct(c *gin.Context) {
	id, ok := productID(c)
	if !ok {
		return
	}
	p, err := h.store.Product(c.Request.Context(), id)
	if err != nil {
		httpapi.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, toProductJSON(p))
}

// productID parses the :id path parameter. A malformed id names no
// product, so it is answered 404 like an unknown one.
func productID(c *gin.Context) (uuid.UUID, bool) {
	id, problem := catalog.ParseID(c.Param("id"))
	if problem != "" {
		httpapi.Error(c, catalog.ErrProductNotFound)
		return uuid.Nil, false
	}
	return id, true
}

// newProduct is the product an administrator asked for, validated.
func newProduct(r catalogapi.ProductInput) (catalog.NewProduct, error) {
	p := catalog.NewProduct{SKU: r.SKU, Name: r.Name, Description: r.Description,
		PriceCents: r.PriceCents, Currency: r.Currency, Stock: r.Stock}
	return p, p.Validate()
}

func (h *handler) createProduct(c *gin.Context) {
	var req catalogapi.ProductInput
	if err := httpapi.DecodeJSON(c, &req); err != nil {
		httpapi.Error(c, err)
		return
	}
	np, err := newProduct(req)
	if err != nil {
		httpapi.Error(c, err)
		return
	}
	p, err := h.store.CreateProduct(c.Request.Context(), np)
	if err != nil {
		httpapi.Error(c, err)
		return
	}
	c.Header("Location", "/api/catalog/products/"+p.ID.String())
	c.JSON(http.StatusCreated, toProductJSON(p))
}

// updateProductRequest uses pointers to tell an absent field (unchanged)
// from a zero value.
type updateProductRequest struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
	PriceCents  *int64  `json:"price_cents"`
}

// productRequest reads the product id of the path and the JSON body of an
// admin write. When ok is false the problem has been answered.
func productRequest[T any](c *gin.Context) (id uuid.UUID, req T, ok bool) {
	if id, ok = productID(c); !ok {
		return id, req, false
	}
	if err := httpapi.DecodeJSON(c, &req); err != nil {
		httpapi.Error(c, err)
		return id, req, false
	}
	return id, req, true
}

func (h *handler) updateProduct(c *gin.Context) {
	id, req, ok := productRequest[updateProductRequest](c)
	if !ok {
		return
	}
	patch := catalog.ProductPatch{Name: req.Name, Description: req.Description, PriceCents: req.PriceCents}
	if err := patch.Validate(); err != nil {
		httpapi.Error(c, err)
		return
	}
	p, err := h.store.UpdateProduct(c.Request.Context(), id, patch)
	if err != nil {
		httpapi.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, toProductJSON(p))
}

type setStockRequest struct {
	Stock *int `json:"stock"`
}

func (h *handler) setStock(c *gin.Context) {
	id, req, ok := productRequest[setStockRequest](c)
	if !ok {
		return
	}
	if req.Stock == nil {
		httpapi.Error(c, apperr.Validation([]apperr.FieldError{{Field: "stock", Message: "is required"}}))
		return
	}
	if err := catalog.ValidateStock(*req.Stock); err != nil {
		httpapi.Error(c, err)
		return
	}
	p, err := h.store.SetStock(c.Request.Context(), id, *req.Stock)
	if err != nil {
		httpapi.Error(c, err)
		return
	}
	c.JSON(http.StatusOK, toProductJSON(p))
}
