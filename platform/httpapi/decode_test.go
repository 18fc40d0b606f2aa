package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/fargateshop/shop/platform/apperr"
)

// orderBody is what POST /api/orders receives: the decoder's hot path.
type orderBody struct {
	Email string `json:"email"`
	Items []struct {
		ProductID string `json:"product_id"`
		Quantity  int    `json:"quantity"`
	} `json:"items"`
}

var benchOrder = []byte(`{"email":"ada@example.com","items":[` +
	`{"product_id":"0b9e3f8c-1d2a-4c5b-9e6f-7a8b9c0d1e2f","quantity":1},` +
	`{"product_id":"1c8f2a7d-3e4b-4d6c-8f7a-6b5c4d3e2f1a","quantity":2},` +
	`{"product_id":"2d7e1b6c-5f4a-4e8d-9a6b-5c4d3e2f1a0b","quantity":3}]}`)

// BenchmarkDecodeOrder compares Decode with what its strict
// encoding/json decoding alone costs (unknown fields and trailing data
// refused), on the body every order carries.
func BenchmarkDecodeOrder(b *testing.B) {
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchOrder)))
		for b.Loop() {
			var v orderBody
			dec := json.NewDecoder(bytes.NewReader(benchOrder))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&v); err != nil {
				b.Fatal(err)
			}
			if _, err := dec.Token(); !errors.Is(err, io.EOF) {
				b.Fatal(err)
			}
		}
	})
	b.Run("Decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(benchOrder)))
		for b.Loop() {
			var v orderBody
			if err := Decode(bytes.NewReader(benchOrder), &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRepeatedKey is the scan Decode adds, alone.
func BenchmarkRepeatedKey(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchOrder)))
	for b.Loop() {
		if _, _, found := repeatedKey(benchOrder); found {
			b.Fatal("found a repeated key")
		}
	}
}

func TestDecodeRefusesRepeatedKeys(t *testing.T) {
	many := func(last string) string {
		var b strings.Builder
		b.WriteString(`{`)
		for i := range 30 {
			fmt.Fprintf(&b, `"k%d":%d,`, i, i)
		}
		b.WriteString(last + `}`)
		return b.String()
	}
	for _, tc := range []struct {
		name, body string
		path, key  string // "" when the body must be accepted
	}{
		{"distinct keys", `{"a":1,"ab":2,"b":{"a":1}}`, "", ""},
		{"same key in sibling objects", `{"items":[{"quantity":1},{"quantity":2}]}`, "", ""},
		{"same key at two levels", `{"a":{"a":{"a":1}}}`, "", ""},
		{"string after an empty object", `[{},"a",{},"a",{"a":1}]`, "", ""},
		{"key text inside values", `{"a":"\"a\":1","b":["a","a"]}`, "", ""},
		{"many distinct keys", many(`"k30":30`), "", ""},
		{"repeated", `{"quantity":1,"quantity":2}`, "quantity", "quantity"},
		{"case variant", `{"quantity":1,"QUANTITY":3}`, "QUANTITY", "QUANTITY"},
		{"escaped variant", `{"quantity":1,"quant\u0069ty":3}`, "quantity", "quantity"},
		{"Kelvin sign for k", `{"sku":1,"s\u212au":2}`, "s\u212au", "s\u212au"},
		{"long s for s", `{"sku":1,"\u017fku":2}`, "\u017fku", "\u017fku"},
		{"inside an array", `{"items":[{"quantity":1},{"quantity":1,"Quantity":3}]}`, "items[1].Quantity", "Quantity"},
		{"after an empty object", `{"a":{},"a":1}`, "a", "a"},
		{"top-level array", `[1,{"x":1,"X":2}]`, "[1].X", "X"},
		{"deeply nested", `{"a":[[{"b":{"c":1,"C":2}}]]}`, "a[0][0].b.C", "C"},
		{"among many keys", many(`"K2":2`), "K2", "K2"},
		{"repeated among many keys", many(`"k29":2`), "k29", "k29"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v any
			err := Decode(strings.NewReader(tc.body), &v)
			if tc.path == "" {
				if err != nil {
					t.Fatalf("Decode(%s) = %v, want nil", tc.body, err)
				}
				return
			}
			e, ok := apperr.As(err)
			if !ok || e.Code != apperr.BadRequest {
				t.Fatalf("Decode(%s) = %v, want a bad request", tc.body, err)
			}
			if !strings.Contains(e.Message, fmt.Sprintf("%q", tc.key)) {
				t.Errorf("message %q does not name the key %q", e.Message, tc.key)
			}
			if len(e.Fields) != 1 || e.Fields[0].Field != tc.path {
				t.Errorf("fields = %+v, want one at %q", e.Fields, tc.path)
			}
		})
	}
}

