// Command bench measures the shop on this machine and prints one table
// (docs/performance.md): the catalog against floors that do its product
// read by hand (floor.go), the edge's overhead, the read and write paths at
// fixed rates, the event lag from an order's confirmation to its shipment
// through the local broker, start-up, memory, sizes and allocations, each
// next to its budget. It starts everything it measures on 127.0.0.1
// against a database it creates on TEST_DATABASE_URL (or DATABASE_URL)
// and drops afterwards.
//
//	go run ./bench            # what `make bench` runs (about 5 minutes)
//	go run ./bench -quick     # one short run of everything (about 2 minutes)
//
// Budgets are reported, never asserted: a miss is flagged in the table and
// the command still exits 0, because a benchmark on a shared 2-core machine
// is evidence, not a test.
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/fargateshop/shop/systemtest/harness"
)

// Budgets of issues 6 and 11, on a 2-core machine.
const (
	budgetFloorRatio   = 0.8                    // catalog vs the bare floor doing its work: CPU/req over the network, ns/op in memory
	budgetEdgeRatio    = 0.7                    // edge throughput vs direct
	budgetEdgeAddedP99 = time.Millisecond       // edge's added p99 at the comparison rate
	budgetReadP99      = 10 * time.Millisecond  // read path at 1,000 req/s
	budgetWriteP99     = 30 * time.Millisecond  // write path at 200 req/s
	budgetStartup      = 150 * time.Millisecond // exec to ready
	budgetIdleRSSMiB   = 25
	budgetLoadRSSMiB   = 64
	budgetImageMB      = 20
)

type config struct {
	runs        int
	workers     int           // closed-loop concurrency for saturation
	satDur      time.Duration // each saturation run
	cmpRate     int           // fixed rate of the floor/direct/edge p99 comparison
	cmpDur      time.Duration
	readRate    int
	readDur     time.Duration
	writeRate   int
	writeDur    time.Duration
	eventsRate  int
	eventsDur   time.Duration
	benchtime   string // go test -benchtime
	skipGoBench bool
	out         string // also write the table here
	verbose     bool
	only        map[string]bool // sections to run; all when empty
}

// sections of the run, for -only.
var sections = []string{"cmp", "read", "write", "events", "startup", "size", "alloc", "tracing", "tracing-e2e"}

func (c config) want(section string) bool { return len(c.only) == 0 || c.only[section] }

