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

// duplicates follows shipping's duplicate count through the run. A
// restarted shipping starts its counter again at zero under the same
// series (the collector labels it by job, not by process), so the count
// adds up the increases between polls, a drop being a restart: the
// counter's own increase() rule.
type duplicates struct {
	url    string
	mu     sync.Mutex
	polled bool
	last   map[string]float64 // the previous poll's values
	total  float64            // increases since the first poll
	err    error              // the last poll's
}

func newDuplicates(url string) *duplicates {
	return &duplicates{url: url, last: map[string]float64{}}
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
	if err != nil {
		d.mu.Lock()
		d.err = err
		d.mu.Unlock()
		return
	}
	d.add(series)
}

// add takes one poll's values into the count.
func (d *duplicates) add(series map[string]float64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.err = nil
	for k, v := range series {
		if d.polled {
			if prev := d.last[k]; v >= prev {
				d.total += v - prev
			} else {
				d.total += v // restarted from zero
			}
		}
		d.last[k] = v
	}
	d.polled = true
}

// String is the count since the first poll, or why there is none.
func (d *duplicates) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.polled {
		return fmt.Sprintf("not counted (metrics at %s: %v)", d.url, d.err)
	}
	return fmt.Sprintf("%.0f (shop_shipments_total{outcome=\"duplicate\"} at %s; at least: a killed process's last export interval is lost)", d.total, d.url)
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
