package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fargateshop/shop/apps/orders/internal/catalog"
	"github.com/fargateshop/shop/apps/orders/internal/catalog/catalogtest"
	"github.com/fargateshop/shop/apps/orders/internal/order"
	"github.com/fargateshop/shop/apps/orders/internal/postgres"
	"github.com/fargateshop/shop/apps/orders/internal/web"
	platformpg "github.com/fargateshop/shop/platform/postgres"
	"github.com/fargateshop/shop/platform/postgres/postgrestest"
)

type env struct {
	h     http.Handler
	cat   *catalogtest.Server
	store *postgres.Store
	pool  *platformpg.Pool
	chair string // product id, stock 5, 1250 EUR cents
	desk  string // product id, stock 2, 9900 EUR cents
}

func newEnv(t *testing.T, lease time.Duration) *env {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool := postgrestest.NewPool(t, postgres.Migrate)
	e := &env{cat: catalogtest.New(t), store: postgres.New(pool), pool: pool}
	e.chair = e.cat.AddProduct(catalogtest.Product{SKU: "CH-1", Name: "Chair", UnitPriceCents: 1250, Stock: 5})
	e.desk = e.cat.AddProduct(catalogtest.Product{SKU: "DK-1", Name: "Desk", UnitPriceCents: 9900, Stock: 2})
	e.h = web.NewHandler(log, e.store, catalog.New(e.cat.URL, log), web.Config{Lease: lease})
	return e
}

// events counts the outbox events of order id.
func (e *env) events(t *testing.T, id uuid.UUID) int {
	t.Helper()
	return count(t, e.pool, `SELECT count(*) FROM orders.outbox WHERE order_id = $1`, id)
}

func count(t *testing.T, pool *platformpg.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

func (e *env) do(t *testing.T, req *http.Request) response {
	t.Helper()
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return response{rec.Code, rec.Header(), rec.Body.Bytes()}
}

func (e *env) post(t *testing.T, key, body string) response {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/api/orders", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	return e.do(t, req)
}

func (e *env) get(t *testing.T, path string) response {
	t.Helper()
	return e.do(t, httptest.NewRequest(http.MethodGet, path, nil))
}

func orderBody(email string, lines ...any) string {
	var items []string
	for i := 0; i+1 < len(lines); i += 2 {
		items = append(items, fmt.Sprintf(`{"product_id":%q,"quantity":%d}`, lines[i], lines[i+1]))
	}
	return fmt.Sprintf(`{"email":%q,"items":[%s]}`, email, strings.Join(items, ","))
}

// wantProblem checks an RFC 9457 answer and returns it.
func wantProblem(t *testing.T, r response, status int, typ string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	p := r.json(t)
	if p["status"] != float64(status) {
		t.Errorf("problem status %v, want %d", p["status"], status)
	}
	if typ != "" && p["type"] != typ {
		t.Errorf("problem type %v, want %s", p["type"], typ)
	}
	return p
}

func fields(p map[string]any) []string {
	var out []string
	errs, _ := p["errors"].([]any)
	for _, e := range errs {
		out = append(out, e.(map[string]any)["field"].(string))
	}
	return out
}

func TestPlaceOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 30*time.Second)
	r := e.post(t, "k-1", orderBody("ada@example.com", e.chair, 2, e.desk, 1))
	if r.status != http.StatusCreated {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var got order.Order
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if loc := r.header.Get("Location"); loc != "/api/orders/"+got.ID.String() {
		t.Errorf("Location %q, want /api/orders/%s", loc, got.ID)
	}
	want := order.Order{ID: got.ID, Status: order.Confirmed, Email: "ada@example.com", Currency: "EUR",
		TotalCents: 2*1250 + 9900, CreatedAt: got.CreatedAt, Items: []order.Item{
			{ProductID: e.chair, SKU: "CH-1", Name: "Chair", Quantity: 2, UnitPriceCents: 1250},
			{ProductID: e.desk, SKU: "DK-1", Name: "Desk", Quantity: 1, UnitPriceCents: 9900},
		}}
	if fmt.Sprint(got) != fmt.Sprint(want) || got.CreatedAt.IsZero() {
		t.Errorf("order\n got %+v\nwant %+v", got, want)
	}
	for _, k := range []string{"id", "status", "email", "items", "total_cents", "currency", "created_at"} {
		if _, ok := r.json(t)[k]; !ok {
			t.Errorf("201 body lacks %q", k)
		}
	}
	if e.cat.Stock(e.chair) != 3 || e.cat.Stock(e.desk) != 1 {
		t.Errorf("stock %d, %d; want 3, 1", e.cat.Stock(e.chair), e.cat.Stock(e.desk))
	}

	// Its order.confirmed event waits in the outbox.
	if n := e.events(t, got.ID); n != 1 {
		t.Errorf("%d outbox events for the order, want 1", n)
	}

	g := e.get(t, "/api/orders/"+got.ID.String())
	var fetched order.Order
	if g.status != http.StatusOK || json.Unmarshal(g.body, &fetched) != nil || fmt.Sprint(fetched) != fmt.Sprint(got) {
		t.Errorf("GET = %d %s, want the placed order", g.status, g.body)
	}
}

