//go:build faults

// Traces on the local Compose stack: the services export to Jaeger, and these
// checks read Jaeger's HTTP query API (the one its UI uses). They stop
// catalog for a moment, so they run with the fault checks, never against a
// deployed system.
package smoke

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func jaegerURL() string {
	if u := os.Getenv("JAEGER_URL"); u != "" {
		return strings.TrimRight(u, "/")
	}
	return "http://localhost:16686"
}

// jaegerTrace is the part of Jaeger's query API answer
// (GET /api/traces/{id}: {"data": [{"spans": [...], "processes": {...}}]})
// these checks read.
type jaegerTrace struct {
	TraceID string       `json:"traceID"`
	Spans   []jaegerSpan `json:"spans"`
	Procs   map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

type jaegerSpan struct {
	TraceID    string `json:"traceID"`
	SpanID     string `json:"spanID"`
	Operation  string `json:"operationName"`
	ProcessID  string `json:"processID"`
	References []struct {
		RefType string `json:"refType"`
		TraceID string `json:"traceID"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	Tags []struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"tags"`
}

func (s jaegerSpan) parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

func (s jaegerSpan) tag(key string) string {
	for _, t := range s.Tags {
		if t.Key == key {
			return fmt.Sprint(t.Value)
		}
	}
	return ""
}

func jaegerGet(path string, out any) error {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(jaegerURL() + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d", path, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// spansByService waits until the trace holds spans of every service named,
// then returns it with its spans indexed.
func waitTrace(t *testing.T, traceID string, services ...string) (jaegerTrace, map[string][]jaegerSpan) {
	t.Helper()
	var tr jaegerTrace
	var by map[string][]jaegerSpan
	// Spans leave each service in batches every 2 s.
	eventually(t, 60*time.Second, "trace "+traceID+" in Jaeger with spans of "+strings.Join(services, ", "), func() string {
		var out struct {
			Data []jaegerTrace `json:"data"`
		}
		if err := jaegerGet("/api/traces/"+traceID, &out); err != nil {
			return err.Error()
		}
		if len(out.Data) != 1 {
			return fmt.Sprintf("%d traces", len(out.Data))
		}
		tr = out.Data[0]
		by = map[string][]jaegerSpan{}
		for _, s := range tr.Spans {
			svc := tr.Procs[s.ProcessID].ServiceName
			by[svc] = append(by[svc], s)
		}
		for _, svc := range services {
			if len(by[svc]) == 0 {
				return "no span of " + svc + " yet"
			}
		}
		return ""
	})
	return tr, by
}

// TestOrderIsOneTraceAcrossTheServices: an order placed through the edge
// with a caller's traceparent is one trace in Jaeger: edge → orders →
// catalog (reserve, then confirm) → PostgreSQL, each span the child of the
// hop that called it.
func TestOrderIsOneTraceAcrossTheServices(t *testing.T) {
	p := stocked(t)
	traceID, callerSpan := randomHex(16), randomHex(8)
	r := do(t, "POST", "/api/orders", orderBody(p.ID, 1), map[string]string{
		"Idempotency-Key": newKey(),
		"traceparent":     "00-" + traceID + "-" + callerSpan + "-01",
	})
	if r.status != http.StatusCreated {
		t.Fatalf("order: %d %s", r.status, r.body)
	}
	if got := r.header.Get("traceresponse"); !strings.HasPrefix(got, "00-"+traceID+"-") {
		t.Errorf("traceresponse %q, want the caller's trace %s", got, traceID)
	}

	tr, by := waitTrace(t, traceID, "edge", "orders", "catalog")
	span := map[string]jaegerSpan{}
	for _, s := range tr.Spans {
		span[s.SpanID] = s
	}
	service := func(s jaegerSpan) string { return tr.Procs[s.ProcessID].ServiceName }
	// find returns svc's spans named op.
	find := func(svc, op string) []jaegerSpan {
		var out []jaegerSpan
		for _, s := range by[svc] {
			if s.Operation == op {
				out = append(out, s)
			}
		}
		return out
	}

	// Named after the ALB rule's path pattern that matched.
	edge := find("edge", "POST /api/orders")
	if len(edge) != 1 {
		t.Fatalf("edge server spans: got %v", ops(by["edge"]))
	}
	if got := edge[0].parent(); got != callerSpan {
		t.Errorf("edge span's parent %s, want the caller's %s", got, callerSpan)
	}

	place := find("orders", "POST /api/orders")
	if len(place) != 1 {
		t.Fatalf("orders server span POST /api/orders: got %v", ops(by["orders"]))
	}
	// orders' server span hangs off the edge's client span, which hangs off
	// the edge's server span.
	if via := span[place[0].parent()]; service(via) != "edge" || via.parent() != edge[0].SpanID {
		t.Errorf("orders' span is not under the edge's request: parent %q (%s)", place[0].parent(), service(via))
	}
	if id := place[0].tag("shop.order.id"); id == "" {
		t.Error("orders' span carries no shop.order.id")
	}

	// Reserve, then confirm, each a catalog server span under an orders
	// client span of this request.
	for _, op := range []string{"POST /internal/reservations", "POST /internal/reservations/:order_id/confirm"} {
		got := find("catalog", op)
		if len(got) != 1 {
			t.Errorf("catalog %s: got %v", op, ops(by["catalog"]))
			continue
		}
		client := span[got[0].parent()]
		if service(client) != "orders" || client.Operation != "POST catalog" || !under(span, client, place[0].SpanID) {
			t.Errorf("catalog %s: parent %q (%s %s) is not an orders client span of the request", op, got[0].parent(), service(client), client.Operation)
		}
	}

	// PostgreSQL: orders' own queries and catalog's, inside their requests.
	for _, svc := range []string{"orders", "catalog"} {
		n := 0
		for _, s := range by[svc] {
			if s.tag("db.system.name") == "postgresql" || s.tag("db.system") == "postgresql" {
				n++
				if _, ok := span[s.parent()]; !ok {
					t.Errorf("%s database span %s has no parent in the trace", svc, s.Operation)
				}
			}
		}
		if n == 0 {
			t.Errorf("no database span of %s: %v", svc, ops(by[svc]))
		}
	}
	t.Logf("trace %s: %d spans (edge %d, orders %d, catalog %d)", traceID, len(tr.Spans), len(by["edge"]), len(by["orders"]), len(by["catalog"]))
}

// TestOrderTraceCrossesTheEventHop: the order.confirmed event carries the
// order request's trace context in its message attributes (through the
// outbox and the relay), so shipping's consumer span of that event is in
// the same trace, under a span of orders.
func TestOrderTraceCrossesTheEventHop(t *testing.T) {
	p := stocked(t)
	traceID := randomHex(16)
	r := do(t, "POST", "/api/orders", orderBody(p.ID, 1), map[string]string{
		"Idempotency-Key": newKey(),
		"traceparent":     "00-" + traceID + "-" + randomHex(8) + "-01",
	})
	if r.status != http.StatusCreated {
		t.Fatalf("order: %d %s", r.status, r.body)
	}
	var o order
	decode(t, r, &o)
	waitShipment(t, o.ID)

	// Spans leave each service in batches: wait until shipping's span and
	// the orders span it hangs off are both in.
	eventually(t, 60*time.Second, "shipping's span under orders in trace "+traceID, func() string {
		var out struct {
			Data []jaegerTrace `json:"data"`
		}
		if err := jaegerGet("/api/traces/"+traceID, &out); err != nil {
			return err.Error()
		}
		if len(out.Data) != 1 {
			return fmt.Sprintf("%d traces", len(out.Data))
		}
		tr := out.Data[0]
		span := map[string]jaegerSpan{}
		for _, s := range tr.Spans {
			span[s.SpanID] = s
		}
		var shipping []string
		for _, s := range tr.Spans {
			if tr.Procs[s.ProcessID].ServiceName != "shipping" {
				continue
			}
			shipping = append(shipping, s.Operation)
			if parent, ok := span[s.parent()]; ok && tr.Procs[parent.ProcessID].ServiceName == "orders" {
				t.Logf("trace %s: shipping's %q under orders' %q", traceID, s.Operation, parent.Operation)
				return ""
			}
		}
		if len(shipping) == 0 {
			return "no span of shipping yet"
		}
		return fmt.Sprintf("shipping's spans %v, none under a span of orders yet", shipping)
	})
}

// under reports whether s descends from the span with id ancestor.
func under(spans map[string]jaegerSpan, s jaegerSpan, ancestor string) bool {
	for range len(spans) {
		p := s.parent()
		if p == ancestor {
			return true
		}
		next, ok := spans[p]
		if !ok {
			return false
		}
		s = next
	}
	return false
}

func ops(spans []jaegerSpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Operation)
	}
	slices.Sort(out)
	return out
}

// TestReconcilerSettlementIsTraced: an order left unfinished (catalog was
// down, and the client never retried) is settled by orders' reconciler in a
// trace of its own, whose span names the order.
func TestReconcilerSettlementIsTraced(t *testing.T) {
	p := stocked(t)
	startCatalog := stop(t, "catalog")
	traceID := randomHex(16)
	r := do(t, "POST", "/api/orders", orderBody(p.ID, 1), map[string]string{
		"Idempotency-Key": newKey(),
		"traceparent":     "00-" + traceID + "-" + randomHex(8) + "-01",
	})
	wantProblem(t, r, http.StatusServiceUnavailable)
	startCatalog()

	// The order's id, from the failed request's trace.
	_, by := waitTrace(t, traceID, "edge", "orders")
	orderID := ""
	for _, s := range by["orders"] {
		if id := s.tag("shop.order.id"); id != "" {
			orderID = id
		}
	}
	if orderID == "" {
		t.Fatalf("no shop.order.id on orders' spans: %v", ops(by["orders"]))
	}

	// The reconciler takes the order once its lease runs out (ORDER_LEASE,
	// 30 s by default) and catalog answers again.
	tags, _ := json.Marshal(map[string]string{"shop.order.id": orderID})
	q := url.Values{"service": {"orders"}, "operation": {"settle order"}, "tags": {string(tags)}, "lookback": {"1h"}, "limit": {"5"}}
	eventually(t, 120*time.Second, "a reconciler trace settling order "+orderID, func() string {
		var out struct {
			Data []jaegerTrace `json:"data"`
		}
		if err := jaegerGet("/api/traces?"+q.Encode(), &out); err != nil {
			return err.Error()
		}
		for _, tr := range out.Data {
			span := map[string]jaegerSpan{}
			for _, s := range tr.Spans {
				span[s.SpanID] = s
			}
			for _, s := range tr.Spans {
				if s.Operation != "settle order" || s.tag("shop.order.id") != orderID {
					continue
				}
				if round, ok := span[s.parent()]; !ok || round.Operation != "reconcile" {
					return "settle order span is not under a reconcile round"
				}
				if tr.TraceID == traceID {
					return "the settlement reuses the request's trace"
				}
				if got := s.tag("shop.outcome"); got != "released" && got != "confirmed" {
					return "shop.outcome " + got
				}
				t.Logf("order %s settled (%s) in trace %s", orderID, s.tag("shop.outcome"), tr.TraceID)
				return ""
			}
		}
		return fmt.Sprintf("%d traces found, none settling the order yet", len(out.Data))
	})
}
