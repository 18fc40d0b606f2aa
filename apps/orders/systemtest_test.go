package main

// The system test builds the real catalog and orders binaries, runs them as
// processes against one real PostgreSQL database (each in its own schema)
// and checks the shop's invariants over real HTTP, including catalog
// crashing under load. It needs TEST_DATABASE_URL and fails without it.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/fargateshop/shop/platform/postgres/postgrestest"
)

const adminToken = "system-test-admin-token"

func TestSystem(t *testing.T) {
	dsn := postgrestest.NewDatabase(t) // first: no database, no test
	root := repoRoot(t)
	bin := t.TempDir()
	build(t, filepath.Join(root, "apps", "catalog"), filepath.Join(bin, "catalog"))
	build(t, filepath.Join(root, "apps", "orders"), filepath.Join(bin, "orders"))

	catPort, ordPort := freePort(t), freePort(t)
	catEnv := []string{"PORT=" + catPort, "DATABASE_URL=" + dsn, "ADMIN_TOKEN=" + adminToken,
		"RESERVATION_TTL=20s", "SWEEP_INTERVAL=1s", "LOG_LEVEL=warn", "DB_MAX_CONNS=20"}
	cat := start(t, "catalog", filepath.Join(bin, "catalog"), catEnv)
	ord := start(t, "orders", filepath.Join(bin, "orders"), []string{"PORT=" + ordPort, "DATABASE_URL=" + dsn,
		"CATALOG_URL=http://127.0.0.1:" + catPort, "RECONCILE_INTERVAL=500ms", "ORDER_LEASE=5s",
		"LOG_LEVEL=warn", "DB_MAX_CONNS=20"})
	catURL, ordURL := "http://127.0.0.1:"+catPort, "http://127.0.0.1:"+ordPort
	waitReady(t, catURL, cat)
	waitReady(t, ordURL, ord)

	c := &client{t: t, hc: &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 100}}, catURL: catURL, ordURL: ordURL}
	initial := map[string]int{} // product id → stock set through the admin API
	top := t

	t.Run("50 concurrent orders for 10 units", func(t *testing.T) {
		c.t = t
		id := c.product("SYS-A", 0)
		c.setStock(id, 10)
		initial[id] = 10

		statuses := make(chan int, 50)
		var wg sync.WaitGroup
		for i := range 50 {
			wg.Go(func() {
				r := c.order(fmt.Sprintf("a-%d", i), id, 1)
				statuses <- r.status
			})
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
		waitFor(t, 10*time.Second, "201s before the crash", func() bool { return count("up", 201) >= 10 })

		setPhase("down")
		cat.kill(syscall.SIGKILL)
		waitFor(t, 20*time.Second, "503s while catalog is down", func() bool { return count("down", 503) >= 8 })

		cat = start(top, "catalog", filepath.Join(bin, "catalog"), catEnv) // lives past this subtest
		waitReady(t, catURL, cat)
		setPhase("back")
		waitFor(t, 30*time.Second, "201s after catalog returned", func() bool { return count("back", 201) >= 5 })
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

	if t.Failed() {
		cat.dumpLog(t)
		ord.dumpLog(t)
	}
}

// client talks to both services over HTTP.
type client struct {
	t              *testing.T
	hc             *http.Client
	catURL, ordURL string
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (c *client) do(method, url string, body any, header map[string]string) answer {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		c.t.Fatal(err)
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

func (c *client) admin(method, path string, body any, want int) map[string]any {
	c.t.Helper()
	r := c.do(method, c.catURL+path, body, map[string]string{"Authorization": "Bearer " + adminToken})
	if r.status != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, r.status, r.body, want)
	}
	var m map[string]any
	_ = json.Unmarshal(r.body, &m)
	return m
}

func (c *client) product(sku string, stock int) string {
	c.t.Helper()
	p := c.admin(http.MethodPost, "/api/catalog/products", map[string]any{"sku": sku, "name": "Product " + sku,
		"description": "system test", "price_cents": 1999, "currency": "EUR", "stock": stock}, http.StatusCreated)
	id, _ := p["id"].(string)
	if _, err := uuid.Parse(id); err != nil {
		c.t.Fatalf("created product has id %q", id)
	}
	return id
}

func (c *client) setStock(id string, stock int) {
	c.t.Helper()
	c.admin(http.MethodPut, "/api/catalog/products/"+id+"/stock", map[string]any{"stock": stock}, http.StatusOK)
}

func (c *client) stock(id string) int {
	c.t.Helper()
	r := c.do(http.MethodGet, c.catURL+"/api/catalog/products/"+id, nil, nil)
	var p struct{ Stock *int }
	if r.status != 200 || json.Unmarshal(r.body, &p) != nil || p.Stock == nil {
		c.t.Fatalf("GET product %s: %d %s", id, r.status, r.body)
	}
	return *p.Stock
}

func (c *client) order(key, product string, qty int) answer {
	c.t.Helper()
	return c.do(http.MethodPost, c.ordURL+"/api/orders", map[string]any{"email": "sys@example.com",
		"items": []map[string]any{{"product_id": product, "quantity": qty}}}, map[string]string{"Idempotency-Key": key})
}

func confirmedQuantities(t *testing.T, dsn string) map[string]int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `
		SELECT i.product_id::text, sum(i.quantity)::int
		FROM orders.orders o JOIN orders.order_items i ON i.order_id = o.id
		WHERE o.status = 'confirmed' GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	var id string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&id, &n}, func() error { out[id] = n; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func queryInt(t *testing.T, dsn, sql string, args ...any) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// repoRoot walks up from the test's directory to the go.work file.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.work not found above the test directory")
		}
		dir = parent
	}
}

func build(t *testing.T, dir, out string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", dir, err, b)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

type proc struct {
	name string
	cmd  *exec.Cmd
	log  *bytes.Buffer
	mu   *sync.Mutex
	done chan struct{}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func start(t *testing.T, name, path string, env []string) *proc {
	t.Helper()
	p := &proc{name: name, log: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan struct{})}
	p.cmd = exec.Command(path)
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	p.cmd.Stdout = lockedWriter{p.mu, p.log}
	p.cmd.Stderr = lockedWriter{p.mu, p.log}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill(syscall.SIGTERM) })
	return p
}

// kill signals the process and waits for it to exit.
func (p *proc) kill(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *proc) dumpLog(t *testing.T) {
	p.mu.Lock()
	defer p.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(p.log.String()), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	t.Logf("last log lines of %s:\n%s", p.name, strings.Join(lines, "\n"))
}

func waitReady(t *testing.T, base string, p *proc) {
	t.Helper()
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := hc.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.done:
			p.dumpLog(t)
			t.Fatalf("%s exited before it was ready", p.name)
		default:
		}
		if time.Now().After(deadline) {
			p.dumpLog(t)
			t.Fatalf("%s not ready after 30s", p.name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