func TestPlaceOrderReplay(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 30*time.Second)
	body := orderBody("ada@example.com", e.chair, 1)
	first := e.post(t, "k-1", body)
	if first.status != http.StatusCreated || first.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first: %d %v", first.status, first.header)
	}
	// Same request, other spelling: whitespace and upper-case id.
	second := e.post(t, "k-1", "  "+orderBody("ada@example.com", strings.ToUpper(e.chair), 1))
	if second.status != http.StatusCreated || string(second.body) != string(first.body) {
		t.Fatalf("replay %d %s, want 201 %s", second.status, second.body, first.body)
	}
	if second.header.Get("Idempotent-Replayed") != "true" || second.header.Get("Location") != first.header.Get("Location") {
		t.Errorf("replay headers %v", second.header)
	}
	if e.cat.Stock(e.chair) != 4 || e.cat.Calls("reserve") != 1 {
		t.Errorf("stock %d after %d reserve calls; want 4 after 1", e.cat.Stock(e.chair), e.cat.Calls("reserve"))
	}

	wantProblem(t, e.post(t, "k-1", orderBody("ada@example.com", e.chair, 2)), http.StatusUnprocessableEntity, "/problems/idempotency-key-reused")
}

func TestIdempotencyKeyHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 30*time.Second)
	body := orderBody("ada@example.com", e.chair, 1)
	for name, key := range map[string]string{"missing": "", "too long": strings.Repeat("k", 256), "non-ascii": "clé", "empty sf-string": `""`} {
		t.Run(name, func(t *testing.T) {
			wantProblem(t, e.post(t, key, body), http.StatusBadRequest, "")
		})
	}
	if e.cat.Calls("reserve") != 0 {
		t.Error("catalog called for a request without a valid key")
	}
}

func TestConcurrentDuplicateIs409(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 30*time.Second)
	body := orderBody("ada@example.com", e.chair, 1)
	e.cat.Hang(true) // the first request holds the key while catalog hangs
	var wg sync.WaitGroup
	var first response
	wg.Go(func() { first = e.post(t, "k-1", body) })
	<-e.cat.Hung() // it stored its key before calling catalog
	wantProblem(t, e.post(t, "k-1", body), http.StatusConflict, "/problems/request-in-progress")
	wg.Wait()
	wantProblem(t, first, http.StatusServiceUnavailable, "")
}

func TestOutOfStock(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 30*time.Second)
	body := orderBody("ada@example.com", e.chair, 1, e.desk, 3)
	r := e.post(t, "k-1", body)
	p := wantProblem(t, r, http.StatusConflict, "/problems/out-of-stock")
	if got := fields(p); len(got) != 1 || got[0] != "items[1].quantity" {
		t.Errorf("fields %v, want [items[1].quantity]", got)
	}
	if e.cat.Stock(e.chair) != 5 || e.cat.Stock(e.desk) != 2 {
		t.Error("stock changed by a refused order")
	}
	if n := count(t, e.pool, `SELECT count(*) FROM orders.outbox`); n != 0 {
		t.Errorf("%d outbox events for a refused order, want 0", n)
	}
	// The 409 is final for this key: it replays even once stock is back.
	e.cat.AddProduct(catalogtest.Product{ID: e.desk, SKU: "DK-1", Name: "Desk", UnitPriceCents: 9900, Stock: 10})
	again := e.post(t, "k-1", body)
	if again.status != http.StatusConflict || string(again.body) != string(r.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay %d %s %v, want the stored 409", again.status, again.body, again.header)
	}
	if again.header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("replayed Content-Type %q", again.header.Get("Content-Type"))
	}
}

func TestUnknownProductIs422(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 30*time.Second)
	p := wantProblem(t, e.post(t, "k-1", orderBody("ada@example.com", e.chair, 1, uuid.NewString(), 1)),
		http.StatusUnprocessableEntity, "/problems/unknown-product")
	if got := fields(p); len(got) != 1 || got[0] != "items[1].product_id" {
		t.Errorf("fields %v, want [items[1].product_id]", got)
	}
}

