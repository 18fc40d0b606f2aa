package systemtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/fargateshop/shop/systemtest/harness"
)

// TestInvariantsUnderContentionAndCrash talks to catalog and orders
// directly (no edge) and checks invariants 1, 2 and 5 of the design:
// contention for the last units, a retried key, and catalog killed with
// SIGKILL under load and started again; then, once quiet, every unit is
// either in stock or in a confirmed order.
func TestInvariantsUnderContentionAndCrash(t *testing.T) {
	sys, dsn := startSystem(t, "", harness.Options{LogLevel: "warn", Env: map[string]map[string]string{
		"catalog": {"RESERVATION_TTL": "20s", "SWEEP_INTERVAL": "1s", "DB_MAX_CONNS": "20"},
		"orders":  {"RECONCILE_INTERVAL": "500ms", "ORDER_LEASE": "5s", "DB_MAX_CONNS": "20"},
	}})
	c := &shopClient{t: t, sys: sys, hc: &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 100}}}
	initial := map[string]int{} // product id → stock set through the admin API

	t.Run("50 concurrent orders for 10 units", func(t *testing.T) {
		c.t = t
		id := c.product("SYS-A", 0)
		c.setStock(id, 10)
		initial[id] = 10

		statuses := make(chan int, 50)
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() { statuses <- c.order(fmt.Sprintf("a-%d", i), id, 1).status })
		}
		wg.Wait()
		close(statuses)
		got := map[int]int{}
		for s := range statuses {
			got[s]++
		}
		t.Logf("answers: %v", got)
		if got[201] != 10 || got[409] != 40 || len(got) != 2 {
			t.Errorf("answers %v, want exactly 10×201 and 40×409", got)
		}
		if s := c.stock(id); s != 0 {
			t.Errorf("stock %d, want 0", s)
		}
	})

	t.Run("retry with the same key", func(t *testing.T) {
		c.t = t
		id := c.product("SYS-B", 5)
		initial[id] = 5
		first := c.order("b-1", id, 2)
		second := c.order("b-1", id, 2)
		if first.status != 201 || second.status != 201 || !bytes.Equal(first.body, second.body) {
			t.Fatalf("first %d %s, retry %d %s; want the same 201", first.status, first.body, second.status, second.body)
		}
		if first.header.Get("Idempotent-Replayed") != "" || second.header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("Idempotent-Replayed: first %q, retry %q", first.header.Get("Idempotent-Replayed"), second.header.Get("Idempotent-Replayed"))
		}
		if s := c.stock(id); s != 3 {
			t.Errorf("stock %d, want 3 (one order of 2)", s)
		}
		if n := queryInt(t, dsn, `SELECT count(*) FROM orders.orders o JOIN orders.order_items i ON i.order_id = o.id WHERE i.product_id = $1`, id); n != 1 {
			t.Errorf("%d orders for the product, want 1", n)
		}
	})

	t.Run("catalog dies under load and comes back", func(t *testing.T) {
		c.t = t
		id := c.product("SYS-C", 1000)
		initial[id] = 1000

		type result struct {
			status  int
			latency time.Duration
			phase   string
		}
		var (
			mu      sync.Mutex
			phase   = "up"
			results []result
			stop    = make(chan struct{})
			wg      sync.WaitGroup
		)
		setPhase := func(p string) { mu.Lock(); phase = p; mu.Unlock() }
		count := func(p string, status int) (n int) {
			mu.Lock()
			defer mu.Unlock()
			for _, r := range results {
				if r.phase == p && r.status == status {
					n++
				}
			}
			return n
		}
		for w := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					mu.Lock()
					p := phase
					mu.Unlock()
					begin := time.Now()
					r := c.order(fmt.Sprintf("c-%d-%d", w, i), id, 1)
					mu.Lock()
					results = append(results, result{r.status, time.Since(begin), p})
					mu.Unlock()
					time.Sleep(20 * time.Millisecond)
				}
			})
		}
		waitUntil(t, 10*time.Second, "201s before the crash", func() bool { return count("up", 201) >= 10 })

		setPhase("down")
		if err := sys.Signal("catalog", syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 20*time.Second, "503s while catalog is down", func() bool { return count("down", 503) >= 8 })

		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := sys.Restart(ctx, "catalog"); err != nil { // same port, same environment
			t.Fatal(err)
		}
		setPhase("back")
		waitUntil(t, 30*time.Second, "201s after catalog returned", func() bool { return count("back", 201) >= 5 })
		close(stop)
		wg.Wait()

		byPhase := map[string]map[int]int{}
		var slowest503 time.Duration
		for _, r := range results {
			if byPhase[r.phase] == nil {
				byPhase[r.phase] = map[int]int{}
			}
			byPhase[r.phase][r.status]++
			if r.status == 503 {
				slowest503 = max(slowest503, r.latency)
				if r.latency > 3*time.Second {
					t.Errorf("a 503 took %s, want within 3s", r.latency)
				}
			}
			if r.status != 201 && r.status != 503 {
				t.Errorf("unexpected status %d in phase %s", r.status, r.phase)
			}
		}
		t.Logf("answers by phase: %v; slowest 503: %s", byPhase, slowest503)
	})

	t.Run("invariant 1 once quiet", func(t *testing.T) {
		c.t = t
		// Orders cut off by the crash are settled by the reconciler (lease
		// 5 s) or by catalog's reservation timeout (20 s here).
		var report string
		ok := func() bool {
			unsettled := queryInt(t, dsn, `SELECT count(*) FROM orders.orders WHERE status IN ('pending', 'reserved')`)
			confirmed := confirmedQuantities(t, dsn)
			report = fmt.Sprintf("unsettled orders: %d;", unsettled)
			good := unsettled == 0
			for id, start := range initial {
				stock := c.stock(id)
				report += fmt.Sprintf(" %s: start %d = stock %d + confirmed %d;", id[:8], start, stock, confirmed[id])
				good = good && start == stock+confirmed[id]
			}
			return good
		}
		deadline := time.Now().Add(60 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("invariant does not hold: %s", report)
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Log(report)
	})
}

