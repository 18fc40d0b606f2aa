package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fargateshop/shop/systemtest/harness"
)

// e2eModes are the telemetry settings the end-to-end tracing cost compares:
// no endpoint (the services' default), and 10 % and 100 % of new traces
// sampled, every service exporting traces and metrics to the bench's OTLP
// sink.
var e2eModes = []struct {
	name  string
	ratio float64 // <0: telemetry off
}{{"off", -1}, {"10 %", 0.1}, {"100 %", 1}}

// e2ePaths are the loads of the comparison and the services each crosses.
var e2ePaths = []struct {
	name     string
	services []string
}{
	{"read path, GET /api/catalog/products via edge", []string{"edge", "catalog"}},
	{"write path, POST /api/orders via edge", []string{"edge", "orders", "catalog"}},
}

// tracingEndToEnd measures what telemetry costs the services under load:
// the services started once per mode and run (modes interleaved run by run,
// each run beginning with the next mode), each start loaded with the read and the write
// path at their fixed rates, CPU per request read per process. The sink
// runs in the bench process, so no collector's work shares the services'
// cores unmeasured; PostgreSQL, which telemetry does not touch, is shown as
// the control.
func (b *bench) tracingEndToEnd(ctx context.Context, bins map[string]string, dsn string) error {
	sink, err := startOTLPSink()
	if err != nil {
		return err
	}
	defer sink.Close()
	runs := map[string][2]Series{}
	for i := 0; i < b.cfg.runs; i++ {
		// Each run starts with the next mode: the shared database grows
		// with every order, and no mode is always the first or the last.
		for j := range e2eModes {
			m := e2eModes[(i+j)%len(e2eModes)]
			if err := ctx.Err(); err != nil {
				return err
			}
			logf("tracing cost end to end: telemetry %s, run %d of %d", m.name, i+1, b.cfg.runs)
			r, err := b.loadWithTelemetry(ctx, bins, dsn, telemetryEnv(m.ratio, sink.URL))
			if err != nil {
				return fmt.Errorf("telemetry %s: %w", m.name, err)
			}
			s := runs[m.name]
			s[0], s[1] = append(s[0], r[0]), append(s[1], r[1])
			runs[m.name] = s
		}
	}
	logf("tracing cost end to end: the OTLP sink received %s bytes of exports", thousands(sink.bytes.Load()))
	for p, path := range e2ePaths {
		var cells []string
		var off, tenth time.Duration
		for _, m := range e2eModes {
			total := runs[m.name][p].Total()
			cpu := total.CPUPerRequest(path.services...)
			cell := m.name + " " + cpuShares(total, path.services...)
			if m.ratio < 0 {
				off = cpu
			} else {
				cell += fmt.Sprintf(": services %.2f × off", ratio(cpu.Seconds(), off.Seconds()))
			}
			if m.ratio == 0.1 {
				tenth = cpu
			}
			cells = append(cells, cell)
		}
		r := ratio(tenth.Seconds(), off.Seconds())
		b.table.Check("Tracing cost end to end, "+path.name+": CPU per request with telemetry off / 10 % / 100 % sampled, exported over OTLP/HTTP (all runs)",
			strings.Join(cells, "; "),
			fmt.Sprintf("10 %%: services ≤ %.2f × off", budgetTracingRatio), off > 0 && tenth > 0 && r <= budgetTracingRatio)
	}
	return nil
}

// telemetryEnv is every service's telemetry settings for a mode.
func telemetryEnv(ratio float64, sinkURL string) map[string]string {
	if ratio < 0 {
		return map[string]string{}
	}
	return map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": sinkURL,
		"OTEL_TRACES_SAMPLER":         "parentbased_traceidratio",
		"OTEL_TRACES_SAMPLER_ARG":     strconv.FormatFloat(ratio, 'f', -1, 64),
	}
}

// loadWithTelemetry starts the four services with telemetry's env added,
// loads the read and then the write path, and stops them.
func (b *bench) loadWithTelemetry(ctx context.Context, bins map[string]string, dsn string, telemetry map[string]string) (_ [2]Result, err error) {
	env := map[string]map[string]string{}
	for _, name := range harness.Services {
		env[name] = map[string]string{}
		for k, v := range telemetry {
			env[name][k] = v
		}
	}
	for k, v := range catalogEnv() {
		env["catalog"][k] = v
	}
	sys, err := harness.Start(ctx, harness.Options{DatabaseURL: dsn, Binaries: bins, Env: env})
	if err != nil {
		return [2]Result{}, err
	}
	defer func() {
		if cerr := sys.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("stop services: %w", cerr)
		}
	}()
	// prepare points these at the system started here; the bench's own
	// system gets them back.
	prev := *b
	b.sys, b.productIDs = sys, nil
	defer func() {
		b.sys, b.productID, b.productIDs, b.productJSON, b.orderPath = prev.sys, prev.productID, prev.productIDs, prev.productJSON, prev.orderPath
	}()
	if err := b.prepare(ctx); err != nil {
		return [2]Result{}, err
	}
	pids := map[string]int{}
	for _, name := range harness.Services {
		pids[name] = sys.PID(name)
	}
	read := getLoad("read", sys.EdgeURL+"/api/catalog/products")
	write := b.orderLoad()
	out := [2]Result{
		metered(pids, func() Result { return FixedRate(read, b.cfg.readRate, b.cfg.readDur) }),
		metered(pids, func() Result { return FixedRate(write, b.cfg.writeRate, b.cfg.writeDur) }),
	}
	for i, r := range out {
		if r.OK != r.Requests {
			return out, fmt.Errorf("%s: %d of %d requests failed", e2ePaths[i].name, r.Requests-r.OK, r.Requests)
		}
	}
	return out, nil
}
