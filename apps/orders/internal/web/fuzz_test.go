package web

import (
	"bytes"
	"strings"
	"testing"

	"github.com/fargateshop/shop/apps/orders/internal/order"
	"github.com/fargateshop/shop/platform/apperr"
	"github.com/fargateshop/shop/platform/httpapi"
)

// FuzzDecodeOrder feeds arbitrary bodies through the decoder and validator
// that POST /api/orders uses: they must never panic, must fail only with
// client errors, and must accept only orders within the limits.
func FuzzDecodeOrder(f *testing.F) {
	for _, s := range []string{
		`{"email":"ada@example.com","items":[{"product_id":"0b9e3f8c-1d2a-4c5b-9e6f-7a8b9c0d1e2f","quantity":1}]}`,
		`{"email":"ada@example.com","items":[{"product_id":"0B9E3F8C-1D2A-4C5B-9E6F-7A8B9C0D1E2F","quantity":100}]}`,
		`{"email":"Ada <ada@example.com>","items":[]}`,
		`{"email":"a@b","items":[{"product_id":"x","quantity":-1},{"product_id":"x","quantity":1e3}]}`,
		`{"email":1}`, `{"items":null}`, `null`, `[]`, `{}`, `{"email":"a@b.c"} {}`, `{"price":1}`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var body placeRequest
		if err := httpapi.Decode(bytes.NewReader(data), &body); err != nil {
			if c := apperr.CodeOf(err); c != apperr.BadRequest && c != apperr.TooLarge {
				t.Fatalf("decode: %v, want a 400 error", err)
			}
			return
		}
		req, err := order.Validate(body.order())
		if err != nil {
			e, ok := apperr.As(err)
			if !ok || e.Code != apperr.Invalid || len(e.Fields) == 0 {
				t.Fatalf("validate: %v, want Invalid with fields", err)
			}
			return
		}
		if len(req.Lines) < 1 || len(req.Lines) > order.MaxLines || len(req.Email) > order.MaxEmailLen {
			t.Fatalf("accepted out-of-limit order %+v", req)
		}
		seen := map[string]bool{}
		for _, l := range req.Lines {
			if l.Quantity < 1 || l.Quantity > order.MaxQuantity || seen[l.ProductID] || l.ProductID != strings.ToLower(l.ProductID) {
				t.Fatalf("accepted bad line %+v in %+v", l, req)
			}
			seen[l.ProductID] = true
		}
		// Validation is idempotent and the fingerprint is stable.
		again, err := order.Validate(req)
		if err != nil || !bytes.Equal(order.Fingerprint(again), order.Fingerprint(req)) {
			t.Fatalf("revalidating %+v: %v", req, err)
		}
	})
}
