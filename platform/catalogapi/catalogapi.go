// Package catalogapi is the JSON of catalog's products: catalog writes it,
// web reads it. One definition, so a renamed field breaks the build of both
// instead of the shop page.
package catalogapi

import "time"

// ProductInput is what an administrator sends to create a product, and the
// part of every product answer that catalog does not set itself.
type ProductInput struct {
	SKU         string `json:"sku"`
	Name        string `json:"name"`
	Description string `json:"description"`
	PriceCents  int64  `json:"price_cents"`
	Currency    string `json:"currency"`
	Stock       int    `json:"stock"`
}

// Product is catalog's answer for one product. encoding/json writes the
// embedded fields in place, so the keys come in the order declared here.
type Product struct {
	ID string `json:"id"`
	ProductInput
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Page is one page of a product list; NextCursor is absent on the last.
type Page struct {
	Items      []Product `json:"items"`
	NextCursor string    `json:"next_cursor,omitempty"`
}
