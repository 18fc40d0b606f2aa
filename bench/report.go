package main

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// Row is one line of the table. Verdict is "ok", "MISS" or "" (no budget).
type Row struct {
	Measure, Result, Budget, Verdict string
}

// Table is the benchmark's single output.
type Table struct {
	Rows []Row
}

func (t *Table) Add(measure, result string) {
	t.Rows = append(t.Rows, Row{Measure: measure, Result: result})
}

// Check adds a row with a budget; met says whether the result is within it.
func (t *Table) Check(measure, result, budget string, met bool) {
	v := "ok"
	if !met {
		v = "MISS"
	}
	t.Rows = append(t.Rows, Row{Measure: measure, Result: result, Budget: budget, Verdict: v})
}

// Misses lists the measures that missed their budget.
func (t *Table) Misses() []string {
	var out []string
	for _, r := range t.Rows {
		if r.Verdict == "MISS" {
			out = append(out, r.Measure)
		}
	}
	return out
}

// Budgets counts the rows that have a budget.
func (t *Table) Budgets() int {
	n := 0
	for _, r := range t.Rows {
		if r.Verdict != "" {
			n++
		}
	}
	return n
}

// Markdown writes the table as a Markdown table padded for a terminal.
func (t *Table) Markdown(w io.Writer) {
	head := Row{"Measure", "Result", "Budget", "Verdict"}
	widths := make([]int, 4)
	cells := func(r Row) []string {
		v := r.Verdict
		if v == "MISS" {
			v = "**MISS**"
		}
		return []string{r.Measure, r.Result, r.Budget, v}
	}
	for _, r := range append([]Row{head}, t.Rows...) {
		for i, c := range cells(r) {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	line := func(cs []string) {
		var b strings.Builder
		b.WriteString("|")
		for i, c := range cs {
			b.WriteString(" " + c + strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)) + " |")
		}
		fmt.Fprintln(w, b.String())
	}
	line(cells(head))
	seps := make([]string, 4)
	for i, n := range widths {
		seps[i] = strings.Repeat("-", n)
	}
	line(seps)
	for _, r := range t.Rows {
		line(cells(r))
	}
}

// ms formats a duration in milliseconds with a precision that fits it.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 100:
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.0f ms", v)
	}
}

// us formats a CPU time per request in microseconds.
func us(d time.Duration) string {
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}

// signedMs formats a latency difference, e.g. "+0.41 ms".
func signedMs(d time.Duration) string {
	if d < 0 {
		return "−" + ms(-d)
	}
	return "+" + ms(d)
}

// rps formats a throughput with thousands separators.
func rps(v float64) string {
	return thousands(int64(v+0.5)) + " req/s"
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// pct formats a success ratio; anything below 100 % shows its decimals so
// that one failure in ten thousand is not rounded away.
func pct(v float64) string {
	if v >= 1 {
		return "100%"
	}
	return fmt.Sprintf("%.3f%%", v*100)
}

// mib formats a size in bytes as MiB (what /proc and ls -lh count in).
func mib(b int64) string {
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

// mb formats a size in bytes as MB of 10^6 bytes (what `docker images` shows).
func mb(b int64) string {
	return fmt.Sprintf("%.1f MB", float64(b)/1e6)
}

// latencies formats the percentiles and success of a fixed-rate run.
func latencies(r Result, success float64) string {
	return fmt.Sprintf("p50 %s, p90 %s, p99 %s, %s ok", ms(r.P50), ms(r.P90), ms(r.P99), pct(success))
}
