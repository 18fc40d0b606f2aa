//go:build smoke

package smoke

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// getPage GETs path as a browser does and checks that the answer is an
// HTML page with status.
func getPage(t *testing.T, path string, status int) response {
	t.Helper()
	r := do(t, "GET", path, "", map[string]string{"Accept": "text/html"})
	if r.status != status {
		t.Fatalf("GET %s = %d, want %d", path, r.status, status)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("GET %s: Content-Type = %q, want text/html", path, ct)
	}
	return r
}

func TestPageRendersProducts(t *testing.T) {
	r := getPage(t, "/", http.StatusOK)
	p := inStock(t)
	if !strings.Contains(string(r.body), `data-testid="product"`) || !strings.Contains(string(r.body), p.Name) {
		t.Errorf("page does not list products (looked for %q)", p.Name)
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy = %q, want default-src 'self'", csp)
	}
}

func TestOrderPlacedReadAndReplayed(t *testing.T) {
	p := inStock(t)
	key := newKey()
	body := orderBody(p.ID, 1)
	first := do(t, "POST", "/api/orders", body, map[string]string{"Idempotency-Key": key})
	if first.status != http.StatusCreated {
		t.Fatalf("POST /api/orders = %d, want 201: %s", first.status, first.body)
	}
	var o order
	decode(t, first, &o)
	if o.Status != "confirmed" || len(o.Items) != 1 || o.Items[0].ProductID != p.ID || o.Items[0].Quantity != 1 ||
		o.Items[0].UnitPriceCents != p.PriceCents || o.TotalCents != p.PriceCents || o.Currency != p.Currency {
		t.Fatalf("order = %+v, want one confirmed line of %s at %d %s", o, p.ID, p.PriceCents, p.Currency)
	}
	loc := first.header.Get("Location")
	if loc != "/api/orders/"+o.ID {
		t.Errorf("Location = %q, want /api/orders/%s", loc, o.ID)
	}

	read := do(t, "GET", "/api/orders/"+o.ID, "", nil)
	var got order
	decode(t, read, &got)
	if read.status != http.StatusOK || got.ID != o.ID || got.TotalCents != o.TotalCents {
		t.Errorf("GET order = %d %+v, want 200 with the same order", read.status, got)
	}

	replay := do(t, "POST", "/api/orders", body, map[string]string{"Idempotency-Key": key})
	if replay.status != http.StatusCreated || !bytesEqualJSON(replay.body, first.body) {
		t.Errorf("replay = %d %s, want 201 with the same body %s", replay.status, replay.body, first.body)
	}
	if replay.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay without Idempotent-Replayed: true")
	}
	wantProblem(t, do(t, "POST", "/api/orders", orderBody(p.ID, 2), map[string]string{"Idempotency-Key": key}), http.StatusUnprocessableEntity)
}

// TestConfirmedOrderGetsItsShipment: a confirmed order's event travels
// through the outbox, the broker and shipping's queue, and becomes a
// pending shipment of the same items.
func TestConfirmedOrderGetsItsShipment(t *testing.T) {
	p := inStock(t)
	r := do(t, "POST", "/api/orders", orderBody(p.ID, 1), map[string]string{"Idempotency-Key": newKey()})
	if r.status != http.StatusCreated {
		t.Fatalf("POST /api/orders = %d, want 201: %s", r.status, r.body)
	}
	var o order
	decode(t, r, &o)

	s := waitShipment(t, o.ID)
	if s.OrderID != o.ID || s.Status != "pending" || s.CreatedAt == "" {
		t.Errorf("shipment = %+v, want a pending shipment of order %s with created_at", s, o.ID)
	}
	if _, err := time.Parse(time.RFC3339Nano, s.CreatedAt); err != nil {
		t.Errorf("shipment created_at %q is not RFC 3339: %v", s.CreatedAt, err)
	}
	if len(s.Items) != len(o.Items) {
		t.Fatalf("shipment items %+v, want the order's %+v", s.Items, o.Items)
	}
	for i, it := range s.Items {
		if it.ProductID != o.Items[i].ProductID || it.Quantity != o.Items[i].Quantity || it.SKU != p.SKU {
			t.Errorf("shipment item %d = %+v, want product %s (sku %s) × %d", i, it, o.Items[i].ProductID, p.SKU, o.Items[i].Quantity)
		}
	}
}

func TestBadInputIsProblemJSON(t *testing.T) {
	p := inStock(t)
	tests := []struct {
		name, method, path, body string
		header                   map[string]string
		status                   int
	}{
		{"missing idempotency key", "POST", "/api/orders", orderBody(p.ID, 1), nil, 400},
		{"malformed json", "POST", "/api/orders", `{"email":`, map[string]string{"Idempotency-Key": newKey()}, 400},
		{"zero quantity", "POST", "/api/orders", orderBody(p.ID, 0), map[string]string{"Idempotency-Key": newKey()}, 422},
		{"unknown product", "POST", "/api/orders", orderBody("00000000-0000-4000-8000-000000000000", 1), map[string]string{"Idempotency-Key": newKey()}, 422},
		{"bad order id", "GET", "/api/orders/not-a-uuid", "", nil, 404},
		{"unknown product id", "GET", "/api/catalog/products/00000000-0000-4000-8000-000000000000", "", nil, 404},
		{"no shipment for an unknown order", "GET", "/api/shipping/shipments/00000000-0000-4000-8000-000000000000", "", nil, 404},
		{"admin without token", "POST", "/api/catalog/products", `{}`, nil, 401},
		{"admin with wrong token", "PUT", "/api/catalog/products/" + p.ID + "/stock", `{"stock":1}`, map[string]string{"Authorization": "Bearer not-the-token-at-all"}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, do(t, tt.method, tt.path, tt.body, tt.header), tt.status)
		})
	}
}

func TestInternalIsUnreachable(t *testing.T) {
	paths := []string{
		"/internal/reservations",
		"/internal/reservations/00000000-0000-4000-8000-000000000000/release",
		"/api/catalog/../internal/reservations",
		"/api/catalog/%2e%2e/internal/reservations",
		"/api/catalog%2F..%2Finternal%2Freservations",
	}
	for _, path := range paths {
		for _, method := range []string{"GET", "POST"} {
			r := do(t, method, path, `{"order_id":"00000000-0000-4000-8000-000000000000","items":[]}`, nil)
			if r.status != http.StatusNotFound {
				t.Errorf("%s %s = %d, want 404: %s", method, path, r.status, r.body)
			}
		}
	}
}

// The edge sends every path no service declares to web, whose 404 is a page.
func TestUnknownPathGetsWebNotFoundPage(t *testing.T) {
	getPage(t, "/no/such/page", http.StatusNotFound)
}