// shopClient calls catalog and orders directly, as orders and the admin do.
type shopClient struct {
	t   *testing.T
	sys *harness.System
	hc  *http.Client
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (c *shopClient) do(method, url string, body any, header map[string]string) answer {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		// Errorf, not Fatal: workers call this off the test goroutine.
		c.t.Errorf("%s %s: %v", method, url, err)
		return answer{}
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Errorf("%s %s: %v", method, url, err)
		return answer{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, b}
}

func (c *shopClient) admin(method, path string, body any, want int) map[string]any {
	c.t.Helper()
	r := c.do(method, c.sys.CatalogURL+path, body, map[string]string{"Authorization": "Bearer " + c.sys.AdminToken})
	if r.status != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, r.status, r.body, want)
	}
	var m map[string]any
	_ = json.Unmarshal(r.body, &m)
	return m
}

func (c *shopClient) product(sku string, stock int) string {
	c.t.Helper()
	p := c.admin(http.MethodPost, "/api/catalog/products", map[string]any{"sku": sku, "name": "Product " + sku,
		"description": "system test", "price_cents": 1999, "currency": "EUR", "stock": stock}, http.StatusCreated)
	id, _ := p["id"].(string)
	if _, err := uuid.Parse(id); err != nil {
		c.t.Fatalf("created product has id %q", id)
	}
	return id
}

func (c *shopClient) setStock(id string, stock int) {
	c.t.Helper()
	c.admin(http.MethodPut, "/api/catalog/products/"+id+"/stock", map[string]any{"stock": stock}, http.StatusOK)
}

func (c *shopClient) stock(id string) int {
	c.t.Helper()
	r := c.do(http.MethodGet, c.sys.CatalogURL+"/api/catalog/products/"+id, nil, nil)
	var p struct{ Stock *int }
	if r.status != 200 || json.Unmarshal(r.body, &p) != nil || p.Stock == nil {
		c.t.Fatalf("GET product %s: %d %s", id, r.status, r.body)
	}
	return *p.Stock
}

func (c *shopClient) order(key, product string, qty int) answer {
	c.t.Helper()
	return c.do(http.MethodPost, c.sys.OrdersURL+"/api/orders", map[string]any{"email": "sys@example.com",
		"items": []map[string]any{{"product_id": product, "quantity": qty}}}, map[string]string{"Idempotency-Key": key})
}

// confirmedQuantities returns the units of each product in confirmed orders.
func confirmedQuantities(t *testing.T, dsn string) map[string]int {
	t.Helper()
	out := map[string]int{}
	withConn(t, dsn, func(ctx context.Context, conn *pgx.Conn) {
		rows, err := conn.Query(ctx, `
			SELECT i.product_id::text, sum(i.quantity)::int
			FROM orders.orders o JOIN orders.order_items i ON i.order_id = o.id
			WHERE o.status = 'confirmed' GROUP BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		var id string
		var n int
		if _, err := pgx.ForEachRow(rows, []any{&id, &n}, func() error { out[id] = n; return nil }); err != nil {
			t.Fatal(err)
		}
	})
	return out
}

// waitUntil polls cond every 50 ms and fails the test after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
