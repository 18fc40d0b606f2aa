// Package catalog reads the product list the shop page shows from the
// catalog service's public API.
package catalog

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/fargateshop/shop/platform/catalogapi"
	"github.com/fargateshop/shop/platform/httpclient"
)

// Product and Page are catalog's JSON; the page ignores the fields it does
// not show.
type (
	Product = catalogapi.Product
	Page    = catalogapi.Page
)

// PageSize is how many products the shop page asks for.
const PageSize = 100

// Client reads products from catalog.
type Client struct {
	hc *httpclient.Client
}

// New returns a Client for the catalog at baseURL (e.g. http://catalog:8080).
func New(baseURL string, log *slog.Logger) *Client {
	return &Client{hc: httpclient.New(httpclient.Config{
		Name:    "catalog",
		BaseURL: baseURL,
		// A shop page that waits longer than ~2 s for its product list is
		// worse than a fast "try again" page, so the budget is tighter
		// than the default.
		Budget:         2 * time.Second,
		AttemptTimeout: 1200 * time.Millisecond,
		Log:            log,
	})}
}

// Products returns the first page of products. A catalog that is down,
// slow or failing gives an apperr.Unavailable error.
func (c *Client) Products(ctx context.Context) (Page, error) {
	var p Page
	if err := c.hc.Do(ctx, http.MethodGet, fmt.Sprintf("/api/catalog/products?limit=%d", PageSize), true, nil, &p); err != nil {
		return Page{}, fmt.Errorf("list products: %w", err)
	}
	return p, nil
}