func main() {
	if len(os.Args) > 1 && os.Args[1] == "floor" {
		if err := serveFloor(); err != nil {
			fmt.Fprintln(os.Stderr, "bench floor:", err)
			os.Exit(1)
		}
		return
	}
	var cfg config
	quick := flag.Bool("quick", false, "one short run of everything (about 2 minutes) instead of the median of 3")
	flag.IntVar(&cfg.runs, "runs", 3, "runs per measurement; the table shows the median run")
	flag.IntVar(&cfg.workers, "workers", 32, "requests in flight during the saturation (closed-loop) runs")
	flag.DurationVar(&cfg.satDur, "sat", 4*time.Second, "duration of each saturation run")
	flag.IntVar(&cfg.cmpRate, "cmp-rate", 1000, "fixed rate (req/s) of the floor/direct/edge latency comparison")
	flag.DurationVar(&cfg.cmpDur, "cmp", 5*time.Second, "duration of each comparison run")
	flag.IntVar(&cfg.readRate, "read-rate", 1000, "read path rate (req/s)")
	flag.DurationVar(&cfg.readDur, "read", 15*time.Second, "duration of each read path run")
	flag.IntVar(&cfg.writeRate, "write-rate", 200, "write path rate (req/s)")
	flag.DurationVar(&cfg.writeDur, "write", 15*time.Second, "duration of each write path run")
	flag.IntVar(&cfg.eventsRate, "events-rate", 200, "orders per second of the event lag runs")
	flag.DurationVar(&cfg.eventsDur, "events", 15*time.Second, "duration of each event lag run")
	flag.StringVar(&cfg.benchtime, "benchtime", "1s", "go test -benchtime for the allocation benchmarks")
	flag.BoolVar(&cfg.skipGoBench, "skip-gobench", false, "skip the go test -bench allocation benchmarks")
	flag.StringVar(&cfg.out, "out", "", "also write the table to this file")
	flag.BoolVar(&cfg.verbose, "v", false, "copy the services' logs to stderr")
	only := flag.String("only", "", "comma-separated sections to run, of: "+strings.Join(sections, ","))
	flag.Parse()
	if *only != "" {
		cfg.only = map[string]bool{}
		for _, s := range strings.Split(*only, ",") {
			if !slices.Contains(sections, s) {
				fmt.Fprintf(os.Stderr, "bench: unknown section %q in -only; sections: %s\n", s, strings.Join(sections, ","))
				os.Exit(2)
			}
			cfg.only[s] = true
		}
	}
	if *quick {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		def := func(name string, apply func()) {
			if !set[name] {
				apply()
			}
		}
		def("runs", func() { cfg.runs = 1 })
		def("sat", func() { cfg.satDur = 2 * time.Second })
		def("cmp", func() { cfg.cmpDur = 3 * time.Second })
		def("read", func() { cfg.readDur = 5 * time.Second })
		def("write", func() { cfg.writeDur = 5 * time.Second })
		def("events", func() { cfg.eventsDur = 5 * time.Second })
		def("benchtime", func() { cfg.benchtime = "200ms" })
	}
	if cfg.runs < 1 || cfg.workers < 1 {
		fmt.Fprintln(os.Stderr, "bench: -runs and -workers must be at least 1")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	loadBefore := loadAvg()
	if v, err := strconv.ParseFloat(loadBefore, 64); err == nil && v > 1 {
		logf("warning: load average %s before starting; other work on this machine will skew the numbers", loadBefore)
	}
	table, database, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	var buf bytes.Buffer
	table.Markdown(&buf)
	fmt.Fprintf(&buf, "\n%s; %s; services run as processes on the host, not in containers; "+
		"1-minute load average %s before, %s after (above %d, other work shared the cores); %d run(s) per measurement, median shown; total %s.\n",
		machine(), database, loadBefore, loadAvg(), runtime.NumCPU(), cfg.runs, time.Since(start).Round(time.Second))
	if m := table.Misses(); len(m) > 0 {
		fmt.Fprintf(&buf, "%d of %d budgets met; missed: %s.\n", table.Budgets()-len(m), table.Budgets(), strings.Join(m, "; "))
	} else {
		fmt.Fprintf(&buf, "All %d budgets met.\n", table.Budgets())
	}
	fmt.Print("\n" + buf.String())
	if cfg.out != "" {
		if err := os.WriteFile(cfg.out, buf.Bytes(), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// run measures everything and returns the table and what the database
// server was.
func run(ctx context.Context, cfg config) (_ *Table, database string, _ error) {
	root, err := harness.RepoRoot()
	if err != nil {
		return nil, "", err
	}
	tmp, err := os.MkdirTemp("", "shop-bench-")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(tmp)

	logf("building the services")
	bins, err := harness.Build(ctx, filepath.Join(tmp, "bin"))
	if err != nil {
		return nil, "", err
	}
	dsn, drop, err := harness.CreateDatabase(ctx, "")
	if err != nil {
		return nil, "", err
	}
	defer func() {
		if err := drop(context.WithoutCancel(ctx)); err != nil {
			logf("drop database: %v", err)
		}
	}()
	database = describeDatabase(ctx, dsn)

	b := &bench{cfg: cfg, table: &Table{}, dsn: dsn, logDir: tmp}
	// The sections that load the running services; the others (sizes,
	// in-memory benchmarks) need none, so -only alloc,tracing starts none.
	if cfg.want("cmp") || cfg.want("read") || cfg.want("write") || cfg.want("events") || cfg.want("startup") {
		if err := b.loadSystem(ctx, root, tmp, bins, dsn); err != nil {
			return nil, "", err
		}
	}
	if cfg.want("size") {
		b.section("Sizes", b.sizes(ctx, root, bins, filepath.Join(tmp, "image-bin")))
	}
	if !cfg.skipGoBench && cfg.want("alloc") {
		b.section("Allocations", b.allocations(ctx, root))
	}
	if !cfg.skipGoBench && cfg.want("tracing") {
		b.section("Tracing cost", b.tracing(ctx, root))
	}
	if cfg.want("tracing-e2e") {
		b.section("Tracing cost end to end", b.tracingEndToEnd(ctx, bins, dsn))
	}
	return b.table, database, nil
}

// loadSystem starts the four services (and, for the events section, the
// broker and shipping) and runs the sections that load them.
func (b *bench) loadSystem(ctx context.Context, root, tmp string, bins map[string]string, dsn string) error {
	opts := harness.Options{DatabaseURL: dsn, Binaries: bins, Env: serviceEnv()}
	if b.cfg.verbose {
		opts.Output = os.Stderr
	}
	// With the broker up, orders' relay publishes during every section that
	// places orders, as it does in the shop: the write path is measured
	// with its outbox work included.
	var ev *eventSystem
	if b.cfg.want("events") {
		logf("building and starting the broker and shipping")
		shipping, err := harness.Build(ctx, filepath.Join(tmp, "bin"), "shipping")
		if err != nil {
			return err
		}
		if ev, err = startBroker(ctx, root, tmp); err != nil {
			return err
		}
		defer ev.Close()
		for k, v := range ev.ordersEnv() {
			opts.Env["orders"][k] = v
		}
		if err := ev.startShipping(ctx, shipping["shipping"], dsn, filepath.Join(tmp, "shipping.log")); err != nil {
			return err
		}
	}
	logf("starting catalog, orders, web and edge")
	sys, err := harness.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer sys.Close()
	b.sys = sys
	if err := b.measure(ctx); err != nil {
		return err
	}
	if ev != nil {
		b.section("Event lag", b.events(ctx))
	}
	// Start-up against the same, already migrated database, with the
	// running system as the dependencies: a service's normal restart. A
	// fresh database adds the migrations once.
	// A section that fails after the load runs (a tree that no longer
	// builds, say) costs its own rows, not the table measured so far.
	if b.cfg.want("startup") {
		b.section("Start-up", b.startups(ctx, bins, dsn))
	}
	if err := sys.Close(); err != nil {
		logf("stop services: %v", err)
	}
	return nil
}

type bench struct {
	cfg    config
	sys    *harness.System
	table  *Table
	dsn    string // the bench's database
	logDir string // where the floors write their logs

	productID   string
	productJSON []byte
	productIDs  []string
	orderPath   string // Location of an order placed by the bench
	idleRSS     map[string]int
	loadRSS     map[string]int
}

// section records that a section of the run failed: a row in the table
// and the whole error in the log.
func (b *bench) section(name string, err error) {
	if err == nil {
		return
	}
	logf("%s: %v", name, err)
	first, _, _ := strings.Cut(err.Error(), "\n")
	b.table.Check(name, "n/a: "+first, "runs", false)
}

// catalogEnv is what bench adds to the catalog's environment: the demo
// products to read, and the pool size the database floor gets too.
func catalogEnv() map[string]string {
	return map[string]string{"DEMO_DATA": "true", "DB_MAX_CONNS": strconv.Itoa(catalogMaxConns)}
}

// serviceEnv is what the loaded services get besides the harness's own
// settings: catalog's, and every OTEL_* variable of the bench's environment,
// so the same run measures the services with tracing on, e.g.
//
//	OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 \
//	OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.1 \
//	scripts/bench.sh -only read,write
func serviceEnv() map[string]map[string]string {
	env := map[string]map[string]string{}
	for _, name := range harness.Services {
		env[name] = map[string]string{}
	}
	for k, v := range catalogEnv() {
		env["catalog"][k] = v
	}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "OTEL_") {
			for name := range env {
				env[name][k] = v
			}
		}
	}
	return env
}

// startFloor starts a floor that logs to a file, as the harness's services
// do: the kernel writes it, so the load generator is not charged for it.
func (b *bench) startFloor(ctx context.Context, name string, vars map[string]string) (*floorProcess, error) {
	logs, err := os.Create(filepath.Join(b.logDir, name+".log"))
	if err != nil {
		return nil, err
	}
	defer logs.Close() // the floor has its own copy of the descriptor
	return startFloor(ctx, vars, logs)
}

// measure runs every load measurement against the running system.
func (b *bench) measure(ctx context.Context) error {
	if err := b.prepare(ctx); err != nil {
		return err
	}
	time.Sleep(time.Second) // let start-up garbage settle before "idle"
	b.idleRSS = map[string]int{}
	for _, name := range harness.Services {
		kb, err := rssKB(b.sys.PID(name))
		if err != nil {
			return fmt.Errorf("rss of %s: %w", name, err)
		}
		b.idleRSS[name] = kb
	}

	if b.cfg.want("cmp") {
		if err := b.compare(ctx); err != nil {
			return err
		}
	}
	if !b.cfg.want("read") && !b.cfg.want("write") {
		return nil
	}

	pids := map[string]int{}
	for _, name := range harness.Services {
		pids[name] = b.sys.PID(name)
	}
	sampler := sampleRSS(pids, 100*time.Millisecond)
	var read, write Series
	readLoad := getLoad("read", b.sys.EdgeURL+"/api/catalog/products")
	for i := 0; i < b.cfg.runs && b.cfg.want("read"); i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		logf("read path, run %d of %d", i+1, b.cfg.runs)
		read = append(read, metered(pids, func() Result { return FixedRate(readLoad, b.cfg.readRate, b.cfg.readDur) }))
	}
	writeLoad := b.orderLoad()
	for i := 0; i < b.cfg.runs && b.cfg.want("write"); i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		logf("write path, run %d of %d", i+1, b.cfg.runs)
		write = append(write, metered(pids, func() Result { return FixedRate(writeLoad, b.cfg.writeRate, b.cfg.writeDur) }))
	}
	b.loadRSS = sampler.Stop()

	if len(read) > 0 {
		r, ok := read.MedianP99()
		b.table.Check(fmt.Sprintf("Read path: GET /api/catalog/products via edge, %s req/s × %s", thousands(int64(b.cfg.readRate)), b.cfg.readDur),
			latencies(r, ok), "p99 ≤ 10 ms, 100% ok", r.P99 <= budgetReadP99 && ok == 1)
		b.table.Add("CPU per request, read path (all runs)", cpuShares(read.Total(), "edge", "catalog"))
		logRun("read", read)
	}
	if len(write) > 0 {
		w, ok := write.MedianP99()
		b.table.Check(fmt.Sprintf("Write path: POST /api/orders via edge, %s req/s × %s", thousands(int64(b.cfg.writeRate)), b.cfg.writeDur),
			latencies(w, ok), "p99 ≤ 30 ms, 100% ok", w.P99 <= budgetWriteP99 && ok == 1)
		b.table.Add("CPU per request, write path (all runs)", cpuShares(write.Total(), "edge", "orders", "catalog"))
		logRun("write", write)
	}
	for _, name := range harness.Services {
		idle, load := b.idleRSS[name], b.loadRSS[name]
		b.table.Check(fmt.Sprintf("RSS %s idle", name), mib(int64(idle)*1024), "≤ 25 MiB", idle <= budgetIdleRSSMiB*1024)
		b.table.Check(fmt.Sprintf("RSS %s peak under read + write load", name), mib(int64(load)*1024), "≤ 64 MiB", load <= budgetLoadRSSMiB*1024)
	}
	return nil
}

