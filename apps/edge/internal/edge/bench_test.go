package edge_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/fargateshop/shop/platform/logging"
	"github.com/fargateshop/shop/platform/routing"

	"github.com/fargateshop/shop/apps/edge/internal/edge"
)

// benchEdge is the edge with its JSON access log (to io.Discard) in front of
// one loopback upstream for every service that answers body to anything.
// The numbers include the upstream's own work and the loopback round trip.
func benchEdge(b *testing.B, body string, contentLength bool) http.Handler {
	b.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if contentLength {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		}
		_, _ = io.WriteString(w, body)
	}))
	b.Cleanup(up.Close)
	u, err := url.Parse(up.URL)
	if err != nil {
		b.Fatal(err)
	}
	upstreams := map[string]*url.URL{}
	for _, s := range routing.Services {
		upstreams[s.Name] = u
	}
	e, err := edge.New(logging.New(io.Discard, "info", "edge"), routing.Services, upstreams, edge.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return e
}

func benchProxy(b *testing.B, h http.Handler, path string) {
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkProxyProduct is a product (about 300 bytes, which the upstream
// answers with a Content-Length) through the edge.
func BenchmarkProxyProduct(b *testing.B) {
	body := `{"id":"0b1c2d3e-4f50-4617-8899-aabbccddeeff","sku":"MUG-001","name":"Gopher Mug",` +
		`"description":"A 350 ml ceramic mug with the Go gopher.","price_cents":1299,"currency":"USD",` +
		`"stock":50,"created_at":"2026-01-02T03:04:05.123456Z","updated_at":"2026-01-02T03:04:05.123456Z"}`
	benchProxy(b, benchEdge(b, body, true), "/api/catalog/products/0b1c2d3e-4f50-4617-8899-aabbccddeeff")
}

// BenchmarkProxyList is a 6 KB page, as net/http sends a body over 2 KB
// that has no Content-Length: chunked.
func BenchmarkProxyList(b *testing.B) {
	body := `{"items":[` + strings.Repeat(`{"id":"0b1c2d3e-4f50-4617-8899-aabbccddeeff","name":"x"},`, 100) + `{}]}`
	benchProxy(b, benchEdge(b, body, false), "/api/catalog/products")
}
