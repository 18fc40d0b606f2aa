package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/fargateshop/shop/platform/catalogapi"
)

// testProduct has the values of the product BenchmarkGetProduct reads
// (apps/catalog/internal/web/bench_test.go), so the two benchmarks encode
// the same JSON.
var testProduct = floorProduct{ID: "0b1c2d3e-4f50-4617-8899-aabbccddeeff", ProductInput: catalogapi.ProductInput{
	SKU: "SKU-000", Name: "Product 0", Description: "A product of a realistic description length.",
	PriceCents: 1299, Currency: "USD", Stock: 50},
	CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC), UpdatedAt: time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)}

func TestFloorHandler(t *testing.T) {
	var logs bytes.Buffer
	h := floorHandler(slog.New(slog.NewJSONHandler(&logs, nil)), fromMemory(testProduct))
	tests := []struct {
		path       string
		wantStatus int
	}{
		{"/api/catalog/products/" + testProduct.ID, 200},
		{"/api/catalog/products/other", 404},
		{"/nope", 404},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
		if rec.Code != tt.wantStatus {
			t.Errorf("GET %s: got %d, want %d", tt.path, rec.Code, tt.wantStatus)
		}
	}

	logs.Reset()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/catalog/products/"+testProduct.ID, nil))
	want := `{"id":"0b1c2d3e-4f50-4617-8899-aabbccddeeff","sku":"SKU-000","name":"Product 0",` +
		`"description":"A product of a realistic description length.","price_cents":1299,"currency":"USD","stock":50,` +
		`"created_at":"2026-01-02T03:04:05.123456Z","updated_at":"2026-01-02T03:04:05.123456Z"}`
	if got := rec.Body.String(); got != want {
		t.Errorf("body:\n got %s\nwant %s", got, want)
	}
	id := rec.Header().Get("X-Request-Id")
	if len(id) != 32 {
		t.Errorf("X-Request-Id: got %q, want 32 hex digits", id)
	}
	var line map[string]any
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("access log is not one JSON line: %v: %q", err, logs.String())
	}
	for k, want := range map[string]any{"msg": "request", "request_id": id, "status": 200.0, "bytes": float64(len(want))} {
		if line[k] != want {
			t.Errorf("access log %s: got %v, want %v", k, line[k], want)
		}
	}
}

// BenchmarkFloorProduct is the bare handler that catalog's
// BenchmarkGetProduct is held against (bench's in-memory budget): the same
// product, request id, JSON and access-log line (to io.Discard, as there),
// with net/http's router instead of Gin and its middleware.
func BenchmarkFloorProduct(b *testing.B) {
	h := floorHandler(slog.New(slog.NewJSONHandler(io.Discard, nil)).With("service", "catalog"), fromMemory(testProduct))
	req := httptest.NewRequest(http.MethodGet, "/api/catalog/products/"+testProduct.ID, nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
