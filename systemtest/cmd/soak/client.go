package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Timeouts of the soak's client. A real browser waits longer, but an answer
// slower than this counts as a failure the user saw.
const (
	requestTimeout = 10 * time.Second
	orderAttempts  = 8
)

type product struct {
	ID    string
	SKU   string
	Stock int // initial stock, set by this run
}

// sample is one HTTP request as the client saw it.
type sample struct {
	kind       string // browse, list, product, order
	start      time.Time
	latency    time.Duration
	status     int    // 0 on a network error or timeout
	err        string // network error text
	problem    string // problem type of a 4xx/5xx answer
	retryAfter bool
}

// orderOutcome is one logical order: every attempt under one key.
type orderOutcome struct {
	key      string
	email    string
	lines    map[string]int // product id -> quantity
	start    time.Time
	end      time.Time
	attempts int
	final    int      // last status (0: network error)
	problem  string   // last problem type
	orderIDs []string // order ids of every 201 answer (all must be equal)
}

type record struct {
	start   time.Time
	mu      sync.Mutex
	samples []sample
	orders  []orderOutcome
	faults  []faultWindow
	dropped int
	ops     int
}

func (r *record) add(s sample) {
	r.mu.Lock()
	r.samples = append(r.samples, s)
	r.mu.Unlock()
}

func (r *record) addOrder(o orderOutcome) {
	r.mu.Lock()
	r.orders = append(r.orders, o)
	r.ops++
	r.mu.Unlock()
}

func (r *record) drop() {
	r.mu.Lock()
	r.dropped++
	r.mu.Unlock()
}

func (r *record) opsStarted() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.samples)
}

func (r *record) addFault(f faultWindow) {
	r.mu.Lock()
	r.faults = append(r.faults, f)
	r.mu.Unlock()
}

type client struct {
	base string
	hc   *http.Client
}

func newClient(base string) *client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // all traffic stays on the stack's address
	tr.MaxIdleConnsPerHost = 256
	return &client{base: base, hc: &http.Client{Timeout: requestTimeout, Transport: tr}}
}

type answer struct {
	status     int
	body       []byte
	problem    string
	retryAfter bool
	err        error
}

