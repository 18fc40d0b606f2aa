package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fargateshop/shop/apps/catalog/internal/catalog"
	"github.com/fargateshop/shop/platform/apperr"
	"github.com/fargateshop/shop/platform/catalogapi"
)

const adminToken = "test-admin-token-0123456789"

var admin = []string{"Authorization", "Bearer " + adminToken}

type problem struct {
	Type   string              `json:"type"`
	Title  string              `json:"title"`
	Status int                 `json:"status"`
	Detail string              `json:"detail"`
	Errors []apperr.FieldError `json:"errors"`
}

func (p problem) fields() string {
	var names []string
	for _, e := range p.Errors {
		names = append(names, e.Field)
	}
	return strings.Join(names, ",")
}

func newServer(store *fakeStore) http.Handler {
	return NewHandler(slog.New(slog.DiscardHandler), store, adminToken)
}

// do sends one request; headers are name, value pairs. A JSON body gets
// Content-Type application/json unless headers set another.
func do(t *testing.T, h http.Handler, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %s: %v", rec.Body, err)
	}
	return v
}

// wantProblem checks status and media type and returns the problem.
func wantProblem(t *testing.T, rec *httptest.ResponseRecorder, status int) problem {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("got status %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("got Content-Type %q, want application/problem+json", ct)
	}
	p := decode[problem](t, rec)
	if p.Status != status {
		t.Errorf("got problem status %d, want %d", p.Status, status)
	}
	return p
}

func product(sku string, stock int) catalog.Product {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	return catalog.Product{ID: uuid.New(), SKU: sku, Name: "Product " + sku, PriceCents: 100,
		Currency: "USD", Stock: stock, CreatedAt: now, UpdatedAt: now}
}

const validBody = `{"sku":"NEW-1","name":"New","description":"d","price_cents":500,"currency":"EUR","stock":3}`

func TestAdminAuth(t *testing.T) {
	tests := []struct {
		name   string
		header string // "" sends no Authorization header
		want   int
	}{
		{"no header", "", http.StatusUnauthorized},
		{"basic scheme", "Basic dXNlcjpwYXNz", http.StatusUnauthorized},
		{"bearer without token", "Bearer", http.StatusUnauthorized},
		{"bearer with blank token", "Bearer    ", http.StatusUnauthorized},
		{"wrong token", "Bearer wrong-token-0123456789", http.StatusForbidden},
		{"wrong short token", "Bearer x", http.StatusForbidden},
		{"token prefix", "Bearer " + adminToken[:len(adminToken)-1], http.StatusForbidden},
		{"right token", "Bearer " + adminToken, http.StatusCreated},
		{"scheme is case-insensitive", "bearer " + adminToken, http.StatusCreated},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newServer(newFakeStore())
			body := strings.Replace(validBody, "NEW-1", fmt.Sprintf("NEW-%d", i), 1)
			var headers []string
			if tt.header != "" {
				headers = []string{"Authorization", tt.header}
			}
			rec := do(t, h, http.MethodPost, "/api/catalog/products", body, headers...)
			if rec.Code != tt.want {
				t.Fatalf("got status %d, want %d; body %s", rec.Code, tt.want, rec.Body)
			}
			if tt.want == http.StatusUnauthorized {
				wantProblem(t, rec, tt.want)
				if got := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
					t.Errorf("got WWW-Authenticate %q, want a Bearer challenge", got)
				}
			}
		})
	}
}

