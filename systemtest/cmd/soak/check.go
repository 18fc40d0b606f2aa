package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

type invariant struct {
	name   string
	ok     bool
	detail string
}

type results struct {
	invariants []invariant
	quietIn    time.Duration
	lag        lag    // order confirmed -> shipment committed
	duplicates string // redeliveries shipping applied without effect
}

func (r results) allOK() bool {
	for _, inv := range r.invariants {
		if !inv.ok {
			return false
		}
	}
	return true
}

// productList is the SQL list of the run's product ids: reservations are
// the run's when they hold one of its products; orders are by email.
func productList(products []product) string {
	ids := make([]string, len(products))
	for i, p := range products {
		ids[i] = "'" + p.ID + "'"
	}
	return strings.Join(ids, ",")
}

func unsettledSQL(products []product, runID string) string {
	return fmt.Sprintf(`SELECT
  (SELECT count(*) FROM catalog.reservations r WHERE r.status = 'reserved'
     AND EXISTS (SELECT 1 FROM catalog.reservation_items i WHERE i.order_id = r.order_id AND i.product_id IN (%s))),
  (SELECT count(*) FROM orders.orders WHERE status IN ('pending', 'reserved') AND email LIKE 'soak-%s-%%')`,
		productList(products), runID)
}

// waitQuiet polls until no reservation of the run's products is held and no
// order of the run is unsettled, or settle passes.
func waitQuiet(ctx context.Context, dc *composeCLI, settle time.Duration, products []product, runID string) (time.Duration, error) {
	start := time.Now()
	var last string
	for time.Since(start) < settle && ctx.Err() == nil {
		rows, err := dc.psql(ctx, unsettledSQL(products, runID))
		if err == nil && len(rows) == 1 && rows[0][0] == "0" && rows[0][1] == "0" {
			return time.Since(start), nil
		}
		if err != nil {
			last = err.Error()
		} else if len(rows) == 1 {
			last = fmt.Sprintf("%s reservations held, %s orders unsettled", rows[0][0], rows[0][1])
		}
		sleep(ctx, 3*time.Second)
	}
	return time.Since(start), fmt.Errorf("after %s: %s", settle, last)
}

