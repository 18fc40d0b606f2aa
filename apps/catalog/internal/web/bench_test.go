package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fargateshop/shop/apps/catalog/internal/catalog"
	"github.com/fargateshop/shop/platform/logging"
	"github.com/fargateshop/shop/platform/oteltest"
)

// benchStore answers the two public reads from memory, so the benchmarks
// measure the HTTP layer: routing, middleware, the access log and JSON.
// Embedding Store keeps it compiling when the interface grows; these
// benchmarks call no other method.
type benchStore struct {
	Store
	products []catalog.Product // ordered by SKU
}

// newBenchStore holds n products. The first has the values (not the id) of
// bench/floor_test.go's testProduct, the product of the bare handler that
// make bench holds BenchmarkGetProduct against.
func newBenchStore(n int) benchStore {
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	s := benchStore{}
	for i := range n {
		s.products = append(s.products, catalog.Product{ID: uuid.New(), SKU: fmt.Sprintf("SKU-%03d", i),
			Name: fmt.Sprintf("Product %d", i), Description: "A product of a realistic description length.",
			PriceCents: 1299, Currency: "USD", Stock: 50, CreatedAt: at, UpdatedAt: at})
	}
	return s
}

func (s benchStore) Product(_ context.Context, id uuid.UUID) (catalog.Product, error) {
	for _, p := range s.products {
		if p.ID == id {
			return p, nil
		}
	}
	return catalog.Product{}, catalog.ErrProductNotFound
}

// ListProducts returns a new slice, as the PostgreSQL store does.
func (s benchStore) ListProducts(_ context.Context, after string, limit int) ([]catalog.Product, error) {
	i, _ := slices.BinarySearchFunc(s.products, after, func(p catalog.Product, sku string) int {
		if p.SKU <= sku {
			return -1
		}
		return 1
	})
	return slices.Clone(s.products[i:min(i+limit, len(s.products))]), nil
}

// benchHandler is the catalog's real handler with the JSON access log the
// service writes (to io.Discard here).
func benchHandler(store Store) http.Handler {
	return NewHandler(logging.New(io.Discard, "info", "catalog"), store, "bench-admin-token-0123456789")
}

// benchGet serves GET path through h until the benchmark ends, failing on
// anything but 200.
func benchGet(b *testing.B, h http.Handler, path string) {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

func BenchmarkGetProduct(b *testing.B) {
	store := newBenchStore(8)
	benchGet(b, benchHandler(store), "/api/catalog/products/"+store.products[0].ID.String())
}

// BenchmarkListProducts is the first page (20 products) of a longer list.
func BenchmarkListProducts(b *testing.B) {
	benchGet(b, benchHandler(newBenchStore(30)), "/api/catalog/products")
}

// BenchmarkTracingGetProduct and BenchmarkTracingListProducts are the read
// path with telemetry off, at 10 % and at 100 % sampling, exporting over
// OTLP/HTTP (oteltest.BenchTracing): make bench's "Tracing cost" rows.
func BenchmarkTracingGetProduct(b *testing.B) {
	store := newBenchStore(8)
	benchTracedGet(b, store, "/api/catalog/products/"+store.products[0].ID.String())
}

func BenchmarkTracingListProducts(b *testing.B) {
	benchTracedGet(b, newBenchStore(30), "/api/catalog/products")
}

func benchTracedGet(b *testing.B, store Store, path string) {
	oteltest.BenchTracing(b, func() http.Handler { return benchHandler(store) }, func(b *testing.B, h http.Handler) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}