func TestEveryAdminRouteNeedsTheToken(t *testing.T) {
	p := product("A", 1)
	h := newServer(newFakeStore(p))
	for _, r := range []struct{ method, path string }{
		{http.MethodPost, "/api/catalog/products"},
		{http.MethodPatch, "/api/catalog/products/" + p.ID.String()},
		{http.MethodPut, "/api/catalog/products/" + p.ID.String() + "/stock"},
	} {
		rec := do(t, h, r.method, r.path, `{"stock":1}`)
		wantProblem(t, rec, http.StatusUnauthorized)
		rec = do(t, h, r.method, r.path, `{"stock":1}`, "Authorization", "Bearer not-the-token-at-all")
		wantProblem(t, rec, http.StatusForbidden)
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	h := newServer(newFakeStore())
	wantProblem(t, do(t, h, http.MethodGet, "/api/catalog/nope", ""), http.StatusNotFound)
	wantProblem(t, do(t, h, http.MethodGet, "/internal/reservations", ""), http.StatusMethodNotAllowed)
	wantProblem(t, do(t, h, http.MethodDelete, "/api/catalog/products", "", admin...), http.StatusMethodNotAllowed)
	wantProblem(t, do(t, h, http.MethodPost, "/api/catalog/products/"+uuid.NewString(), "{}", admin...),
		http.StatusMethodNotAllowed)
}

func TestCreateProductBodyErrors(t *testing.T) {
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		fields      string // comma-separated field names of the problem
	}{
		{"too large", "", `{"name":"` + strings.Repeat("x", 1<<20) + `"}`, http.StatusRequestEntityTooLarge, ""},
		{"wrong content type", "text/plain", validBody, http.StatusUnsupportedMediaType, ""},
		{"form content type", "application/x-www-form-urlencoded", "sku=x", http.StatusUnsupportedMediaType, ""},
		{"malformed JSON", "", `{"sku":`, http.StatusBadRequest, ""},
		{"not JSON", "", `sku=x`, http.StatusBadRequest, ""},
		{"two values", "", validBody + validBody, http.StatusBadRequest, ""},
		{"unknown field", "", `{"sku":"A","colour":"red"}`, http.StatusBadRequest, "colour"},
		{"wrong type", "", `{"sku":"A","price_cents":"12"}`, http.StatusBadRequest, "price_cents"},
		{"fractional price", "", `{"sku":"A","price_cents":1.5}`, http.StatusBadRequest, "price_cents"},
		{"price overflows", "", `{"price_cents":99999999999999999999}`, http.StatusBadRequest, "price_cents"},
		{"array body", "", `[]`, http.StatusBadRequest, "(body)"},
		{"invalid fields", "", `{"sku":"bad sku","name":"","price_cents":0,"currency":"usd","stock":-1}`,
			http.StatusUnprocessableEntity, "sku,name,price_cents,currency,stock"},
		{"empty object", "", `{}`, http.StatusUnprocessableEntity, "sku,name,price_cents,currency"},
		{"NUL in name", "", `{"sku":"A","name":"a\u0000b","price_cents":1,"currency":"USD"}`,
			http.StatusUnprocessableEntity, "name"},
		{"invalid UTF-8 in name", "", "{\"sku\":\"A\",\"name\":\"a\xffb\",\"price_cents\":1,\"currency\":\"USD\"}",
			http.StatusUnprocessableEntity, "name"},
		{"lone surrogate in description", "", `{"sku":"A","name":"a","description":"\ud800","price_cents":1,"currency":"USD"}`,
			http.StatusUnprocessableEntity, "description"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newServer(newFakeStore())
			headers := admin
			if tt.contentType != "" {
				headers = append(headers[:2:2], "Content-Type", tt.contentType)
			}
			rec := do(t, h, http.MethodPost, "/api/catalog/products", tt.body, headers...)
			p := wantProblem(t, rec, tt.status)
			if got := p.fields(); got != tt.fields {
				t.Errorf("got problem fields %q, want %q; body %s", got, tt.fields, rec.Body)
			}
		})
	}
}

func TestCreateProduct(t *testing.T) {
	h := newServer(newFakeStore())
	rec := do(t, h, http.MethodPost, "/api/catalog/products", validBody, admin...)
	if rec.Code != http.StatusCreated {
		t.Fatalf("got status %d, want 201; body %s", rec.Code, rec.Body)
	}
	got := decode[catalogapi.Product](t, rec)
	if got.SKU != "NEW-1" || got.PriceCents != 500 || got.Currency != "EUR" || got.Stock != 3 || uuid.Validate(got.ID) != nil {
		t.Errorf("got %+v, want the product sent", got)
	}
	if loc, want := rec.Header().Get("Location"), "/api/catalog/products/"+got.ID; loc != want {
		t.Errorf("got Location %q, want %q", loc, want)
	}
	// The new product is readable where Location says.
	if rec := do(t, h, http.MethodGet, rec.Header().Get("Location"), ""); rec.Code != http.StatusOK {
		t.Errorf("GET Location: got status %d, want 200", rec.Code)
	}

	rec = do(t, h, http.MethodPost, "/api/catalog/products", validBody, admin...)
	p := wantProblem(t, rec, http.StatusConflict)
	if p.fields() != "sku" {
		t.Errorf("got fields %q, want sku", p.fields())
	}
}

