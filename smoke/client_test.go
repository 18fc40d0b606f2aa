//go:build smoke || faults

package smoke

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func baseURL() string {
	if u := os.Getenv("SMOKE_BASE_URL"); u != "" {
		return strings.TrimRight(u, "/")
	}
	return "http://localhost:8080"
}

var client = &http.Client{Timeout: 10 * time.Second}

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, method, path string, body string, header map[string]string) response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, baseURL()+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v (is the stack running at %s?)", method, path, err, baseURL())
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

type product struct {
	ID         string `json:"id"`
	SKU        string `json:"sku"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
	Currency   string `json:"currency"`
	Stock      int    `json:"stock"`
}

type order struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Email  string `json:"email"`
	Items  []struct {
		ProductID      string `json:"product_id"`
		SKU            string `json:"sku"`
		Name           string `json:"name"`
		Quantity       int    `json:"quantity"`
		UnitPriceCents int64  `json:"unit_price_cents"`
	} `json:"items"`
	TotalCents int64  `json:"total_cents"`
	Currency   string `json:"currency"`
}

type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

func decode(t *testing.T, r response, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %T: %v: %s", v, err, r.body)
	}
}

// inStock returns a seeded product with stock to buy one unit of.
func inStock(t *testing.T) product {
	t.Helper()
	r := do(t, "GET", "/api/catalog/products?limit=100", "", nil)
	if r.status != http.StatusOK {
		t.Fatalf("list products: status %d: %s", r.status, r.body)
	}
	var page struct{ Items []product }
	decode(t, r, &page)
	for _, p := range page.Items {
		if p.Stock > 0 {
			return p
		}
	}
	t.Fatalf("no product with stock among %d", len(page.Items))
	return product{}
}

func newKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "smoke-" + hex.EncodeToString(b[:])
}

func orderBody(productID string, qty int) string {
	b, _ := json.Marshal(map[string]any{
		"email": "smoke@example.com",
		"items": []map[string]any{{"product_id": productID, "quantity": qty}},
	})
	return string(b)
}

func wantProblem(t *testing.T, r response, status int) problem {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("Content-Type = %q, want application/problem+json: %s", ct, r.body)
	}
	var p problem
	decode(t, r, &p)
	if p.Status != status || p.Title == "" {
		t.Fatalf("problem = %+v, want status %d and a title", p, status)
	}
	return p
}

func bytesEqualJSON(a, b []byte) bool {
	return bytes.Equal(bytes.TrimSpace(a), bytes.TrimSpace(b))
}