func check(ctx context.Context, cfg config, dc *composeCLI, rec *record, products []product, runID string, quietErr error, quietIn time.Duration) results {
	res := results{quietIn: quietIn}
	add := func(name string, ok bool, format string, args ...any) {
		res.invariants = append(res.invariants, invariant{name: name, ok: ok, detail: fmt.Sprintf(format, args...)})
	}

	// 1. No oversell, and catalog and orders agree on what was sold.
	rows, err := dc.psql(ctx, fmt.Sprintf(`SELECT p.id, p.stock,
  coalesce((SELECT sum(oi.quantity) FROM orders.order_items oi JOIN orders.orders o ON o.id = oi.order_id
            WHERE o.status = 'confirmed' AND oi.product_id = p.id), 0),
  coalesce((SELECT sum(ri.quantity) FROM catalog.reservation_items ri JOIN catalog.reservations r ON r.order_id = ri.order_id
            WHERE r.status = 'confirmed' AND ri.product_id = p.id), 0),
  coalesce((SELECT sum(ri.quantity) FROM catalog.reservation_items ri JOIN catalog.reservations r ON r.order_id = ri.order_id
            WHERE r.status = 'reserved' AND ri.product_id = p.id), 0)
FROM catalog.products p WHERE p.id IN (%s) ORDER BY p.sku`, productList(products)))
	if err != nil {
		add("1 no oversell", false, "query: %v", err)
	} else {
		initial := map[string]int{}
		for _, p := range products {
			initial[p.ID] = p.Stock
		}
		ok := len(rows) == len(products)
		var parts []string
		for _, r := range rows {
			stock, sold, cat, held := atoi(r[1]), atoi(r[2]), atoi(r[3]), atoi(r[4])
			good := stock >= 0 && initial[r[0]] == stock+sold && sold == cat
			ok = ok && good
			mark := ""
			if !good {
				mark = " MISMATCH"
			}
			parts = append(parts, fmt.Sprintf("initial %d = stock %d + confirmed %d (catalog %d, held %d)%s", initial[r[0]], stock, sold, cat, held, mark))
		}
		add("1 no oversell", ok, "%s", strings.Join(parts, "; "))
	}

	// Confirmed orders of this run, from the database.
	confirmed := map[string]string{} // order id -> email
	perEmail := map[string]int{}
	rows, err = dc.psql(ctx, fmt.Sprintf(`SELECT id, email FROM orders.orders WHERE status = 'confirmed' AND email LIKE 'soak-%s-%%'`, runID))
	if err != nil {
		add("2 no duplicate order", false, "query: %v", err)
		add("3 no lost order", false, "query: %v", err)
	} else {
		for _, r := range rows {
			confirmed[r[0]] = r[1]
			perEmail[r[1]]++
		}
		// 2. At most one confirmed order per key, and every 201 under one
		// key named the same order.
		dupDB, dupClient := 0, 0
		for _, n := range perEmail {
			if n > 1 {
				dupDB++
			}
		}
		replays := 0
		for _, o := range rec.orders {
			for _, id := range o.orderIDs[min(1, len(o.orderIDs)):] {
				replays++
				if id != o.orderIDs[0] {
					dupClient++
				}
			}
		}
		keys, _ := dc.psql(ctx, fmt.Sprintf(`SELECT count(*), count(DISTINCT k.order_id) FROM orders.idempotency_keys k JOIN orders.orders o ON o.id = k.order_id WHERE o.email LIKE 'soak-%s-%%'`, runID))
		add("2 no duplicate order", dupDB == 0 && dupClient == 0,
			"%d keys with more than one confirmed order; %d of %d replayed 201s named another order; keys table %v",
			dupDB, dupClient, replays, keys)

		// 3. Every 201 the client got is a confirmed order.
		lost, got := 0, 0
		var lostIDs []string
		for _, o := range rec.orders {
			if len(o.orderIDs) == 0 {
				continue
			}
			got++
			if _, ok := confirmed[o.orderIDs[0]]; !ok {
				lost++
				lostIDs = append(lostIDs, o.orderIDs[0])
			}
		}
		add("3 no lost order", lost == 0, "%d orders answered 201, %d missing or not confirmed %v; %d confirmed in the database (%d without a 201 the client saw: it gave up first)",
			got, lost, firstN(lostIDs, 5), len(confirmed), len(confirmed)-got+lost)
	}

	// 4. No stuck reservation: quiet within the bound, nothing held now,
	// and how late the sweeper released expired reservations.
	rows, err = dc.psql(ctx, unsettledSQL(products, runID))
	late, _ := dc.psql(ctx, fmt.Sprintf(`SELECT count(*), coalesce(round(max(extract(epoch FROM r.updated_at - r.expires_at))::numeric, 1), 0)
FROM catalog.reservations r WHERE r.status = 'released' AND r.updated_at > r.expires_at
  AND EXISTS (SELECT 1 FROM catalog.reservation_items i WHERE i.order_id = r.order_id AND i.product_id IN (%s))`, productList(products)))
	if err != nil || len(rows) != 1 {
		add("4 no stuck reservation", false, "query: %v", err)
	} else {
		ok := quietErr == nil && rows[0][0] == "0" && rows[0][1] == "0"
		detail := fmt.Sprintf("quiet %s after the load (bound %s); now %s reservations held, %s orders unsettled",
			quietIn.Round(time.Second), cfg.settle, rows[0][0], rows[0][1])
		if len(late) == 1 {
			detail += fmt.Sprintf("; %s reservations released after expiry, at most %ss late", late[0][0], late[0][1])
		}
		if quietErr != nil {
			detail += "; " + quietErr.Error()
		}
		add("4 no stuck reservation", ok, "%s", detail)
	}

	// 5. Bounded failure.
	st := classify(cfg, rec)
	ok5 := st.outside == 0 && st.server500 == 0 && st.bad4xx == 0 && st.no503RetryAfter == 0
	if cfg.strict {
		ok5 = ok5 && st.insideNon503 == 0
	}
	add("5 bounded failure", ok5,
		"%d failures inside fault windows (%d of them 503, %d other: %s; slowest 503 %s), %d outside%s; %d 500s; %d unexpected 4xx%s; %d 503s without Retry-After",
		st.inside, st.inside503, st.insideNon503, st.insideKinds(), st.slowest503.Round(time.Millisecond),
		st.outside, st.outsideExamples(), st.server500, st.bad4xx, st.bad4xxExamples(), st.no503RetryAfter)
	return res
}

type failureStats struct {
	inside, inside503, insideNon503, outside, server500, bad4xx, no503RetryAfter int
	insideByKind                                                                 map[string]int
	outsideEx, bad4xxEx                                                          []string
	slowest503                                                                   time.Duration
}

