package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// budgetTracingRatio is the tracing budget: at 10 % sampling a request costs
// the services at most 10 % more CPU than with telemetry off (held end to
// end, see tracingEndToEnd).
const budgetTracingRatio = 1.10

// tracingModes are the sub-benchmarks of oteltest.BenchTracing, in the
// order they run (a test holds them to oteltest.Samplings).
var tracingModes = []string{"off", "ratio-0.1", "ratio-1"}

// tracingBenches are the benchmarks the "Tracing cost" rows come from.
var tracingBenches = []struct{ pkg, name, what string }{
	{"./apps/catalog/internal/web", "BenchmarkTracingGetProduct", "read path, GET a product (catalog handler, fake store)"},
	{"./apps/catalog/internal/web", "BenchmarkTracingListProducts", "read path, GET the product list, 20 products (catalog handler, fake store)"},
	{"./apps/orders/internal/web", "BenchmarkTracingPlaceOrder", "write path, POST /api/orders (orders handler, fake store and catalog)"},
}

// tracing measures what telemetry costs a request: each benchmark with
// telemetry off, at 10 % and at 100 % sampling, spans exported over
// OTLP/HTTP to a local receiver. Every mode runs in a process of its own
// (the otel globals bind for good to the first provider a process sets),
// modes interleaved run after run so drift hits them alike; the run with
// the median CPU per request is shown.
func (b *bench) tracing(ctx context.Context, root string) error {
	var log io.Writer = io.Discard
	if b.cfg.verbose {
		log = os.Stderr
	}
	for _, tb := range tracingBenches {
		logf("tracing cost: %s, %d run(s) of each mode", tb.name, b.cfg.runs)
		runs := map[string][]GoBench{}
		for i := 0; i < b.cfg.runs; i++ {
			for _, mode := range tracingModes {
				r, err := runGoBench(ctx, root, []string{tb.pkg}, "^"+tb.name+"$/^"+mode+"$", b.cfg.benchtime, log)
				if err != nil {
					return err
				}
				if len(r) != 1 {
					return fmt.Errorf("go test -bench %s/%s %s: got %d results, want 1", tb.name, mode, tb.pkg, len(r))
				}
				runs[mode] = append(runs[mode], r[0])
			}
		}
		off, tenth, all := medianCPU(runs["off"]), medianCPU(runs["ratio-0.1"]), medianCPU(runs["ratio-1"])
		// No budget here: a handler in memory costs 20 to 80 µs, a tenth
		// of what the same request costs a service, so the same
		// telemetry weighs several times more. The budget is held end to
		// end (tracingEndToEnd); these rows show where the cost is.
		b.table.Add("Tracing cost in memory, "+tb.what+": telemetry off / 10 % / 100 % sampled, OTLP/HTTP export (go test -bench, CPU of the whole process per request)",
			strings.Join([]string{
				"off " + tracingResult(off),
				"10 % " + tracingResult(tenth) + fmt.Sprintf(" = %.2f × off", ratio(tenth.CPUNsPerOp, off.CPUNsPerOp)),
				"100 % " + tracingResult(all) + fmt.Sprintf(" = %.2f × off", ratio(all.CPUNsPerOp, off.CPUNsPerOp)),
			}, "; "))
	}
	return nil
}

func tracingResult(g GoBench) string {
	return fmt.Sprintf("%s ns/op, %s ns CPU/req, %d allocs/op, %.2f spans exported/req",
		thousands(int64(g.NsPerOp+0.5)), thousands(int64(g.CPUNsPerOp+0.5)), g.AllocsPerOp, g.SpansPerOp)
}

// medianCPU is the run with the median CPU per operation.
func medianCPU(runs []GoBench) GoBench {
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b GoBench) int { return cmp.Compare(a.CPUNsPerOp, b.CPUNsPerOp) })
	return sorted[len(sorted)/2]
}
