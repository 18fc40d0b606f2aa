//go:build smoke || faults

package smoke

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
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

// do makes one request and fails the test when no answer comes back.
func do(t *testing.T, method, path string, body string, header map[string]string) response {
	t.Helper()
	r, err := send(method, path, body, header)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// send makes one request with a JSON body (when not empty). Unlike do, it
// only returns its error, so goroutines other than the test's may call it:
// t.Fatal must run on the test's own.
func send(method, path string, body string, header map[string]string) (response, error) {
	req, err := http.NewRequest(method, baseURL()+path, strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w (is the stack running at %s?)", method, path, err, baseURL())
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	return response{resp.StatusCode, resp.Header, b}, nil
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
	// Only the fields the checks read.
	Items []struct {
		ProductID      string `json:"product_id"`
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

// inStock returns a product with stock to buy one unit of: on the local
// stack one of the demo products catalog loads with DEMO_DATA=true.
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
	t.Fatalf("no product with stock among %d: the smoke suite buys existing products "+
		"(local stack: DEMO_DATA=true on catalog; elsewhere: add them through the admin API)", len(page.Items))
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

// eventually polls check every 500ms until it returns "" or limit passes.
func eventually(t *testing.T, limit time.Duration, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	last := ""
	for time.Now().Before(deadline) {
		if last = check(); last == "" {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v: %s", what, limit, last)
}

// shipmentBound is how long a confirmed order may wait for its shipment:
// the outbox relay's poll, the broker, shipping's long poll, with room for
// a shared machine.
const shipmentBound = 30 * time.Second

type shipment struct {
	OrderID string `json:"order_id"`
	Status  string `json:"status"`
	Items   []struct {
		ProductID string `json:"product_id"`
		SKU       string `json:"sku"`
		Quantity  int    `json:"quantity"`
	} `json:"items"`
	CreatedAt string `json:"created_at"`
}

// waitShipment polls GET /api/shipping/shipments/{orderID} until it is 200
// (a 404 problem meanwhile) and returns the shipment.
func waitShipment(t *testing.T, orderID string) shipment {
	t.Helper()
	var s shipment
	eventually(t, shipmentBound, "shipment of order "+orderID, func() string {
		r := do(t, "GET", "/api/shipping/shipments/"+orderID, "", nil)
		switch r.status {
		case http.StatusOK:
			decode(t, r, &s)
			return ""
		case http.StatusNotFound:
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
				t.Fatalf("404 for a missing shipment with Content-Type %q, want application/problem+json: %s", ct, r.body)
			}
			return "404: " + string(r.body)
		default:
			return fmt.Sprintf("status %d: %s", r.status, r.body)
		}
	})
	return s
}