// compare measures the catalog's product read against the floors
// (floor.go) and through the edge, at saturation and at a fixed rate.
func (b *bench) compare(ctx context.Context) error {
	memory, err := b.startFloor(ctx, "floor-memory", map[string]string{floorProductEnv: string(b.productJSON)})
	if err != nil {
		return err
	}
	defer memory.Close()
	dbFloor, err := b.startFloor(ctx, "floor-database", map[string]string{floorDatabaseEnv: b.dsn,
		floorMaxConnsEnv: strconv.Itoa(catalogMaxConns)})
	if err != nil {
		return err
	}
	defer dbFloor.Close()
	path := "/api/catalog/products/" + b.productID
	memoryLoad := getLoad("memory floor", memory.URL+path)
	floorLoad := getLoad("database floor", dbFloor.URL+path)
	directLoad := getLoad("direct", b.sys.CatalogURL+path)
	edgeLoad := getLoad("edge", b.sys.EdgeURL+path)
	for _, f := range []string{memory.URL, dbFloor.URL} {
		if err := sameBody(ctx, f+path, b.sys.CatalogURL+path); err != nil {
			return err
		}
	}
	for _, l := range []Load{memoryLoad, floorLoad, directLoad, edgeLoad} {
		if r := FixedRate(l, 500, time.Second); r.OK != r.Requests { // warm-up: connections, pools, caches
			return fmt.Errorf("warm-up of %s: %d of %d failed, first: %s", l.Name, r.Requests-r.OK, r.Requests, r.FirstError)
		}
	}

	memoryPID := map[string]int{"floor": memory.PID()}
	floorPID := map[string]int{"floor": dbFloor.PID()}
	directPID := map[string]int{"catalog": b.sys.PID("catalog")}
	edgePID := map[string]int{"catalog": b.sys.PID("catalog"), "edge": b.sys.PID("edge")}
	var c comparison
	for i := 0; i < b.cfg.runs; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Interleaved, so drift on the machine hits all of them alike.
		logf("saturation and %d req/s comparison, run %d of %d", b.cfg.cmpRate, i+1, b.cfg.runs)
		sat := func(pids map[string]int, l Load) Result {
			return metered(pids, func() Result { return MaxRate(l, b.cfg.workers, b.cfg.satDur) })
		}
		fix := func(pids map[string]int, l Load) Result {
			return metered(pids, func() Result { return FixedRate(l, b.cfg.cmpRate, b.cfg.cmpDur) })
		}
		c.satMemory = append(c.satMemory, sat(memoryPID, memoryLoad))
		c.satFloor = append(c.satFloor, sat(floorPID, floorLoad))
		c.satDirect = append(c.satDirect, sat(directPID, directLoad))
		c.satEdge = append(c.satEdge, sat(edgePID, edgeLoad))
		c.fixFloor = append(c.fixFloor, fix(floorPID, floorLoad))
		c.fixDirect = append(c.fixDirect, fix(directPID, directLoad))
		c.fixEdge = append(c.fixEdge, fix(edgePID, edgeLoad))
	}
	b.comparisons(c)
	return nil
}

