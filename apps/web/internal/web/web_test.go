package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fargateshop/shop/apps/web/internal/catalog"
	"github.com/fargateshop/shop/apps/web/internal/web"
	"github.com/fargateshop/shop/platform/catalogapi"
)

var products = []catalog.Product{
	{ID: "0b6c4a1e-0000-4000-8000-000000000001", ProductInput: catalogapi.ProductInput{SKU: "MUG-1", Name: "Coffee mug", Description: "Holds coffee.", PriceCents: 1250, Currency: "EUR", Stock: 7}},
	{ID: "0b6c4a1e-0000-4000-8000-000000000002", ProductInput: catalogapi.ProductInput{SKU: "TEE-1", Name: "T-shirt", PriceCents: 123456, Currency: "USD", Stock: 0}},
	{ID: "0b6c4a1e-0000-4000-8000-000000000003", ProductInput: catalogapi.ProductInput{SKU: "XSS-1", Name: `<script>alert("x")</script>`, Description: `<img src=x onerror=alert(1)>`, PriceCents: 5, Currency: "EUR", Stock: 1}},
}

// fakeCatalog answers the product list like catalog does and records the
// request it got.
func fakeCatalog(t *testing.T, items []catalog.Product) (*httptest.Server, *atomic.Value) {
	t.Helper()
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.URL.String())
		if r.URL.Path != "/api/catalog/products" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"items": items, "next_cursor": ""})
	}))
	t.Cleanup(srv.Close)
	return srv, &got
}

func newHandler(t *testing.T, catalogURL string) http.Handler {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := web.New(log, catalog.New(catalogURL, log))
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	return h
}

func get(t *testing.T, h http.Handler, path, accept string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestShopListsProducts(t *testing.T) {
	cat, got := fakeCatalog(t, products)
	res, body := get(t, newHandler(t, cat.URL), "/", "text/html")

	if res.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200; body:\n%s", res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type = %q, want text/html", ct)
	}
	if u, _ := got.Load().(string); u != "/api/catalog/products?limit=100" {
		t.Errorf("catalog request = %q, want /api/catalog/products?limit=100", u)
	}
	for _, want := range []string{
		"Coffee mug", "€12.50", "7 in stock", "Holds coffee.",
		"T-shirt", "$1,234.56", "Out of stock",
		`data-testid="product"`, `data-product-id="0b6c4a1e-0000-4000-8000-000000000001"`,
		`data-testid="order-form"`, "<noscript>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if n := strings.Count(body, `data-testid="product"`); n != len(products) {
		t.Errorf("page has %d products, want %d", n, len(products))
	}
	// Out-of-stock products get no order form.
	if n := strings.Count(body, `data-testid="order-form"`); n != 2 {
		t.Errorf("page has %d order forms, want 2 (one per product in stock)", n)
	}
}

func TestShopEscapesHTML(t *testing.T) {
	cat, _ := fakeCatalog(t, products)
	_, body := get(t, newHandler(t, cat.URL), "/", "")
	for _, bad := range []string{`<script>alert`, `<img src=x`} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains unescaped %q", bad)
		}
	}
	for _, want := range []string{`&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`, `&lt;img src=x onerror=alert(1)&gt;`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks escaped %q", want)
		}
	}
}

func TestShopNoInlineScriptOrStyle(t *testing.T) {
	cat, _ := fakeCatalog(t, products)
	_, body := get(t, newHandler(t, cat.URL), "/", "")
	for _, bad := range []string{"<style", " style=", " onclick=", " onload=", " onsubmit=", "<script>"} {
		if strings.Contains(body, bad) {
			t.Errorf("page contains %q, which the CSP blocks", bad)
		}
	}
	if !strings.Contains(body, `<script src="/static/app.js?v=`) {
		t.Errorf("page does not load the versioned app.js")
	}
}