func TestMixedCurrencyIs422AndReleases(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 30*time.Second)
	usd := e.cat.AddProduct(catalogtest.Product{SKU: "US-1", Name: "Lamp", UnitPriceCents: 500, Currency: "USD", Stock: 3})
	wantProblem(t, e.post(t, "k-1", orderBody("ada@example.com", e.chair, 1, usd, 1)),
		http.StatusUnprocessableEntity, "/problems/mixed-currency")
	if e.cat.Stock(e.chair) != 5 || e.cat.Stock(usd) != 3 {
		t.Error("stock not released after a mixed-currency order")
	}
}

func TestValidationIs422(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 30*time.Second)
	p := wantProblem(t, e.post(t, "k-1", orderBody("not-an-email", "x", 0)), http.StatusUnprocessableEntity, "")
	if got := fmt.Sprint(fields(p)); got != "[email items[0].product_id items[0].quantity]" {
		t.Errorf("fields %s", got)
	}
	wantProblem(t, e.post(t, "k-2", orderBody("ada@example.com", e.chair, 1, e.chair, 1)), http.StatusUnprocessableEntity, "")
	if e.cat.Calls("reserve") != 0 {
		t.Error("catalog called for an invalid order")
	}
}

func TestCatalogDown(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"hangs", "closed"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t, 30*time.Second)
			body := orderBody("ada@example.com", e.chair, 1)
			if mode == "hangs" {
				e.cat.Hang(true)
			} else {
				e.cat.Close()
			}
			start := time.Now()
			r := e.post(t, "k-1", body)
			elapsed := time.Since(start)
			wantProblem(t, r, http.StatusServiceUnavailable, "")
			if r.header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if elapsed > 3*time.Second {
				t.Errorf("503 after %s, want within 3s", elapsed)
			}
			// 503 is not stored: the retry runs again (here it gets in at once,
			// since the lease was released) instead of replaying the 503.
			again := e.post(t, "k-1", body)
			if again.header.Get("Idempotent-Replayed") != "" {
				t.Error("a 503 was replayed")
			}
		})
	}
}

func TestRetryAfterCatalogHealsResumesTheSameOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 30*time.Second)
	body := orderBody("ada@example.com", e.chair, 1)
	// An attempt took the key and died before calling catalog.
	c := e.crashed(t, "k-1", body, false)
	e.expireLease(t, "k-1")

	e.cat.Hang(true)
	wantProblem(t, e.post(t, "k-1", body), http.StatusServiceUnavailable, "")
	e.cat.Hang(false)

	ok := e.post(t, "k-1", body)
	if ok.status != http.StatusCreated {
		t.Fatalf("after catalog healed: %d %s", ok.status, ok.body)
	}
	var got order.Order
	_ = json.Unmarshal(ok.body, &got)
	if got.ID != c.Order.ID {
		t.Errorf("order id %s, want the first attempt's %s", got.ID, c.Order.ID)
	}
	if e.cat.Stock(e.chair) != 4 {
		t.Errorf("stock %d, want 4 (one unit, taken once)", e.cat.Stock(e.chair))
	}
}