// comparison holds the runs of compare.
type comparison struct {
	satMemory, satFloor, satDirect, satEdge Series
	fixFloor, fixDirect, fixEdge            Series
}

func logRun(name string, s Series) {
	for i, r := range s {
		logf("%s run %d: %d requests, %d ok, %s, p50 %s p90 %s p99 %s, codes %v, cpu %v %s",
			name, i+1, r.Requests, r.OK, rps(r.Throughput), ms(r.P50), ms(r.P90), ms(r.P99), r.Codes, r.CPU, r.FirstError)
	}
}

// cpuShares formats the CPU time per request of each named process, then
// PostgreSQL's and the load generator's when measured, and their sum: on
// one machine, throughput at saturation is about its cores divided by
// that sum.
func cpuShares(r Result, names ...string) string {
	var parts []string
	var sum time.Duration
	add := func(label, name string) {
		if _, ok := r.CPU[name]; !ok {
			return
		}
		t := r.CPUPerRequest(name)
		sum += t
		parts = append(parts, label+" "+us(t))
	}
	for _, n := range names {
		add(n, n)
	}
	add("PostgreSQL", cpuPostgres)
	add("load generator", cpuLoad)
	return strings.Join(parts, " + ") + " = " + us(sum) + " CPU/req"
}

func (b *bench) comparisons(c comparison) {
	for _, s := range []struct {
		name string
		s    Series
	}{{"saturation memory floor", c.satMemory}, {"saturation database floor", c.satFloor},
		{"saturation direct", c.satDirect}, {"saturation edge", c.satEdge},
		{"fixed database floor", c.fixFloor}, {"fixed direct", c.fixDirect}, {"fixed edge", c.fixEdge}} {
		logRun(s.name, s.s)
	}
	sm, okM := c.satMemory.MedianThroughput()
	sf, okF := c.satFloor.MedianThroughput()
	sd, okD := c.satDirect.MedianThroughput()
	se, okE := c.satEdge.MedianThroughput()
	ff, fokF := c.fixFloor.MedianP99()
	fd, fokD := c.fixDirect.MedianP99()
	fe, fokE := c.fixEdge.MedianP99()
	workers := fmt.Sprintf("%d in flight", b.cfg.workers)
	rate := thousands(int64(b.cfg.cmpRate)) + " req/s"

	b.table.Add("Memory floor: the database floor's work without the database (what an HTTP exchange costs here), saturation ("+workers+")",
		fmt.Sprintf("%s, %s ok; %s", rps(sm.Throughput), pct(okM), cpuShares(sm, "floor")))
	b.table.Add(fmt.Sprintf("Database floor: the catalog's read by hand (bare net/http + pgxpool of %d, same query, JSON and access log), saturation", catalogMaxConns),
		fmt.Sprintf("%s, %s ok; %s", rps(sf.Throughput), pct(okF), cpuShares(sf, "floor")))
	cpuRatio := ratio(float64(sf.CPUPerRequest("floor")), float64(sd.CPUPerRequest("catalog")))
	b.table.Check("Catalog GET /api/catalog/products/{id} direct (Gin + middleware + pgx), saturation",
		fmt.Sprintf("catalog %s vs database floor %s CPU/req = %.2f × floor; %s = %.2f × floor's throughput, %s ok; %s",
			us(sd.CPUPerRequest("catalog")), us(sf.CPUPerRequest("floor")), cpuRatio,
			rps(sd.Throughput), ratio(sd.Throughput, sf.Throughput), pct(okD), cpuShares(sd, "catalog")),
		"≥ 0.8 × database floor in CPU/req", cpuRatio >= budgetFloorRatio && okD == 1)
	b.table.Check("Same request through the edge, saturation",
		fmt.Sprintf("%s = %.2f × direct, %s ok; %s", rps(se.Throughput),
			ratio(se.Throughput, sd.Throughput), pct(okE), cpuShares(se, "edge", "catalog")),
		"≥ 0.7 × direct", ratio(se.Throughput, sd.Throughput) >= budgetEdgeRatio && okE == 1)
	b.table.Add("Database floor at "+rate, latencies(ff, fokF)+"; "+cpuShares(ff, "floor"))
	b.table.Add("Catalog direct at "+rate, latencies(fd, fokD)+fmt.Sprintf(" (p99 %s vs database floor); %s",
		signedMs(fd.P99-ff.P99), cpuShares(fd, "catalog")))
	added := fe.P99 - fd.P99
	b.table.Check("Through the edge at "+rate, latencies(fe, fokE)+fmt.Sprintf(" (p99 %s vs direct); %s",
		signedMs(added), cpuShares(fe, "edge", "catalog")),
		"adds ≤ 1 ms to p99", added <= budgetEdgeAddedP99 && fokE == 1)
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// prepare finds the products, gives each a stock the write path cannot
// exhaust (admin API), places one order to check the write path before
// loading it, and keeps one product's JSON for the floor.
func (b *bench) prepare(ctx context.Context) error {
	var page struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	if err := getJSON(ctx, b.sys.CatalogURL+"/api/catalog/products?limit=100", &page); err != nil {
		return err
	}
	if len(page.Items) == 0 {
		return errors.New("the catalog has no products (was it started without DEMO_DATA=true?)")
	}
	// Every order takes one unit; far more than all write runs together.
	stock := (b.cfg.writeRate*int(b.cfg.writeDur/time.Second)*b.cfg.runs + 1000) * 2
	for _, it := range page.Items {
		body := fmt.Sprintf(`{"stock":%d}`, stock)
		status, resp, err := do(ctx, http.MethodPut, b.sys.CatalogURL+"/api/catalog/products/"+it.ID+"/stock",
			body, "Authorization", "Bearer "+b.sys.AdminToken)
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("set stock: %d %s", status, resp)
		}
		b.productIDs = append(b.productIDs, it.ID)
	}
	b.productID = b.productIDs[0]

	status, resp, err := do(ctx, http.MethodPost, b.sys.EdgeURL+"/api/orders", b.orderBody(0),
		"Idempotency-Key", "bench-check-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	if err != nil || status != http.StatusCreated {
		return fmt.Errorf("place an order: %d %s %v", status, resp, err)
	}
	var o struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(resp, &o); err != nil || o.ID == "" {
		return fmt.Errorf("order answer without id: %s", resp)
	}
	b.orderPath = "/api/orders/" + o.ID

	// Last: the order above changed a product's stock.
	status, resp, err = do(ctx, http.MethodGet, b.sys.CatalogURL+"/api/catalog/products/"+b.productID, "")
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("get product: %d %s %v", status, resp, err)
	}
	b.productJSON = resp
	return nil
}

