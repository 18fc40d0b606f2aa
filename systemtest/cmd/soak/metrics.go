package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// duplicateSeries are shipping's count of events it applied without effect
// (the order had its shipment: a redelivery), in the Prometheus text format
// the stack's collector serves (docs/observability.md).
const duplicateSeries = `shop_shipments_total{`

// duplicates follows shipping's duplicate count through the run. Each
// shipping process is a series of its own (its instance label) that
// restarts at zero, and a series nobody updates disappears after 5
// minutes, so it keeps the largest value seen per series, polling often
// enough to see a killed process's last export before it goes.
type duplicates struct {
	url      string
	mu       sync.Mutex
	baseline map[string]float64 // before the load
	max      map[string]float64
	err      error // the last poll's
}

func newDuplicates(url string) *duplicates {
	return &duplicates{url: url, max: map[string]float64{}}
}

// poll reads the metrics every interval until ctx ends.
func (d *duplicates) poll(ctx context.Context, every time.Duration) {
	for {
		d.read(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

func (d *duplicates) read(ctx context.Context) {
	series, err := scrapeDuplicates(ctx, d.url)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.err = err
	if err != nil {
		return
	}
	if d.baseline == nil {
		d.baseline = series
	}
	for k, v := range series {
		d.max[k] = max(d.max[k], v)
	}
}

// String is the count since the first poll, or why there is none.
func (d *duplicates) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.baseline == nil {
		return fmt.Sprintf("not counted (metrics at %s: %v)", d.url, d.err)
	}
	var n float64
	for k, v := range d.max {
		n += v - d.baseline[k]
	}
	return fmt.Sprintf("%.0f (shop_shipments_total{outcome=\"duplicate\"} at %s; at least: a killed process's last export interval is lost)", n, d.url)
}

func scrapeDuplicates(ctx context.Context, url string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	return parseDuplicates(resp.Body)
}

// parseDuplicates returns the duplicate outcome's series of shop.shipments
// by their label set.
func parseDuplicates(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, duplicateSeries) || !strings.Contains(line, `outcome="duplicate"`) {
			continue
		}
		end := strings.LastIndexByte(line, '}')
		if end < 0 {
			continue
		}
		fields := strings.Fields(line[end+1:])
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", line, err)
		}
		out[line[:end+1]] = v
	}
	return out, sc.Err()
}