func (s failureStats) insideKinds() string {
	if len(s.insideByKind) == 0 {
		return "none"
	}
	var parts []string
	for k, n := range s.insideByKind {
		parts = append(parts, fmt.Sprintf("%s×%d", k, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func (s failureStats) outsideExamples() string {
	if len(s.outsideEx) == 0 {
		return ""
	}
	return " (" + strings.Join(s.outsideEx, "; ") + ")"
}

func (s failureStats) bad4xxExamples() string {
	if len(s.bad4xxEx) == 0 {
		return ""
	}
	return " (" + strings.Join(s.bad4xxEx, "; ") + ")"
}

// inWindow reports whether a request overlapped a fault window (plus grace).
func inWindow(cfg config, rec *record, s sample) bool {
	end := s.start.Add(s.latency)
	for _, w := range rec.faults {
		if !end.Before(w.start) && !s.start.After(w.end.Add(cfg.grace)) {
			return true
		}
	}
	return false
}

func isFailure(s sample) bool {
	return s.status == 0 || s.status >= 500
}

// expected4xx are answers a correct client gets: out of stock, and a
// concurrent duplicate of its own order while the first is in progress.
func expected4xx(s sample) bool {
	return s.kind == "order" && s.status == 409
}

func classify(cfg config, rec *record) failureStats {
	st := failureStats{insideByKind: map[string]int{}}
	for _, s := range rec.samples {
		if s.status == 503 && !s.retryAfter {
			st.no503RetryAfter++
		}
		if s.status >= 400 && s.status < 500 && !expected4xx(s) {
			st.bad4xx++
			if len(st.bad4xxEx) < 5 {
				st.bad4xxEx = append(st.bad4xxEx, fmt.Sprintf("%s %d %s at +%s", s.kind, s.status, s.problem, s.start.Sub(rec.start).Round(time.Second)))
			}
		}
		if !isFailure(s) {
			continue
		}
		if s.status == 500 {
			st.server500++
		}
		label := strconv.Itoa(s.status)
		if s.status == 0 {
			label = "network"
			if strings.Contains(s.err, "Timeout") || strings.Contains(s.err, "deadline") {
				label = "timeout"
			}
		}
		if inWindow(cfg, rec, s) {
			st.inside++
			if s.status == 503 {
				st.inside503++
				st.slowest503 = max(st.slowest503, s.latency)
			} else {
				st.insideNon503++
				st.insideByKind[s.kind+" "+label]++
			}
		} else {
			st.outside++
			if len(st.outsideEx) < 5 {
				st.outsideEx = append(st.outsideEx, fmt.Sprintf("%s %s at +%s: %.80s", s.kind, label, s.start.Sub(rec.start).Round(time.Second), s.err))
			}
		}
	}
	return st
}

func printSummary(w io.Writer, cfg config, rec *record, res results) {
	fmt.Fprintf(w, "\nSOAK SUMMARY  base %s, rate %d ops/s, duration %s, fault every %s, grace %s\n\n",
		cfg.baseURL, cfg.rate, cfg.duration, cfg.faultEvery, cfg.grace)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\trequests\t2xx\t409\t503\tother err\tp50 out\tp99 out\tp50 in\tp99 in\t")
	kinds := []string{"browse", "list", "product", "order", "all"}
	for _, k := range kinds {
		var n, ok, c409, c503, other int
		var out, in vegeta.Metrics
		for _, s := range rec.samples {
			if k != "all" && s.kind != k {
				continue
			}
			n++
			switch {
			case statusOK(s.status):
				ok++
			case s.status == 409:
				c409++
			case s.status == 503:
				c503++
			default:
				other++
			}
			r := &vegeta.Result{Code: uint16(s.status), Latency: s.latency, Timestamp: s.start}
			if inWindow(cfg, rec, s) {
				in.Add(r)
			} else {
				out.Add(r)
			}
		}
		out.Close()
		in.Close()
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t\n", k, n, ok, c409, c503, other,
			ms(out.Latencies.P50), ms(out.Latencies.P99), ms(in.Latencies.P50), ms(in.Latencies.P99))
	}
	_ = tw.Flush()

	var created, oos, gaveUp, retried int
	for _, o := range rec.orders {
		switch {
		case len(o.orderIDs) > 0:
			created++
		case o.final == 409 && o.problem == "/problems/out-of-stock":
			oos++
		default:
			gaveUp++
		}
		if o.attempts > 1 {
			retried++
		}
	}
	fmt.Fprintf(w, "\norders: %d placed, %d confirmed (201), %d out of stock, %d failed after retries, %d needed a retry; %d ticks dropped (client saturated)\n",
		len(rec.orders), created, oos, gaveUp, retried, rec.dropped)

	fmt.Fprintln(w, "\nfault windows (offset from start, length):")
	for _, f := range rec.faults {
		e := ""
		if f.err != "" {
			e = "  ERROR " + f.err
		}
		if f.note != "" {
			e = ": " + f.note + e
		}
		fmt.Fprintf(w, "  %-17s +%-6s %s%s\n", f.name, f.start.Sub(rec.start).Round(time.Second), f.end.Sub(f.start).Round(100*time.Millisecond), e)
	}

	fmt.Fprintf(w, "\nevent lag (order confirmed -> shipment committed, faults included): %s\n", res.lag)
	fmt.Fprintf(w, "duplicate deliveries shipping recognised: %s\n", res.duplicates)

	fmt.Fprintln(w, "\ninvariants:")
	for _, inv := range res.invariants {
		mark := "PASS"
		if !inv.ok {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %s  %s: %s\n", mark, inv.name, inv.detail)
	}
	if res.allOK() {
		fmt.Fprintln(w, "\nsoak: all invariants hold")
	} else {
		fmt.Fprintln(w, "\nsoak: INVARIANT FAILED")
	}
}

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + "ms"
}

func atoi(s string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(s))
	return n
}

func firstN(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
