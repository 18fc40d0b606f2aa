package order

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/fargateshop/shop/platform/apperr"
)

const (
	p1 = "0b9e3f8c-1d2a-4c5b-9e6f-7a8b9c0d1e2f"
	p2 = "1c0f4a9d-2e3b-4d6c-8f70-8b9c0d1e2f3a"
)

func lines(n int) []Line {
	out := make([]Line, n)
	for i := range out {
		out[i] = Line{ProductID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), Quantity: 1}
	}
	return out
}

func TestValidate(t *testing.T) {
	ok := Request{Email: "ada@example.com", Lines: []Line{{ProductID: p1, Quantity: 1}}}
	with := func(f func(r *Request)) Request {
		r := Request{Email: ok.Email, Lines: append([]Line(nil), ok.Lines...)}
		f(&r)
		return r
	}
	tests := []struct {
		name   string
		in     Request
		fields []string // invalid fields, nil when valid
	}{
		{"valid", ok, nil},
		{"valid two lines", with(func(r *Request) { r.Lines = append(r.Lines, Line{p2, 100}) }), nil},
		{"fifty lines", with(func(r *Request) { r.Lines = lines(50) }), nil},
		{"plus address", with(func(r *Request) { r.Email = "ada+shop@mail.example.com" }), nil},
		{"upper-case uuid is canonicalised", with(func(r *Request) { r.Lines[0].ProductID = strings.ToUpper(p1) }), nil},
		{"email missing", with(func(r *Request) { r.Email = "" }), []string{"email"}},
		{"email without at", with(func(r *Request) { r.Email = "ada.example.com" }), []string{"email"}},
		{"email with display name", with(func(r *Request) { r.Email = "Ada <ada@example.com>" }), []string{"email"}},
		{"email in angle brackets", with(func(r *Request) { r.Email = "<ada@example.com>" }), []string{"email"}},
		{"email with spaces", with(func(r *Request) { r.Email = " ada@example.com" }), []string{"email"}},
		{"email two addresses", with(func(r *Request) { r.Email = "a@x.com, b@x.com" }), []string{"email"}},
		{"email with replacement char", with(func(r *Request) { r.Email = "ad\uFFFDa@example.com" }), []string{"email"}},
		{"email with invalid UTF-8", with(func(r *Request) { r.Email = "ad\xffa@example.com" }), []string{"email"}},
		{"email too long", with(func(r *Request) { r.Email = strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com" }), []string{"email"}},
		{"no lines", with(func(r *Request) { r.Lines = nil }), []string{"items"}},
		{"fifty-one lines", with(func(r *Request) { r.Lines = lines(51) }), []string{"items"}},
		{"quantity zero", with(func(r *Request) { r.Lines[0].Quantity = 0 }), []string{"items[0].quantity"}},
		{"quantity negative", with(func(r *Request) { r.Lines[0].Quantity = -1 }), []string{"items[0].quantity"}},
		{"quantity 101", with(func(r *Request) { r.Lines[0].Quantity = 101 }), []string{"items[0].quantity"}},
		{"product missing", with(func(r *Request) { r.Lines[0].ProductID = "" }), []string{"items[0].product_id"}},
		{"product not a uuid", with(func(r *Request) { r.Lines[0].ProductID = "chair" }), []string{"items[0].product_id"}},
		{"product uuid without dashes", with(func(r *Request) { r.Lines[0].ProductID = strings.ReplaceAll(p1, "-", "") }), []string{"items[0].product_id"}},
		{"product urn form", with(func(r *Request) { r.Lines[0].ProductID = "urn:uuid:" + p1 }), []string{"items[0].product_id"}},
		{"duplicate product", with(func(r *Request) { r.Lines = append(r.Lines, Line{p2, 1}, Line{strings.ToUpper(p1), 2}) }), []string{"items[2].product_id"}},
		{"everything wrong at once", Request{Email: "x", Lines: []Line{{"y", 0}}}, []string{"email", "items[0].product_id", "items[0].quantity"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Validate(tt.in)
			if tt.fields == nil {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				for i, l := range got.Lines {
					if l.ProductID != strings.ToLower(tt.in.Lines[i].ProductID) {
						t.Errorf("line %d product %q, want canonical %q", i, l.ProductID, strings.ToLower(tt.in.Lines[i].ProductID))
					}
				}
				return
			}
			e, ok := apperr.As(err)
			if !ok || e.Code != apperr.Invalid {
				t.Fatalf("Validate: %v, want an Invalid error", err)
			}
			var gotFields []string
			for _, f := range e.Fields {
				gotFields = append(gotFields, f.Field)
			}
			if fmt.Sprint(gotFields) != fmt.Sprint(tt.fields) {
				t.Errorf("fields %v, want %v", gotFields, tt.fields)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	a := Request{Email: "ada@example.com", Lines: []Line{{p1, 1}, {p2, 2}}}
	tests := []struct {
		name string
		b    Request
		same bool
	}{
		{"identical", Request{Email: "ada@example.com", Lines: []Line{{p1, 1}, {p2, 2}}}, true},
		{"lines reordered", Request{Email: "ada@example.com", Lines: []Line{{p2, 2}, {p1, 1}}}, true},
		{"other quantity", Request{Email: "ada@example.com", Lines: []Line{{p1, 2}, {p2, 2}}}, false},
		{"other email", Request{Email: "bob@example.com", Lines: []Line{{p1, 1}, {p2, 2}}}, false},
		{"line missing", Request{Email: "ada@example.com", Lines: []Line{{p1, 1}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := bytes.Equal(Fingerprint(a), Fingerprint(tt.b)); got != tt.same {
				t.Errorf("same fingerprint = %v, want %v", got, tt.same)
			}
		})
	}
}

func TestPriced(t *testing.T) {
	req := []Line{{p1, 2}, {p2, 1}}
	item := func(p string, q int, price int64, cur string) ReservedItem {
		return ReservedItem{ProductID: p, SKU: "S-" + p[:4], Name: "N", Quantity: q, UnitPriceCents: price, Currency: cur}
	}
	t.Run("total and currency", func(t *testing.T) {
		// catalog may answer in another line order
		items, cur, total, err := Priced(req, Reservation{Items: []ReservedItem{item(p2, 1, 500, "EUR"), item(p1, 2, 250, "EUR")}})
		if err != nil {
			t.Fatal(err)
		}
		if cur != "EUR" || total != 1000 || items[0].ProductID != p1 || items[0].UnitPriceCents != 250 || items[1].SKU != "S-"+p2[:4] {
			t.Errorf("got %+v %s %d", items, cur, total)
		}
	})
	t.Run("mixed currency", func(t *testing.T) {
		_, _, _, err := Priced(req, Reservation{Items: []ReservedItem{item(p1, 2, 250, "EUR"), item(p2, 1, 500, "USD")}})
		if !errors.Is(err, ErrMixedCurrency) {
			t.Errorf("err %v, want ErrMixedCurrency", err)
		}
	})
	t.Run("different lines", func(t *testing.T) {
		_, _, _, err := Priced(req, Reservation{Items: []ReservedItem{item(p1, 1, 250, "EUR"), item(p2, 1, 500, "EUR")}})
		if err == nil || apperr.CodeOf(err) != apperr.Internal {
			t.Errorf("err %v, want an internal error", err)
		}
	})
}
