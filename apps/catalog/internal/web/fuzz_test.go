package web

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/fargateshop/shop/apps/catalog/internal/catalog"
	"github.com/fargateshop/shop/platform/apperr"
	"github.com/fargateshop/shop/platform/catalogapi"
	"github.com/fargateshop/shop/platform/httpapi"
)

// FuzzProductBody feeds arbitrary bodies to the create-product decoder and
// validator: they must never panic, must fail only with client errors, and
// must let through only products that satisfy every rule.
func FuzzProductBody(f *testing.F) {
	for _, seed := range []string{
		validBody,
		`{}`,
		`{"sku":"A","name":"n","price_cents":1,"currency":"USD"}`,
		`{"sku":"a b","name":"\u0000","price_cents":-1,"currency":"usd","stock":-5}`,
		`{"name":"\ud800"}`,
		"{\"name\":\"\xff\"}",
		`{"price_cents":1e3}`,
		`{"unknown":1}`,
		`[1,2]`,
		`null`,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req catalogapi.ProductInput
		err := httpapi.Decode(bytes.NewReader(body), &req)
		var p catalog.NewProduct
		if err == nil {
			p, err = newProduct(req)
		}
		if err != nil {
			switch code := apperr.CodeOf(err); code {
			case apperr.BadRequest, apperr.Invalid:
			default:
				t.Fatalf("got error code %s (%v), want bad_request or invalid", code, err)
			}
			return
		}
		for _, s := range []string{p.SKU, p.Name, p.Description, p.Currency} {
			if !utf8.ValidString(s) || strings.ContainsAny(s, "\x00\uFFFD") {
				t.Fatalf("accepted text %q", s)
			}
		}
		if p.SKU == "" || len(p.SKU) > catalog.MaxSKULen || p.Name == "" ||
			utf8.RuneCountInString(p.Name) > catalog.MaxNameLen ||
			p.PriceCents < 1 || p.PriceCents > catalog.MaxPriceCents || p.Stock < 0 || p.Stock > catalog.MaxStock {
			t.Fatalf("accepted invalid product %+v", p)
		}
	})
}

// FuzzCursor checks that decodeCursor never panics and accepts exactly the
// cursors encodeCursor makes.
func FuzzCursor(f *testing.F) {
	for _, seed := range []string{"", encodeCursor("MUG-001"), encodeCursor("a"), "djE6", "djE6QQ", "djE6QR", "***", "djE6QQ=="} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, cursor string) {
		sku, ok := decodeCursor(cursor)
		if !ok {
			return
		}
		if catalog.SKUProblem(sku) != "" {
			t.Fatalf("decodeCursor(%q) = %q, an invalid sku", cursor, sku)
		}
		if again := encodeCursor(sku); again != cursor {
			t.Fatalf("decodeCursor(%q) = %q, which encodes as %q", cursor, sku, again)
		}
	})
}