func TestGetProduct(t *testing.T) {
	p := product("A", 1)
	h := newServer(newFakeStore(p))
	rec := do(t, h, http.MethodGet, "/api/catalog/products/"+p.ID.String(), "")
	if rec.Code != http.StatusOK {
		t.Fatalf("got status %d, want 200", rec.Code)
	}
	want := `{"id":"` + p.ID.String() + `","sku":"A","name":"Product A","description":"","price_cents":100,` +
		`"currency":"USD","stock":1,"created_at":"2025-01-02T03:04:05Z","updated_at":"2025-01-02T03:04:05Z"}`
	if got := strings.TrimSpace(rec.Body.String()); got != want {
		t.Errorf("got body\n%s\nwant\n%s", got, want)
	}
	for _, id := range []string{uuid.NewString(), "not-a-uuid", "1"} {
		wantProblem(t, do(t, h, http.MethodGet, "/api/catalog/products/"+id, ""), http.StatusNotFound)
	}
}

func TestListProductsPages(t *testing.T) {
	store := newFakeStore()
	for i := range 25 {
		p := product(fmt.Sprintf("SKU-%02d", i), i)
		store.products[p.ID] = p
	}
	h := newServer(store)

	rec := do(t, h, http.MethodGet, "/api/catalog/products", "")
	if page := decode[catalogapi.Page](t, rec); len(page.Items) != defaultLimit || page.NextCursor == "" {
		t.Errorf("default page: got %d items and cursor %q, want %d and a cursor", len(page.Items), page.NextCursor, defaultLimit)
	}

	var skus []string
	path := "/api/catalog/products?limit=10"
	for pages := 0; ; pages++ {
		if pages > 3 {
			t.Fatal("more pages than expected")
		}
		rec := do(t, h, http.MethodGet, path, "")
		if rec.Code != http.StatusOK {
			t.Fatalf("got status %d, want 200; body %s", rec.Code, rec.Body)
		}
		page := decode[catalogapi.Page](t, rec)
		for _, p := range page.Items {
			skus = append(skus, p.SKU)
		}
		if page.NextCursor == "" {
			break
		}
		path = "/api/catalog/products?limit=10&cursor=" + page.NextCursor
	}
	if len(skus) != 25 || skus[0] != "SKU-00" || skus[24] != "SKU-24" {
		t.Fatalf("got skus %v, want SKU-00 … SKU-24 once each", skus)
	}
	for i := 1; i < len(skus); i++ {
		if skus[i-1] >= skus[i] {
			t.Fatalf("skus out of order at %d: %v", i, skus)
		}
	}
}

func TestListProductsBadParams(t *testing.T) {
	h := newServer(newFakeStore())
	tests := []struct{ query, fields string }{
		{"limit=0", "limit"},
		{"limit=101", "limit"},
		{"limit=abc", "limit"},
		{"limit=-1", "limit"},
		{"cursor=***", "cursor"},
		{"cursor=" + encodeCursor("A") + "x", "cursor"},
		{"cursor=djE6", "cursor"}, // "v1:" with an empty sku
		{"limit=0&cursor=!", "limit,cursor"},
	}
	for _, tt := range tests {
		p := wantProblem(t, do(t, h, http.MethodGet, "/api/catalog/products?"+tt.query, ""), http.StatusBadRequest)
		if p.fields() != tt.fields {
			t.Errorf("%s: got fields %q, want %q", tt.query, p.fields(), tt.fields)
		}
	}
	if rec := do(t, h, http.MethodGet, "/api/catalog/products?limit=100&cursor="+encodeCursor("A"), ""); rec.Code != http.StatusOK {
		t.Errorf("valid params: got status %d, want 200", rec.Code)
	}
}

func TestUpdateProduct(t *testing.T) {
	p := product("A", 1)
	h := newServer(newFakeStore(p))
	path := "/api/catalog/products/" + p.ID.String()

	wantProblem(t, do(t, h, http.MethodPatch, path, `{}`, admin...), http.StatusUnprocessableEntity)
	wantProblem(t, do(t, h, http.MethodPatch, path, `{"price_cents":0,"name":""}`, admin...), http.StatusUnprocessableEntity)
	wantProblem(t, do(t, h, http.MethodPatch, path, `{"sku":"B"}`, admin...), http.StatusBadRequest)
	wantProblem(t, do(t, h, http.MethodPatch, "/api/catalog/products/"+uuid.NewString(), `{"name":"x"}`, admin...),
		http.StatusNotFound)

	rec := do(t, h, http.MethodPatch, path, `{"name":"Renamed"}`, admin...)
	if rec.Code != http.StatusOK {
		t.Fatalf("got status %d, want 200; body %s", rec.Code, rec.Body)
	}
	got := decode[catalogapi.Product](t, rec)
	if got.Name != "Renamed" || got.PriceCents != p.PriceCents {
		t.Errorf("got name %q price %d, want Renamed and the old price %d", got.Name, got.PriceCents, p.PriceCents)
	}
}

