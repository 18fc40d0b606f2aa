package systemtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fargateshop/shop/systemtest/harness"
)

// catalogGate stands between orders and catalog. While slow, it holds every
// request until orders gives it up, and reports the request id of each
// arrival; otherwise it passes requests through to catalog.
type catalogGate struct {
	URL     string
	slow    atomic.Bool
	target  atomic.Pointer[url.URL]
	arrived chan string
}

func newCatalogGate(t *testing.T) *catalogGate {
	g := &catalogGate{arrived: make(chan string, 64)}
	closing := make(chan struct{})
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(g.target.Load()) }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.slow.Load() {
			// Reading the body to its end lets the server notice when
			// orders drops the connection, which ends r's context.
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case g.arrived <- r.Header.Get("X-Request-Id"):
			default: // nobody is counting any more
			}
			select {
			case <-r.Context().Done():
			case <-closing: // the test ended; never hold up srv.Close
			}
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(closing) }) // runs before srv.Close
	g.URL = srv.URL
	return g
}

// waitArrival waits until orders' catalog call for request id reaches the
// gate (retries of earlier orders may arrive first), or until done closes.
func (g *catalogGate) waitArrival(id string, done <-chan struct{}) {
	for {
		select {
		case got := <-g.arrived:
			if got == id {
				return
			}
		case <-done:
			return
		}
	}
}

// TestClientsGivingUpDoNotOpenTheBreaker: clients that hang up while
// orders waits on a slow catalog are not catalog failing. Once catalog
// answers again, the next order is placed, not refused with 503 by a
// circuit breaker that counted the hang-ups.
func TestClientsGivingUpDoNotOpenTheBreaker(t *testing.T) {
	gate := newCatalogGate(t)
	sys, _ := startSystem(t, "", harness.Options{Env: map[string]map[string]string{
		"orders": {"CATALOG_URL": gate.URL},
	}})
	target, err := url.Parse(sys.CatalogURL)
	if err != nil {
		t.Fatal(err)
	}
	gate.target.Store(target)
	c := &shopClient{t: t, sys: sys, hc: &http.Client{Timeout: 30 * time.Second}}
	product := c.product("BRK-1", 100)
	if r := c.order("brk-warmup", product, 1); r.status != http.StatusCreated {
		t.Fatalf("order through the gate: %d %s, want 201", r.status, r.body)
	}

	// More hang-ups than the breaker's default threshold of 5 failures.
	const hangups = 8
	gate.slow.Store(true)
	for i := range hangups {
		id := fmt.Sprintf("brk-hangup-%d", i)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			body := fmt.Sprintf(`{"email":"sys@example.com","items":[{"product_id":%q,"quantity":1}]}`, product)
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, sys.OrdersURL+"/api/orders", strings.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", id)
			req.Header.Set("X-Request-Id", id)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				t.Errorf("%s: answered %d before the client hung up", id, resp.StatusCode)
			}
		}()
		// Orders is waiting on catalog for this order, or answered early
		// (reported above).
		gate.waitArrival(id, done)
		cancel()
		<-done
		// Orders logs the request when its handler returns, after the
		// catalog call (and the breaker) saw the hang-up.
		waitUntil(t, 30*time.Second, "orders to log "+id, func() bool {
			return loggedRequest(sys.Logs("orders"), id, "/api/orders")
		})
	}
	gate.slow.Store(false)

	r := c.order("brk-after", product, 1)
	if r.status != http.StatusCreated {
		t.Fatalf("first order once catalog answers again: %d %s, want 201", r.status, r.body)
	}
}
