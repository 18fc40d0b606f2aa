package main

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Result summarises one load run. Percentiles are exact (from every
// latency), not vegeta's t-digest estimate.
type Result struct {
	Requests   int
	OK         int           // 2xx answers
	Throughput float64       // 2xx answers per second of wall time
	P50        time.Duration // latency percentiles over all requests
	P90        time.Duration
	P99        time.Duration
	Codes      map[int]int
	FirstError string // the first transport error or unexpected status, for the log
	// CPU is the CPU time each measured process used during the run.
	CPU map[string]time.Duration
}

// CPUPerRequest is the CPU time the named processes used per request.
func (r Result) CPUPerRequest(names ...string) time.Duration {
	if r.Requests == 0 {
		return 0
	}
	var sum time.Duration
	for _, n := range names {
		sum += r.CPU[n]
	}
	return sum / time.Duration(r.Requests)
}

// metered runs f while measuring the CPU time of pids.
func metered(pids map[string]int, f func() Result) Result {
	m := meterCPU(pids)
	r := f()
	r.CPU = m.Stop()
	return r
}

// Success is the share of requests answered 2xx.
func (r Result) Success() float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(r.OK) / float64(r.Requests)
}

// Load is one kind of request sent at a target.
type Load struct {
	Name     string
	Targeter vegeta.Targeter
}

// getLoad returns a Load that sends the same GET to url every time.
func getLoad(name, url string) Load {
	return Load{Name: name, Targeter: vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: url})}
}

// attackOpts are shared by every attacker: a timeout that turns a stuck
// request into a failure instead of a hang, and keep-alive like a real
// client (the ALB keeps connections to its targets too).
func attackOpts(extra ...func(*vegeta.Attacker)) []func(*vegeta.Attacker) {
	return append([]func(*vegeta.Attacker){
		vegeta.Timeout(10 * time.Second),
		vegeta.KeepAlive(true),
		vegeta.Redirects(vegeta.NoFollow),
		// Responses are counted, not kept: bodies are read and dropped.
		vegeta.MaxBody(0),
	}, extra...)
}

// FixedRate sends rate requests per second for d, opening connections as
// needed, and measures every answer.
func FixedRate(l Load, rate int, d time.Duration) Result {
	atk := vegeta.NewAttacker(attackOpts(vegeta.Workers(16))...)
	return collect(atk.Attack(l.Targeter, vegeta.Rate{Freq: rate, Per: time.Second}, d, l.Name))
}

// MaxRate is a closed loop: workers requests in flight at all times (each
// worker sends its next request when the previous one is answered) for d.
// Its throughput is the saturation throughput of whatever answers, on a
// machine the load generator shares.
func MaxRate(l Load, workers int, d time.Duration) Result {
	atk := vegeta.NewAttacker(attackOpts(vegeta.Workers(uint64(workers)), vegeta.MaxWorkers(uint64(workers)))...)
	return collect(atk.Attack(l.Targeter, vegeta.Rate{Freq: 0}, d, l.Name))
}

func collect(results <-chan *vegeta.Result) Result {
	var (
		r      = Result{Codes: map[int]int{}}
		lat    []time.Duration
		first  time.Time
		last   time.Time
		seenAt bool
	)
	for res := range results {
		r.Requests++
		r.Codes[int(res.Code)]++
		lat = append(lat, res.Latency)
		if res.Code >= 200 && res.Code < 300 {
			r.OK++
		} else if r.FirstError == "" {
			r.FirstError = fmt.Sprintf("status %d %s", res.Code, strings.TrimSpace(res.Error))
		}
		if !seenAt || res.Timestamp.Before(first) {
			first = res.Timestamp
		}
		if end := res.Timestamp.Add(res.Latency); end.After(last) {
			last = end
		}
		seenAt = true
	}
	if secs := last.Sub(first).Seconds(); secs > 0 {
		r.Throughput = float64(r.OK) / secs
	}
	slices.Sort(lat)
	r.P50, r.P90, r.P99 = quantile(lat, 0.50), quantile(lat, 0.90), quantile(lat, 0.99)
	return r
}

// quantile returns the nearest-rank q-quantile of sorted.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*q+0.999999) - 1 // ceil(n*q) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Series is the runs of one measurement.
type Series []Result

// Median returns the run with the median of key, plus the success ratio
// over all runs together: a failure in any run is not hidden by the others.
func (s Series) Median(key func(Result) float64) (median Result, success float64) {
	if len(s) == 0 {
		return Result{}, 0
	}
	sorted := slices.Clone(s)
	sort.SliceStable(sorted, func(i, j int) bool { return key(sorted[i]) < key(sorted[j]) })
	var req, ok int
	for _, r := range s {
		req += r.Requests
		ok += r.OK
	}
	if req > 0 {
		success = float64(ok) / float64(req)
	}
	return sorted[len(sorted)/2], success
}

// Total adds the requests and CPU times of all runs (latencies are not
// combined).
func (s Series) Total() Result {
	t := Result{Codes: map[int]int{}, CPU: map[string]time.Duration{}}
	for _, r := range s {
		t.Requests += r.Requests
		t.OK += r.OK
		for k, v := range r.Codes {
			t.Codes[k] += v
		}
		for k, v := range r.CPU {
			t.CPU[k] += v
		}
	}
	return t
}

// MedianThroughput is the run with the median throughput.
func (s Series) MedianThroughput() (Result, float64) {
	return s.Median(func(r Result) float64 { return r.Throughput })
}

// MedianP99 is the run with the median p99 latency.
func (s Series) MedianP99() (Result, float64) {
	return s.Median(func(r Result) float64 { return float64(r.P99) })
}