func (b *bench) orderBody(n uint64) string {
	id := b.productIDs[int(n%uint64(len(b.productIDs)))]
	return `{"email":"bench@example.com","items":[{"product_id":"` + id + `","quantity":1}]}`
}

// orderLoad places one-unit orders, round-robin over the products, each
// with its own Idempotency-Key.
func (b *bench) orderLoad() Load {
	var n atomic.Uint64
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	url := b.sys.EdgeURL + "/api/orders"
	return Load{Name: "write", Targeter: func(t *vegeta.Target) error {
		i := n.Add(1)
		t.Method = http.MethodPost
		t.URL = url
		t.Body = []byte(b.orderBody(i))
		t.Header = http.Header{
			"Content-Type":    {"application/json"},
			"Idempotency-Key": {"bench-" + run + "-" + strconv.FormatUint(i, 10)},
		}
		return nil
	}}
}

// startups measures each service's start against the running database
// (and, for orders, web and edge, the services they call).
func (b *bench) startups(ctx context.Context, bins map[string]string, dsn string) error {
	logf("start-up")
	sys := b.sys
	// Not DEMO_DATA: the products are in the database already, and a
	// production restart does not load them.
	productPath := "/api/catalog/products/" + b.productID
	get := func(path string) func(*http.Client, string) error {
		return func(c *http.Client, base string) error {
			resp, err := c.Get(base + path)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s: %d", path, resp.StatusCode)
			}
			return nil
		}
	}
	plans := []struct {
		name, first string
		vars        map[string]string
	}{
		{"catalog", productPath, map[string]string{"DATABASE_URL": dsn, "ADMIN_TOKEN": sys.AdminToken}},
		{"orders", b.orderPath, map[string]string{"DATABASE_URL": dsn, "CATALOG_URL": sys.CatalogURL}},
		{"web", "/", map[string]string{"CATALOG_URL": sys.CatalogURL}},
		{"edge", productPath, map[string]string{"UPSTREAM_CATALOG": sys.CatalogURL,
			"UPSTREAM_ORDERS": sys.OrdersURL, "UPSTREAM_WEB": sys.WebURL}},
	}
	for _, p := range plans {
		var runs []Startup
		for i := 0; i < b.cfg.runs; i++ {
			vars := maps.Clone(p.vars)
			s, err := measureStartup(ctx, bins[p.name], vars, get(p.first))
			if err != nil {
				return fmt.Errorf("start-up of %s: %w", p.name, err)
			}
			logf("start-up %s run %d: ready %s, first request %s", p.name, i+1, ms(s.Ready), ms(s.First))
			runs = append(runs, s)
		}
		ready := medianDuration(runs, func(s Startup) time.Duration { return s.Ready })
		first := medianDuration(runs, func(s Startup) time.Duration { return s.First })
		b.table.Check(fmt.Sprintf("Start-up %s: exec → first 200 on /readyz; then first GET %s", p.name, shortPath(p.first)),
			fmt.Sprintf("%s; first request %s", ms(ready), ms(first)), "ready ≤ 150 ms", ready <= budgetStartup)
	}
	return nil
}