func TestShopCatalogDown(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	url := down.URL
	down.Close() // connection refused from now on

	// Answers a good, empty list, but only after 10 s: a page that waited
	// for it would answer 200, so a 503 shows that the page's own budget
	// (2 s) gave up first.
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(10 * time.Second):
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"items":[],"next_cursor":""}`)
	}))
	t.Cleanup(hang.Close)

	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	t.Cleanup(failing.Close)

	for _, tc := range []struct{ name, url string }{
		{"refused", url}, {"hangs", hang.URL}, {"5xx", failing.URL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHandler(t, tc.url)
			res, body := get(t, h, "/", "text/html,application/xhtml+xml")
			if res.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("status = %d, want 503", res.StatusCode)
			}
			if res.Header.Get("Retry-After") == "" {
				t.Errorf("no Retry-After header")
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type = %q, want text/html", ct)
			}
			if !strings.Contains(body, `data-testid="catalog-unavailable"`) || !strings.Contains(body, "unavailable right now") {
				t.Errorf("page lacks the unavailable message:\n%s", body)
			}
			for _, leak := range []string{"goroutine", "dial tcp", "boom", "panic"} {
				if strings.Contains(body, leak) {
					t.Errorf("page leaks %q", leak)
				}
			}
		})
	}
}

// A new production shop starts with an empty catalog: the page says so,
// and how to fill it, instead of showing an empty grid.
func TestShopEmptyCatalog(t *testing.T) {
	emptyMarks := []string{`data-testid="catalog-empty"`, "No products yet", "POST /api/catalog/products", "DEMO_DATA=true"}
	for _, tc := range []struct {
		name      string
		items     []catalog.Product
		wantEmpty bool
	}{
		{"no products", []catalog.Product{}, true},
		{"products", products, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cat, _ := fakeCatalog(t, tc.items)
			res, body := get(t, newHandler(t, cat.URL), "/", "text/html")
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status = %d, want 200; body:\n%s", res.StatusCode, body)
			}
			for _, mark := range emptyMarks {
				if got := strings.Contains(body, mark); got != tc.wantEmpty {
					t.Errorf("page contains %q: %v, want %v", mark, got, tc.wantEmpty)
				}
			}
			if got := strings.Contains(body, `data-testid="product-list"`); got == tc.wantEmpty {
				t.Errorf("page has a product list: %v, want %v", got, !tc.wantEmpty)
			}
			for _, bad := range []string{`data-testid="catalog-unavailable"`, `data-testid="catalog-error"`} {
				if strings.Contains(body, bad) {
					t.Errorf("page contains %s", bad)
				}
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	cat, _ := fakeCatalog(t, products)
	h := newHandler(t, cat.URL)
	for _, path := range []string{"/nope", "/api/orders", "/internal/reservations", "/static/missing.js", "/static/"} {
		t.Run(path, func(t *testing.T) {
			res, body := get(t, h, path, "text/html")
			if res.StatusCode != http.StatusNotFound {
				t.Errorf("status = %d, want 404", res.StatusCode)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type = %q, want text/html", ct)
			}
			if !strings.Contains(body, "Page not found") || !strings.Contains(body, `href="/"`) {
				t.Errorf("404 page lacks its message or link home:\n%s", body)
			}
		})
	}
	t.Run("json client", func(t *testing.T) {
		res, body := get(t, h, "/nope", "application/json")
		if res.StatusCode != http.StatusNotFound || res.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("got %d %q, want 404 application/problem+json", res.StatusCode, res.Header.Get("Content-Type"))
		}
		var p struct{ Status int }
		if err := json.Unmarshal([]byte(body), &p); err != nil || p.Status != 404 {
			t.Errorf("problem body = %q (%v)", body, err)
		}
	})
}

func TestSecurityHeaders(t *testing.T) {
	cat, _ := fakeCatalog(t, products)
	h := newHandler(t, cat.URL)
	want := map[string]string{
		"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "strict-origin-when-cross-origin",
	}
	for _, path := range []string{"/", "/nope", "/static/app.js", "/livez"} {
		res, _ := get(t, h, path, "")
		for k, v := range want {
			if got := res.Header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", path, k, got, v)
			}
		}
	}
}

func TestStaticAssets(t *testing.T) {
	cat, _ := fakeCatalog(t, products)
	h := newHandler(t, cat.URL)
	_, page := get(t, h, "/", "")

	for _, tc := range []struct{ name, contentType, contains string }{
		{"app.js", "text/javascript; charset=utf-8", "Idempotency-Key"},
		{"style.css", "text/css; charset=utf-8", ":focus-visible"},
		{"favicon.svg", "image/svg+xml", "<svg"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := strings.Index(page, "/static/"+tc.name+"?v=")
			if i < 0 {
				t.Fatalf("page does not link %s with a version", tc.name)
			}
			url := page[i : i+strings.IndexByte(page[i:], '"')]

			res, body := get(t, h, url, "")
			if res.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: status %d", url, res.StatusCode)
			}
			if got := res.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tc.contentType)
			}
			if !strings.Contains(body, tc.contains) {
				t.Errorf("body lacks %q", tc.contains)
			}
			if got := res.Header.Get("Cache-Control"); !strings.Contains(got, "immutable") {
				t.Errorf("versioned Cache-Control = %q, want immutable", got)
			}

			res, _ = get(t, h, "/static/"+tc.name, "")
			if got := res.Header.Get("Cache-Control"); got != "public, max-age=300" {
				t.Errorf("unversioned Cache-Control = %q, want a short max-age", got)
			}
			etag := res.Header.Get("ETag")
			req := httptest.NewRequest(http.MethodGet, "/static/"+tc.name, nil)
			req.Header.Set("If-None-Match", etag)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if etag == "" || rec.Code != http.StatusNotModified {
				t.Errorf("conditional GET with ETag %q: status %d, want 304", etag, rec.Code)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	// Catalog is down: web is still live and ready, because readiness must
	// not depend on another service.
	h := newHandler(t, "http://127.0.0.1:1")
	for _, path := range []string{"/livez", "/readyz"} {
		res, body := get(t, h, path, "")
		if res.StatusCode != http.StatusOK {
			t.Errorf("%s: status %d, body %s", path, res.StatusCode, body)
		}
	}
}

func TestFormatPrice(t *testing.T) {
	for _, tc := range []struct {
		cents    int64
		currency string
		want     string
	}{
		{0, "EUR", "€0.00"},
		{5, "EUR", "€0.05"},
		{1250, "eur", "€12.50"},
		{123456, "USD", "$1,234.56"},
		{100000000, "GBP", "£1,000,000.00"},
		{1500, "JPY", "¥1,500"},
		{999, "CHF", "CHF\u00a09.99"},
		{-250, "USD", "-$2.50"},
	} {
		if got := web.FormatPrice(tc.cents, tc.currency); got != tc.want {
			t.Errorf("FormatPrice(%d, %q) = %q, want %q", tc.cents, tc.currency, got, tc.want)
		}
	}
}

type panicCatalog struct{}

func (panicCatalog) Products(ctx context.Context) (catalog.Page, error) { panic("bug") }

func TestServerErrorsAreHTMLForBrowsers(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"status":400,"detail":"limit too large"}`)
	}))
	t.Cleanup(bad.Close)

	panicking, err := web.New(log, panicCatalog{})
	if err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]http.Handler{"panic": panicking, "catalog 4xx": newHandler(t, bad.URL)} {
		t.Run(name, func(t *testing.T) {
			res, body := get(t, h, "/", "text/html")
			if res.StatusCode != http.StatusInternalServerError {
				t.Errorf("status = %d, want 500", res.StatusCode)
			}
			if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type = %q, want text/html", ct)
			}
			if !strings.Contains(body, "Something went wrong") || strings.Contains(body, "limit too large") || strings.Contains(body, "goroutine") {
				t.Errorf("500 page wrong or leaking:\n%s", body)
			}
		})
	}
	res, _ := get(t, panicking, "/", "application/json")
	if res.StatusCode != http.StatusInternalServerError || res.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("JSON client got %d %q, want 500 problem+json", res.StatusCode, res.Header.Get("Content-Type"))
	}
}