func (c *client) do(ctx context.Context, method, path string, header map[string]string, body any) answer {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return answer{err: err}
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return answer{err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	a := answer{status: resp.StatusCode, body: b, retryAfter: resp.Header.Get("Retry-After") != "", err: err}
	if resp.StatusCode >= 400 {
		var p struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(b, &p) == nil {
			a.problem = p.Type
		}
	}
	if err != nil {
		a.status = 0 // the body was cut: the client saw a failure
	}
	return a
}

// timed sends one request and records it.
func (c *client) timed(ctx context.Context, rec *record, kind, method, path string, header map[string]string, body any) answer {
	start := time.Now()
	a := c.do(ctx, method, path, header, body)
	s := sample{kind: kind, start: start, latency: time.Since(start), status: a.status, problem: a.problem, retryAfter: a.retryAfter}
	if a.err != nil {
		s.err = a.err.Error()
	}
	rec.add(s)
	return a
}

func (c *client) browse(ctx context.Context, rec *record) {
	c.timed(ctx, rec, "browse", "GET", "/", map[string]string{"Accept": "text/html"}, nil)
}

func (c *client) listProducts(ctx context.Context, rec *record) {
	c.timed(ctx, rec, "list", "GET", "/api/catalog/products?limit=20", nil, nil)
}

func (c *client) getProduct(ctx context.Context, rec *record, p product) {
	c.timed(ctx, rec, "product", "GET", "/api/catalog/products/"+p.ID, nil, nil)
}

type orderLine struct {
	ProductID string `json:"product_id"`
	Quantity  int    `json:"quantity"`
}

type orderBody struct {
	Email string      `json:"email"`
	Items []orderLine `json:"items"`
}

// placeOrder places one order with one key, retrying what a client should
// retry: 502/503/504, network errors, and 409 "request in progress" (a
// concurrent duplicate). 201, out-of-stock 409 and any other 4xx are final.
func (c *client) placeOrder(ctx context.Context, rec *record, products []product, key string) {
	body := orderBody{Email: key + "@example.com"}
	lines := map[string]int{}
	for _, i := range rand.Perm(len(products))[:1+rand.IntN(2)] {
		q := 1 + rand.IntN(3)
		body.Items = append(body.Items, orderLine{ProductID: products[i].ID, Quantity: q})
		lines[products[i].ID] = q
	}
	out := orderOutcome{key: key, email: body.Email, lines: lines, start: time.Now()}
	backoff := 250 * time.Millisecond
	for attempt := 1; attempt <= orderAttempts; attempt++ {
		out.attempts = attempt
		a := c.timed(ctx, rec, "order", "POST", "/api/orders", map[string]string{"Idempotency-Key": key}, body)
		out.final, out.problem = a.status, a.problem
		if a.status == http.StatusCreated {
			var o struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(a.body, &o) == nil {
				out.orderIDs = append(out.orderIDs, o.ID)
			}
			// A second, identical request must replay the same order: this
			// is what a client does when it lost the first answer.
			if rand.IntN(10) == 0 {
				b := c.timed(ctx, rec, "order", "POST", "/api/orders", map[string]string{"Idempotency-Key": key}, body)
				if b.status == http.StatusCreated && json.Unmarshal(b.body, &o) == nil {
					out.orderIDs = append(out.orderIDs, o.ID)
				}
			}
			break
		}
		retry := a.status == 0 || a.status == 502 || a.status == 503 || a.status == 504 ||
			(a.status == 409 && a.problem != "/problems/out-of-stock")
		if !retry || attempt == orderAttempts || ctx.Err() != nil {
			break
		}
		// Full jitter keeps retries of many clients from marching together.
		sleep := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
		case <-time.After(sleep):
		}
		backoff = min(2*backoff, 4*time.Second)
	}
	out.end = time.Now()
	rec.addOrder(out)
}

// createProducts makes the soak's own products, with known initial stock:
// one that sells out early (409s), one that sells out late, one that never does.
func (c *client) createProducts(ctx context.Context, token, runID string) ([]product, error) {
	stocks := []int{150, 1500, 1_000_000}
	var out []product
	for i, stock := range stocks {
		sku := fmt.Sprintf("SOAK-%s-%d", runID, i)
		body := map[string]any{"sku": sku, "name": "Soak product " + sku, "price_cents": 100 + i, "currency": "USD", "stock": stock}
		a := c.do(ctx, "POST", "/api/catalog/products", map[string]string{"Authorization": "Bearer " + token}, body)
		if a.err != nil || a.status != http.StatusCreated {
			return nil, fmt.Errorf("create product %s: status %d %s %v (is -admin-token right?)", sku, a.status, a.body, a.err)
		}
		var p struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(a.body, &p); err != nil {
			return nil, err
		}
		out = append(out, product{ID: p.ID, SKU: sku, Stock: stock})
	}
	return out, nil
}

// probe checks that one part of the system serves again, through the edge.
func (c *client) probe(ctx context.Context, what string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var path string
	want := http.StatusOK
	switch what {
	case "edge":
		path = "/livez"
	case "catalog", "postgres":
		path = "/api/catalog/products?limit=1"
	case "orders":
		// 404 needs orders' database; 503 or a gateway error means not yet.
		path, want = "/api/orders/00000000-0000-0000-0000-000000000000", http.StatusNotFound
	case "shipping":
		path, want = "/api/shipping/shipments/00000000-0000-0000-0000-000000000000", http.StatusNotFound
	case "web":
		path = "/"
	default:
		return fmt.Errorf("no probe for %q", what)
	}
	a := c.do(ctx, "GET", path, nil, nil)
	if a.err != nil {
		return a.err
	}
	if a.status != want {
		return fmt.Errorf("GET %s = %d", path, a.status)
	}
	return nil
}