func mustValidate(t *testing.T, body string) order.Request {
	t.Helper()
	var p struct {
		Email string
		Items []struct {
			ProductID string `json:"product_id"`
			Quantity  int
		}
	}
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	r := order.Request{Email: p.Email}
	for _, it := range p.Items {
		r.Lines = append(r.Lines, order.Line{ProductID: it.ProductID, Quantity: it.Quantity})
	}
	v, err := order.Validate(r)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// crashed starts an order for body under key as a request that then died
// would have, after reserving at catalog when reserved is set. Its lease
// holds until expireLease.
func (e *env) crashed(t *testing.T, key, body string, reserved bool) order.Claim {
	t.Helper()
	ctx := context.Background()
	req := mustValidate(t, body)
	c, err := e.store.Begin(ctx, order.Attempt{Key: key, Request: req,
		Fingerprint: order.Fingerprint(req), NewOrderID: uuid.New(), Lease: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if reserved {
		if _, err := catalog.New(e.cat.URL, nil).Reserve(ctx, c.Order.ID, req.Lines); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// expireLease ends the lease on key: moved into the past, not slept
// through, so a slow machine cannot expire it early and a fast one need
// not wait.
func (e *env) expireLease(t *testing.T, key string) {
	t.Helper()
	if _, err := e.pool.Exec(context.Background(),
		"UPDATE orders.idempotency_keys SET locked_until = now() - interval '1 second' WHERE key = $1", key); err != nil {
		t.Fatal(err)
	}
}

func TestResumeAfterCrashBetweenReserveAndConfirm(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 30*time.Second)
	body := orderBody("ada@example.com", e.chair, 2)
	// A process took the key, reserved at catalog, and died.
	c := e.crashed(t, "k-1", body, true)

	wantProblem(t, e.post(t, "k-1", body), http.StatusConflict, "/problems/request-in-progress")
	e.expireLease(t, "k-1")

	r := e.post(t, "k-1", body)
	var got order.Order
	if r.status != http.StatusCreated || json.Unmarshal(r.body, &got) != nil || got.ID != c.Order.ID {
		t.Fatalf("retry %d %s, want 201 for order %s", r.status, r.body, c.Order.ID)
	}
	if e.cat.Stock(e.chair) != 3 || e.cat.Status(c.Order.ID) != "confirmed" {
		t.Errorf("stock %d, reservation %s; want 3, confirmed", e.cat.Stock(e.chair), e.cat.Status(c.Order.ID))
	}
}

func TestReservationExpiredBeforeConfirmRestartsOnRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 30*time.Second)
	body := orderBody("ada@example.com", e.chair, 1)
	c := e.crashed(t, "k-1", body, true)
	e.cat.Expire(c.Order.ID) // catalog's sweeper was faster than the retry
	e.expireLease(t, "k-1")

	wantProblem(t, e.post(t, "k-1", body), http.StatusServiceUnavailable, "")
	r := e.post(t, "k-1", body)
	var got order.Order
	if r.status != http.StatusCreated || json.Unmarshal(r.body, &got) != nil || got.ID == c.Order.ID {
		t.Fatalf("retry %d %s, want 201 for a fresh order", r.status, r.body)
	}
	if e.cat.Stock(e.chair) != 4 {
		t.Errorf("stock %d, want 4", e.cat.Stock(e.chair))
	}
	if old := e.get(t, "/api/orders/"+c.Order.ID.String()); !strings.Contains(string(old.body), `"status":"failed"`) {
		t.Errorf("expired order shows %s, want failed", old.body)
	}
}

func TestDatabaseDownIs503(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 30*time.Second)
	e.pool.Close()
	r := e.post(t, "k-1", orderBody("ada@example.com", e.chair, 1))
	wantProblem(t, r, http.StatusServiceUnavailable, "")
	if r.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	wantProblem(t, e.get(t, "/api/orders/"+uuid.NewString()), http.StatusServiceUnavailable, "")
	wantProblem(t, e.get(t, "/readyz"), http.StatusServiceUnavailable, "")
}

func TestProblemsEverywhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 30*time.Second)
	big := `{"email":"` + strings.Repeat("a", 2<<20) + `"}`
	tests := []struct {
		name   string
		req    *http.Request
		status int
	}{
		{"unknown route", httptest.NewRequest(http.MethodGet, "/api/nothing", nil), 404},
		{"GET bad uuid", httptest.NewRequest(http.MethodGet, "/api/orders/not-a-uuid", nil), 404},
		{"GET unknown order", httptest.NewRequest(http.MethodGet, "/api/orders/"+uuid.NewString(), nil), 404},
		{"DELETE order", httptest.NewRequest(http.MethodDelete, "/api/orders/"+uuid.NewString(), nil), 405},
		{"PUT orders", httptest.NewRequest(http.MethodPut, "/api/orders", nil), 405},
		{"too large", withKey(httptest.NewRequest(http.MethodPost, "/api/orders", strings.NewReader(big)), "application/json"), 413},
		{"wrong content type", withKey(httptest.NewRequest(http.MethodPost, "/api/orders", strings.NewReader(`{}`)), "text/plain"), 415},
		{"malformed JSON", withKey(httptest.NewRequest(http.MethodPost, "/api/orders", strings.NewReader(`{"email":`)), "application/json"), 400},
		{"unknown field", withKey(httptest.NewRequest(http.MethodPost, "/api/orders", strings.NewReader(`{"email":"a@b.c","items":[],"price":1}`)), "application/json"), 400},
		{"wrong type", withKey(httptest.NewRequest(http.MethodPost, "/api/orders", strings.NewReader(`{"email":"a@b.c","items":[{"product_id":"x","quantity":"2"}]}`)), "application/json"), 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, e.do(t, tt.req), tt.status, "")
		})
	}
	if r := e.get(t, "/livez"); r.status != http.StatusOK {
		t.Errorf("/livez %d", r.status)
	}
	if r := e.get(t, "/readyz"); r.status != http.StatusOK {
		t.Errorf("/readyz %d", r.status)
	}
}

func withKey(r *http.Request, contentType string) *http.Request {
	r.Header.Set("Idempotency-Key", "k")
	r.Header.Set("Content-Type", contentType)
	return r
}