func TestSetStock(t *testing.T) {
	p := product("A", 1)
	h := newServer(newFakeStore(p))
	path := "/api/catalog/products/" + p.ID.String() + "/stock"

	for _, body := range []string{`{}`, `{"stock":-1}`, `{"stock":1000001}`} {
		wantProblem(t, do(t, h, http.MethodPut, path, body, admin...), http.StatusUnprocessableEntity)
	}
	wantProblem(t, do(t, h, http.MethodPut, path, `{"stock":"5"}`, admin...), http.StatusBadRequest)
	rec := do(t, h, http.MethodPut, path, `{"stock":7}`, admin...)
	if got := decode[catalogapi.Product](t, rec); rec.Code != http.StatusOK || got.Stock != 7 {
		t.Errorf("got status %d stock %d, want 200 and 7", rec.Code, got.Stock)
	}
}

func TestReservationEndpoints(t *testing.T) {
	p := product("A", 5)
	h := newServer(newFakeStore(p))
	order := uuid.NewString()
	body := `{"order_id":"` + order + `","items":[{"product_id":"` + p.ID.String() + `","quantity":2}]}`

	rec := do(t, h, http.MethodPost, "/internal/reservations", body)
	if rec.Code != http.StatusCreated {
		t.Fatalf("reserve: got status %d, want 201; body %s", rec.Code, rec.Body)
	}
	res := decode[reservationJSON](t, rec)
	if res.Status != catalog.Reserved || len(res.Items) != 1 || res.Items[0].SKU != "A" || res.Items[0].UnitPriceCents != 100 {
		t.Errorf("got %+v, want a reserved line for A at 100", res)
	}
	if rec := do(t, h, http.MethodPost, "/internal/reservations", body); rec.Code != http.StatusOK {
		t.Errorf("repeat reserve: got status %d, want 200", rec.Code)
	}

	bad := `{"order_id":"x","items":[{"product_id":"y","quantity":0}]}`
	p422 := wantProblem(t, do(t, h, http.MethodPost, "/internal/reservations", bad), http.StatusUnprocessableEntity)
	if want := "order_id,items[0].product_id,items[0].quantity"; p422.fields() != want {
		t.Errorf("got fields %q, want %q", p422.fields(), want)
	}

	rec = do(t, h, http.MethodPost, "/internal/reservations/"+order+"/confirm", "")
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != `{"order_id":"`+order+`","status":"confirmed"}` {
		t.Errorf("confirm: got %d %s", rec.Code, rec.Body)
	}
	pc := wantProblem(t, do(t, h, http.MethodPost, "/internal/reservations/"+order+"/release", ""), http.StatusConflict)
	if pc.Type != "/problems/reservation-confirmed" {
		t.Errorf("got problem type %q, want /problems/reservation-confirmed", pc.Type)
	}
	wantProblem(t, do(t, h, http.MethodPost, "/internal/reservations/"+uuid.NewString()+"/confirm", ""), http.StatusNotFound)
	wantProblem(t, do(t, h, http.MethodPost, "/internal/reservations/nope/release", ""), http.StatusNotFound)
}

func TestStoreFailures(t *testing.T) {
	store := newFakeStore()
	h := newServer(store)

	store.err = apperr.Wrap(apperr.Unavailable, errors.New("connection refused"), "the catalog database is unavailable")
	rec := do(t, h, http.MethodGet, "/api/catalog/products", "")
	wantProblem(t, rec, http.StatusServiceUnavailable)
	if rec.Header().Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	wantProblem(t, do(t, h, http.MethodGet, "/readyz", ""), http.StatusServiceUnavailable)
	if rec := do(t, h, http.MethodGet, "/livez", ""); rec.Code != http.StatusOK {
		t.Errorf("livez: got status %d, want 200 whatever the database does", rec.Code)
	}

	store.err = errors.New("pq: secret internal detail")
	rec = do(t, h, http.MethodGet, "/api/catalog/products", "")
	wantProblem(t, rec, http.StatusInternalServerError)
	if strings.Contains(rec.Body.String(), "secret") {
		t.Errorf("500 leaks the cause: %s", rec.Body)
	}
}
