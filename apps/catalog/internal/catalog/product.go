// Package catalog holds the catalog's domain: products, the rules a product
// must satisfy, and stock reservations for orders. It imports neither the web
// framework nor the database driver.
package catalog

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/fargateshop/shop/platform/apperr"
)

// Limits on product fields. They keep one product's JSON small and prices
// well inside int64 arithmetic.
const (
	MaxSKULen         = 64
	MaxNameLen        = 200
	MaxDescriptionLen = 2000
	MaxPriceCents     = 100_000_000
	MaxStock          = 1_000_000
)

// Product is an item for sale. Stock is the quantity available to new
// orders: units held by reservations are already subtracted.
type Product struct {
	ID          uuid.UUID
	SKU         string
	Name        string
	Description string
	PriceCents  int64
	Currency    string
	Stock       int
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// NewProduct is what an administrator supplies to create a product.
type NewProduct struct {
	SKU         string
	Name        string
	Description string
	PriceCents  int64
	Currency    string
	Stock       int
}

// Validate reports every invalid field at once.
func (p NewProduct) Validate() error {
	var fe fieldErrors
	fe.check("sku", SKUProblem(p.SKU))
	fe.check("name", nameProblem(p.Name))
	fe.check("description", descriptionProblem(p.Description))
	fe.check("price_cents", priceProblem(p.PriceCents))
	fe.check("currency", currencyProblem(p.Currency))
	fe.check("stock", stockProblem(p.Stock))
	return apperr.Validation(fe)
}

// ProductPatch changes some of a product's fields; nil means unchanged.
type ProductPatch struct {
	Name        *string
	Description *string
	PriceCents  *int64
}

// Validate reports every invalid field, and rejects a patch that changes
// nothing (most likely a client bug, such as a misspelt field name).
func (p ProductPatch) Validate() error {
	if p.Name == nil && p.Description == nil && p.PriceCents == nil {
		return apperr.Validation([]apperr.FieldError{{Field: "(body)",
			Message: "must set at least one of name, description, price_cents"}})
	}
	var fe fieldErrors
	if p.Name != nil {
		fe.check("name", nameProblem(*p.Name))
	}
	if p.Description != nil {
		fe.check("description", descriptionProblem(*p.Description))
	}
	if p.PriceCents != nil {
		fe.check("price_cents", priceProblem(*p.PriceCents))
	}
	return apperr.Validation(fe)
}

// ValidateStock checks an administrator's new stock level.
func ValidateStock(stock int) error {
	var fe fieldErrors
	fe.check("stock", stockProblem(stock))
	return apperr.Validation(fe)
}

// SKUProblem describes what is wrong with sku, or returns "" when it is a
// valid stock-keeping unit: 1 to 64 ASCII letters, digits, '-' or '_'.
func SKUProblem(sku string) string {
	if sku == "" {
		return "is required"
	}
	if len(sku) > MaxSKULen {
		return fmt.Sprintf("must be at most %d characters", MaxSKULen)
	}
	for i := 0; i < len(sku); i++ {
		c := sku[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return "may contain only letters A-Z and a-z, digits, '-' and '_'"
		}
	}
	return ""
}

func nameProblem(name string) string {
	if p := textProblem(name, false); p != "" {
		return p
	}
	switch n := utf8.RuneCountInString(name); {
	case strings.TrimSpace(name) == "":
		return "is required"
	case n > MaxNameLen:
		return fmt.Sprintf("must be at most %d characters", MaxNameLen)
	}
	return ""
}

func descriptionProblem(d string) string {
	if p := textProblem(d, true); p != "" {
		return p
	}
	if utf8.RuneCountInString(d) > MaxDescriptionLen {
		return fmt.Sprintf("must be at most %d characters", MaxDescriptionLen)
	}
	return ""
}

// textProblem rejects text that PostgreSQL cannot store (NUL) or that was
// not valid UTF-8. encoding/json turns invalid bytes and lone surrogate
// escapes into U+FFFD instead of failing, so that character is refused too:
// storing it would silently corrupt what the client sent.
func textProblem(s string, multiline bool) string {
	if !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError) {
		return "must be valid UTF-8 text"
	}
	for _, r := range s {
		switch {
		case r == 0:
			return "must not contain NUL characters"
		case multiline && (r == '\n' || r == '\r' || r == '\t'):
		case r < 0x20 || r == 0x7f:
			return "must not contain control characters"
		}
	}
	return ""
}

func priceProblem(cents int64) string {
	if cents < 1 || cents > MaxPriceCents {
		return fmt.Sprintf("must be an integer between 1 and %d", MaxPriceCents)
	}
	return ""
}

func stockProblem(stock int) string {
	if stock < 0 || stock > MaxStock {
		return fmt.Sprintf("must be an integer between 0 and %d", MaxStock)
	}
	return ""
}

func currencyProblem(c string) string {
	if c == "" {
		return "is required"
	}
	if !currencies[c] {
		return "must be a supported ISO 4217 code such as USD, EUR or BRL"
	}
	return ""
}

// currencies are the ISO 4217 codes the shop accepts. A fixed list rather
// than "three capital letters", so a typo like "UDS" is caught at once.
var currencies = map[string]bool{
	"USD": true, "EUR": true, "BRL": true, "GBP": true, "JPY": true, "CHF": true,
	"CAD": true, "AUD": true, "NZD": true, "SEK": true, "NOK": true, "DKK": true,
	"PLN": true, "CZK": true, "MXN": true, "ARS": true, "CLP": true, "COP": true,
	"CNY": true, "INR": true, "KRW": true, "SGD": true, "HKD": true, "ZAR": true,
}

// fieldErrors collects the problems of one input.
type fieldErrors []apperr.FieldError

func (fe *fieldErrors) check(field, problem string) {
	if problem != "" {
		*fe = append(*fe, apperr.FieldError{Field: field, Message: problem})
	}
}

// ErrProductNotFound is returned for an unknown product id.
var ErrProductNotFound = &apperr.Error{Code: apperr.NotFound, Message: "product not found"}

// DuplicateSKU is returned when another product already has sku.
func DuplicateSKU(sku string) error {
	return &apperr.Error{Code: apperr.Conflict, Type: "/problems/duplicate-sku",
		Message: fmt.Sprintf("a product with sku %q already exists", sku),
		Fields:  []apperr.FieldError{{Field: "sku", Message: "is already taken"}}}
}