// TestDecodeStrict: the refusals Decode made before repeated keys were
// checked still come first, with the same answers.
func TestDecodeStrict(t *testing.T) {
	type item struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
	}
	tooBig := httptest.NewRecorder()
	for _, tc := range []struct {
		name  string
		body  io.Reader
		code  apperr.Code
		field string
	}{
		{"ok", strings.NewReader(`{"name":"pen","count":2}`), "", ""},
		{"empty", strings.NewReader(``), apperr.BadRequest, ""},
		{"unknown field before a repeat", strings.NewReader(`{"name":"a","nme":1,"name":"b"}`), apperr.BadRequest, "nme"},
		{"type error before a repeat", strings.NewReader(`{"count":"2","count":2}`), apperr.BadRequest, "count"},
		{"trailing data", strings.NewReader(`{"name":"a"}{"name":"a"}`), apperr.BadRequest, ""},
		{"truncated", strings.NewReader(`{"name":"a"`), apperr.BadRequest, ""},
		{"over the limit", http.MaxBytesReader(tooBig, io.NopCloser(strings.NewReader(`{"name":"`+strings.Repeat("a", MaxBodyBytes)+`"}`)), MaxBodyBytes), apperr.TooLarge, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v item
			err := Decode(tc.body, &v)
			if got := apperr.CodeOf(err); got != tc.code {
				t.Fatalf("Decode = %v, want code %q", err, tc.code)
			}
			if tc.field == "" {
				return
			}
			if e, _ := apperr.As(err); len(e.Fields) != 1 || e.Fields[0].Field != tc.field {
				t.Errorf("fields = %+v, want one naming %q", e.Fields, tc.field)
			}
		})
	}
}

// TestRepeatedKeyMatchesReference checks the scanner against a plain
// token-by-token walk on bodies that stress its structure tracking.
func TestRepeatedKeyMatchesReference(t *testing.T) {
	for _, body := range repeatedKeySeeds {
		checkAgainstReference(t, []byte(body))
	}
}

func FuzzRepeatedKey(f *testing.F) {
	for _, s := range repeatedKeySeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return // repeatedKey is only ever given a decoded value
		}
		checkAgainstReference(t, data)
	})
}

var repeatedKeySeeds = []string{
	`{}`, `[]`, `"a"`, `1`, `null`, `[{},{}]`, `[{},"a",{"a":1,"a":2}]`,
	`{"a":{"b":[{"c":1},{"c":2,"C":3}]}}`, `{"\\":1,"\"":2,"\"\\":3}`,
	`{"é":1,"É":2}`, `{"ß":1,"SS":2}`, `{"a":[1,2,{"a":[]}],"b":{}}`,
	`{"k0":0,"k1":1,"k2":2,"k3":3,"k4":4,"k5":5,"k6":6,"k7":7,"k8":8,"k9":9,"k10":10,"k11":11,"k12":12,"k13":13,"k14":14,"k15":15,"k16":16,"k17":17,"K3":3}`,
	` { "a" : 1 , "b" : [ { "a" : 1 } ] , "A" : 2 } `,
}

func checkAgainstReference(t *testing.T, data []byte) {
	t.Helper()
	_, _, got := repeatedKey(data)
	if want := referenceRepeated(t, data); got != want {
		t.Errorf("repeatedKey(%s) found %v, want %v", data, got, want)
	}
}

// referenceRepeated walks data with encoding/json's tokenizer, keeping
// each open object's keys by their case fold.
func referenceRepeated(t *testing.T, data []byte) bool {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	type level struct {
		object    bool
		keys      []string
		expectKey bool
	}
	var stack []*level
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return false
		}
		if err != nil {
			t.Fatalf("reference walk of %s: %v", data, err)
		}
		var top *level
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		isKey := top != nil && top.object && top.expectKey
		if top != nil && top.object {
			top.expectKey = !top.expectKey
		}
		switch tok {
		case json.Delim('{'):
			stack = append(stack, &level{object: true, expectKey: true})
			continue
		case json.Delim('['):
			stack = append(stack, &level{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) > 0 && stack[len(stack)-1].object {
				stack[len(stack)-1].expectKey = true
			}
			continue
		}
		if isKey {
			k := tok.(string)
			for _, seen := range top.keys {
				if strings.EqualFold(seen, k) {
					return true
				}
			}
			top.keys = append(top.keys, k)
		}
	}
}