// shortPath hides ids in a path for the table.
func shortPath(p string) string {
	if i := strings.LastIndex(p, "/"); i > 0 && len(p)-i > 30 {
		return p[:i] + "/{id}"
	}
	return p
}

func medianDuration(runs []Startup, f func(Startup) time.Duration) time.Duration {
	ds := make([]time.Duration, len(runs))
	for i, r := range runs {
		ds[i] = f(r)
	}
	for i := 1; i < len(ds); i++ {
		for j := i; j > 0 && ds[j] < ds[j-1]; j-- {
			ds[j], ds[j-1] = ds[j-1], ds[j]
		}
	}
	return ds[len(ds)/2]
}

// allocations runs the handlers' Go benchmarks (-benchmem).
func (b *bench) allocations(ctx context.Context, root string) error {
	pkgs, err := benchPackages(root, "apps", "platform", "bench")
	if err != nil {
		return err
	}
	logf("go test -bench %s", strings.Join(pkgs, " "))
	var log io.Writer = io.Discard
	if b.cfg.verbose {
		log = os.Stderr
	}
	// The tracing benchmarks run in the tracing section, one mode per
	// process (see tracing).
	results, err := runGoBenchSkip(ctx, root, pkgs, ".", "^BenchmarkTracing", b.cfg.benchtime, log)
	if err != nil {
		return err
	}
	for _, r := range results {
		pkg := strings.TrimPrefix(r.Pkg, "github.com/fargateshop/shop/")
		b.table.Add(fmt.Sprintf("Allocations %s %s", pkg, r.Name),
			fmt.Sprintf("%s ns/op, %s B/op, %d allocs/op", thousands(int64(r.NsPerOp+0.5)), thousands(r.BytesPerOp), r.AllocsPerOp))
	}
	return b.handlerVsBare(ctx, root, log)
}

