package main

import (
	"strings"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	t0 := time.Now()
	rec := &record{start: t0, faults: []faultWindow{{name: "kill-catalog", start: t0.Add(10 * time.Second), end: t0.Add(20 * time.Second)}}}
	at := func(sec float64, kind string, status int, retryAfter bool) sample {
		return sample{kind: kind, start: t0.Add(time.Duration(sec * float64(time.Second))), latency: 100 * time.Millisecond, status: status, retryAfter: retryAfter}
	}
	rec.samples = []sample{
		at(1, "list", 200, false),     // fine
		at(12, "order", 503, true),    // inside
		at(25, "order", 503, true),    // inside the 10 s grace
		at(15, "list", 502, false),    // inside, not a 503
		at(31, "order", 503, true),    // outside
		at(40, "order", 409, false),   // out of stock: expected
		at(41, "order", 422, false),   // unexpected 4xx
		at(42, "product", 500, false), // outside and a 500
		at(13, "browse", 503, false),  // inside, no Retry-After
		at(9.95, "list", 0, false),    // started before, ended inside
	}
	st := classify(config{grace: 10 * time.Second}, rec)
	checks := []struct {
		name      string
		got, want int
	}{
		{"inside", st.inside, 5},
		{"inside503", st.inside503, 3},
		{"insideNon503", st.insideNon503, 2},
		{"outside", st.outside, 2},
		{"server500", st.server500, 1},
		{"bad4xx", st.bad4xx, 1},
		{"no503RetryAfter", st.no503RetryAfter, 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
}

// Every fault the soak cycles through has an action, and every action is
// in the cycle: a fault written but never injected proves nothing.
func TestEveryFaultIsInjected(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range defaultFaults {
		if _, ok := faultActions[f]; !ok {
			t.Errorf("default fault %q has no action", f)
		}
		if seen[f] {
			t.Errorf("default fault %q listed twice", f)
		}
		seen[f] = true
	}
	for f := range faultActions {
		if !seen[f] {
			t.Errorf("fault %q is never injected by default", f)
		}
	}
	if last := defaultFaults[len(defaultFaults)-1]; last != "stop-shipping" {
		t.Errorf("last default fault %q, want stop-shipping: it lasts a minute, which only a long run has room for", last)
	}
}

func TestParseDuplicates(t *testing.T) {
	metrics := `# HELP shop_shipments_total order.confirmed events applied, by outcome
# TYPE shop_shipments_total counter
shop_shipments_total{instance="a",job="shipping",outcome="created"} 120
shop_shipments_total{instance="a",job="shipping",outcome="duplicate"} 3
shop_shipments_total{instance="b",job="shipping",outcome="duplicate"} 2 1764400000000
shop_orders_total{job="orders",outcome="duplicate"} 9
`
	got, err := parseDuplicates(strings.NewReader(metrics))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		`shop_shipments_total{instance="a",job="shipping",outcome="duplicate"}`: 3,
		`shop_shipments_total{instance="b",job="shipping",outcome="duplicate"}`: 2,
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}

	// Polls of one series: a baseline of 1, up to 3, shipping restarted
	// (0), up to 2: 2 + 2 duplicates during the run.
	d := newDuplicates("")
	for _, v := range []float64{1, 3, 0, 2} {
		d.add(map[string]float64{`shop_shipments_total{job="shipping",outcome="duplicate"}`: v})
	}
	if s := d.String(); !strings.HasPrefix(s, "4 ") {
		t.Errorf("count %q, want 4", s)
	}
}
