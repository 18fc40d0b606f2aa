package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.9, 90 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}}
	for _, tt := range tests {
		if got := quantile(d, tt.q); got != tt.want {
			t.Errorf("quantile(%v): got %v, want %v", tt.q, got, tt.want)
		}
	}
	if got := quantile(nil, 0.99); got != 0 {
		t.Errorf("quantile of nothing: got %v, want 0", got)
	}
	if got := quantile([]time.Duration{7}, 0.99); got != 7 {
		t.Errorf("quantile of one: got %v, want 7", got)
	}
}

func TestSeriesMedian(t *testing.T) {
	s := Series{
		{Requests: 100, OK: 100, Throughput: 300, P99: 3},
		{Requests: 100, OK: 99, Throughput: 100, P99: 9},
		{Requests: 100, OK: 100, Throughput: 200, P99: 1},
	}
	m, ok := s.MedianThroughput()
	if m.Throughput != 200 {
		t.Errorf("median throughput: got %v, want 200", m.Throughput)
	}
	if ok != 299.0/300 {
		t.Errorf("success over all runs: got %v, want %v", ok, 299.0/300)
	}
	if m, _ := s.MedianP99(); m.P99 != 3 {
		t.Errorf("median p99: got %v, want 3", m.P99)
	}
}

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
goarch: amd64
pkg: github.com/fargateshop/shop/apps/catalog/internal/web
cpu: AMD EPYC
BenchmarkGetProduct-2   	  123456	      9876 ns/op	    4567 B/op	      45 allocs/op
BenchmarkList/page=20-2 	   1000	   1234.5 ns/op	     100 B/op	       2 allocs/op
BenchmarkTracingGetProduct/ratio-0.1-2         	   27080	     46282 ns/op	     45470 cpu-ns/op	         0.09956 spans/op	   13803 B/op	      71 allocs/op
PASS
pkg: github.com/fargateshop/shop/bench
BenchmarkFloorProduct    	  10	      10 ns/op
ok  	github.com/fargateshop/shop/bench	1.0s
`
	got, err := parseGoBench(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []GoBench{
		{"github.com/fargateshop/shop/apps/catalog/internal/web", "BenchmarkGetProduct", 9876, 4567, 45, 0, 0},
		{"github.com/fargateshop/shop/apps/catalog/internal/web", "BenchmarkList/page=20", 1234.5, 100, 2, 0, 0},
		{"github.com/fargateshop/shop/apps/catalog/internal/web", "BenchmarkTracingGetProduct/ratio-0.1", 46282, 13803, 71, 45470, 0.09956},
		{"github.com/fargateshop/shop/bench", "BenchmarkFloorProduct", 10, 0, 0, 0, 0},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d results %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("result %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestParseVmRSS(t *testing.T) {
	got, err := parseVmRSS(strings.NewReader("Name:\tcatalog\nVmPeak:\t  900 kB\nVmRSS:\t   12345 kB\n"))
	if err != nil || got != 12345 {
		t.Errorf("got %d, %v; want 12345", got, err)
	}
	if _, err := parseVmRSS(strings.NewReader("Name:\tx\n")); err == nil {
		t.Error("no VmRSS line: got no error")
	}
}

func TestTable(t *testing.T) {
	var tb Table
	tb.Add("plain", "1")
	tb.Check("within", "2", "≤ 3", true)
	tb.Check("over", "4", "≤ 3", false)
	if got := tb.Misses(); len(got) != 1 || got[0] != "over" {
		t.Errorf("misses: got %v, want [over]", got)
	}
	if got := tb.Budgets(); got != 2 {
		t.Errorf("budgets: got %d, want 2", got)
	}
	var b bytes.Buffer
	tb.Markdown(&b)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("got %d lines, want 5:\n%s", len(lines), b.String())
	}
	if !strings.Contains(lines[4], "**MISS**") || !strings.Contains(lines[3], "| ok") {
		t.Errorf("verdicts not shown:\n%s", b.String())
	}
}

func TestFormats(t *testing.T) {
	tests := []struct{ got, want string }{
		{thousands(1234567), "1,234,567"},
		{thousands(999), "999"},
		{rps(10432.6), "10,433 req/s"},
		{ms(1500 * time.Microsecond), "1.50 ms"},
		{ms(25 * time.Millisecond), "25.0 ms"},
		{signedMs(-time.Millisecond), "−1.00 ms"},
		{pct(1), "100%"},
		{pct(0.9999), "99.990%"},
		{shortPath("/api/orders/0b1c2d3e-4f50-4617-8899-aabbccddeeff"), "/api/orders/{id}"},
		{shortPath("/"), "/"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	stat := "1234 (cat alog) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 7 0 100 0 0"
	got, err := parseStatCPU(stat)
	if err != nil || got != 3*time.Second {
		t.Errorf("got %v, %v; want 3s", got, err)
	}
	if _, err := parseStatCPU("garbage"); err == nil {
		t.Error("garbage: got no error")
	}
}

func TestCPUShares(t *testing.T) {
	r := Result{Requests: 1000, CPU: map[string]time.Duration{
		"edge": 100 * time.Millisecond, "catalog": 150 * time.Millisecond,
		cpuPostgres: 70 * time.Millisecond, cpuLoad: 80 * time.Millisecond,
	}}
	want := "edge 100 µs + catalog 150 µs + PostgreSQL 70 µs + load generator 80 µs = 400 µs CPU/req"
	if got := cpuShares(r, "edge", "catalog"); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	// A database on another machine shows no process here: no PostgreSQL
	// share.
	delete(r.CPU, cpuPostgres)
	if got := cpuShares(r, "catalog"); got != "catalog 150 µs + load generator 80 µs = 230 µs CPU/req" {
		t.Errorf("without PostgreSQL: got %q", got)
	}
}

func TestPostgresCPUFindsProcessesNamedPostgres(t *testing.T) {
	// A process named postgres (a copy of sleep), so the test needs no
	// database on this machine.
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(t.TempDir(), "postgres")
	if err := os.WriteFile(fake, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(fake, "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()

	procs := postgresCPU()
	if _, ok := procs[cmd.Process.Pid]; !ok {
		t.Errorf("process %d named postgres not found in %v", cmd.Process.Pid, procs)
	}
	if _, ok := procs[os.Getpid()]; ok {
		t.Error("counted the test process as PostgreSQL")
	}
}

func TestMedianBench(t *testing.T) {
	runs := []GoBench{{Name: "a", NsPerOp: 300}, {Name: "b", NsPerOp: 100}, {Name: "c", NsPerOp: 200}}
	if got := medianBench(runs); got.Name != "c" {
		t.Errorf("got %+v, want the 200 ns/op run", got)
	}
	if runs[0].Name != "a" {
		t.Error("medianBench reordered its argument")
	}
}