// handlerVsBare adds the in-memory budget: catalog's real handler over a
// fake store (BenchmarkGetProduct) against the bare handler doing the same
// work (BenchmarkFloorProduct, floor.go), in time per request on one
// goroutine, no socket and no database. The two run in turn, runs times
// each, so drift on the machine hits both alike; the median is shown.
func (b *bench) handlerVsBare(ctx context.Context, root string, log io.Writer) error {
	logf("catalog handler against the bare handler, %d run(s)", b.cfg.runs)
	var catalog, bare []GoBench
	for i := 0; i < b.cfg.runs; i++ {
		for _, side := range []struct {
			pkg, name string
			into      *[]GoBench
		}{{"./apps/catalog/internal/web", "BenchmarkGetProduct", &catalog}, {"./bench", "BenchmarkFloorProduct", &bare}} {
			r, err := runGoBench(ctx, root, []string{side.pkg}, "^"+side.name+"$", b.cfg.benchtime, log)
			if err != nil {
				return err
			}
			if len(r) != 1 {
				return fmt.Errorf("go test -bench %s %s: got %d results, want 1", side.name, side.pkg, len(r))
			}
			*side.into = append(*side.into, r[0])
		}
	}
	c, f := medianBench(catalog), medianBench(bare)
	r := ratio(f.NsPerOp, c.NsPerOp)
	b.table.Check("In memory: catalog handler (Gin + middleware, fake store) vs bare net/http handler, same JSON and access-log line (go test -bench, one goroutine)",
		fmt.Sprintf("catalog %s ns/op, %d allocs/op vs bare %s ns/op, %d allocs/op = %.2f × bare",
			thousands(int64(c.NsPerOp+0.5)), c.AllocsPerOp, thousands(int64(f.NsPerOp+0.5)), f.AllocsPerOp, r),
		"≥ 0.8 × bare", r >= budgetFloorRatio)
	return nil
}

