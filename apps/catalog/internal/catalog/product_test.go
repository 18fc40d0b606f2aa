package catalog

import (
	"strings"
	"testing"

	"github.com/fargateshop/shop/platform/apperr"
)

// fieldsOf returns field → message of a validation error, or nil for nil.
func fieldsOf(t *testing.T, err error) map[string]string {
	t.Helper()
	if err == nil {
		return nil
	}
	e, ok := apperr.As(err)
	if !ok || e.Code != apperr.Invalid {
		t.Fatalf("got error %v, want an apperr Invalid error", err)
	}
	m := map[string]string{}
	for _, f := range e.Fields {
		m[f.Field] = f.Message
	}
	return m
}

func sameKeys(got map[string]string, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, k := range want {
		if _, ok := got[k]; !ok {
			return false
		}
	}
	return true
}

func validProduct() NewProduct {
	return NewProduct{SKU: "MUG-001", Name: "Gopher Mug", Description: "A mug.\nDishwasher safe.",
		PriceCents: 1299, Currency: "USD", Stock: 5}
}

func TestNewProductValidate(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(p *NewProduct)
		fields []string // bad fields expected, none for a valid product
	}{
		{"valid", func(p *NewProduct) {}, nil},
		{"valid minimal", func(p *NewProduct) { p.Description = ""; p.Stock = 0 }, nil},
		{"valid limits", func(p *NewProduct) {
			p.SKU = strings.Repeat("a", 64)
			p.Name = strings.Repeat("é", 200)
			p.Description = strings.Repeat("ü", 2000)
			p.PriceCents = MaxPriceCents
			p.Stock = MaxStock
		}, nil},
		{"sku missing", func(p *NewProduct) { p.SKU = "" }, []string{"sku"}},
		{"sku too long", func(p *NewProduct) { p.SKU = strings.Repeat("a", 65) }, []string{"sku"}},
		{"sku with space", func(p *NewProduct) { p.SKU = "MUG 1" }, []string{"sku"}},
		{"sku with non-ASCII", func(p *NewProduct) { p.SKU = "MÜG" }, []string{"sku"}},
		{"name missing", func(p *NewProduct) { p.Name = "" }, []string{"name"}},
		{"name blank", func(p *NewProduct) { p.Name = "   " }, []string{"name"}},
		{"name too long", func(p *NewProduct) { p.Name = strings.Repeat("x", 201) }, []string{"name"}},
		{"name with NUL", func(p *NewProduct) { p.Name = "Mug\x00" }, []string{"name"}},
		{"name with newline", func(p *NewProduct) { p.Name = "Mug\n" }, []string{"name"}},
		{"name invalid UTF-8", func(p *NewProduct) { p.Name = "Mug\xff" }, []string{"name"}},
		{"name replacement char", func(p *NewProduct) { p.Name = "Mug\uFFFD" }, []string{"name"}},
		{"description too long", func(p *NewProduct) { p.Description = strings.Repeat("x", 2001) }, []string{"description"}},
		{"description with NUL", func(p *NewProduct) { p.Description = "a\x00b" }, []string{"description"}},
		{"description invalid UTF-8", func(p *NewProduct) { p.Description = "\xc3\x28" }, []string{"description"}},
		{"price zero", func(p *NewProduct) { p.PriceCents = 0 }, []string{"price_cents"}},
		{"price negative", func(p *NewProduct) { p.PriceCents = -1 }, []string{"price_cents"}},
		{"price too high", func(p *NewProduct) { p.PriceCents = MaxPriceCents + 1 }, []string{"price_cents"}},
		{"currency missing", func(p *NewProduct) { p.Currency = "" }, []string{"currency"}},
		{"currency lower case", func(p *NewProduct) { p.Currency = "usd" }, []string{"currency"}},
		{"currency unknown", func(p *NewProduct) { p.Currency = "UDS" }, []string{"currency"}},
		{"stock negative", func(p *NewProduct) { p.Stock = -1 }, []string{"stock"}},
		{"stock too high", func(p *NewProduct) { p.Stock = MaxStock + 1 }, []string{"stock"}},
		{"every field bad", func(p *NewProduct) { *p = NewProduct{Description: "\x00", Stock: -1} },
			[]string{"sku", "name", "description", "price_cents", "currency", "stock"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validProduct()
			tt.edit(&p)
			got := fieldsOf(t, p.Validate())
			if !sameKeys(got, tt.fields) {
				t.Errorf("got bad fields %v, want %v", got, tt.fields)
			}
		})
	}
}

func TestProductPatchValidate(t *testing.T) {
	str := func(s string) *string { return &s }
	cents := func(n int64) *int64 { return &n }
	tests := []struct {
		name   string
		patch  ProductPatch
		fields []string
	}{
		{"empty patch", ProductPatch{}, []string{"(body)"}},
		{"name only", ProductPatch{Name: str("New name")}, nil},
		{"description cleared", ProductPatch{Description: str("")}, nil},
		{"price only", ProductPatch{PriceCents: cents(1)}, nil},
		{"all valid", ProductPatch{Name: str("n"), Description: str("d"), PriceCents: cents(5)}, nil},
		{"empty name", ProductPatch{Name: str("")}, []string{"name"}},
		{"all bad", ProductPatch{Name: str("\x00"), Description: str(strings.Repeat("x", 2001)), PriceCents: cents(0)},
			[]string{"name", "description", "price_cents"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fieldsOf(t, tt.patch.Validate())
			if !sameKeys(got, tt.fields) {
				t.Errorf("got bad fields %v, want %v", got, tt.fields)
			}
		})
	}
}

func TestValidateStock(t *testing.T) {
	tests := []struct {
		stock int
		ok    bool
	}{{0, true}, {1, true}, {MaxStock, true}, {-1, false}, {MaxStock + 1, false}}
	for _, tt := range tests {
		if err := ValidateStock(tt.stock); (err == nil) != tt.ok {
			t.Errorf("ValidateStock(%d) = %v, want ok=%v", tt.stock, err, tt.ok)
		}
	}
}