// medianBench is the run with the median time per operation.
func medianBench(runs []GoBench) GoBench {
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b GoBench) int { return cmp.Compare(a.NsPerOp, b.NsPerOp) })
	return sorted[len(sorted)/2]
}

// sameBody checks that a floor answers exactly what the catalog does.
func sameBody(ctx context.Context, floorURL, catalogURL string) error {
	_, a, err := do(ctx, http.MethodGet, floorURL, "")
	if err != nil {
		return err
	}
	_, c, err := do(ctx, http.MethodGet, catalogURL, "")
	if err != nil {
		return err
	}
	if !bytes.Equal(bytes.TrimSpace(a), bytes.TrimSpace(c)) {
		return fmt.Errorf("the floor's JSON differs from catalog's:\n floor:   %s\n catalog: %s", a, c)
	}
	return nil
}

var client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}

// do sends one request, a JSON body when body is not empty, and reads the
// whole answer. header holds name, value pairs.
func do(ctx context.Context, method, url, body string, header ...string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		header = append(header, "Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func getJSON(ctx context.Context, url string, v any) error {
	status, b, err := do(ctx, http.MethodGet, url, "")
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", url, status, b)
	}
	return json.Unmarshal(b, v)
}

// loadAvg is the 1-minute load average, "?" when unknown.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// describeDatabase says which PostgreSQL the numbers come from and the
// settings that make its commits cheaper than a production server's.
func describeDatabase(ctx context.Context, dsn string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "PostgreSQL: unknown (" + err.Error() + ")"
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var version, fsync, syncCommit, fullPages string
	err = conn.QueryRow(ctx, `SELECT current_setting('server_version'), current_setting('fsync'),
		current_setting('synchronous_commit'), current_setting('full_page_writes')`).Scan(&version, &fsync, &syncCommit, &fullPages)
	if err != nil {
		return "PostgreSQL: unknown (" + err.Error() + ")"
	}
	where := "on " + conn.Config().Host
	if len(postgresCPU()) > 0 {
		where = "on this machine, sharing its cores"
	}
	if f := strings.Fields(version); len(f) > 0 {
		version = f[0] // "15.14 (Debian 15.14-0+deb12u1)"
	}
	return fmt.Sprintf("PostgreSQL %s with fsync=%s, synchronous_commit=%s, full_page_writes=%s, %s",
		version, fsync, syncCommit, fullPages, where)
}

// machine describes this host for the table's caption.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(v); len(f) == 2 {
					if kb, err := strconv.Atoi(f[0]); err == nil {
						mem = fmt.Sprintf(", %.0f GiB memory", float64(kb)/(1<<20))
					}
				}
			}
		}
	}
	return fmt.Sprintf("%d cores (%s)%s, %s %s/%s, load generator on the same cores",
		runtime.NumCPU(), cpu, mem, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
