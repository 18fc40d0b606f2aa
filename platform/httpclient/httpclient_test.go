package httpclient

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fargateshop/shop/platform/apperr"
	"github.com/fargateshop/shop/platform/requestid"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestRetriesOnlyIdempotentCalls(t *testing.T) {
	tests := []struct {
		idempotent bool
		wantCalls  int32
	}{{true, 3}, {false, 1}}
	for _, tt := range tests {
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		c := New(Config{Name: "dep", BaseURL: srv.URL, Retries: 2, Backoff: time.Millisecond, BreakerFailures: 100, Log: quietLog()})
		err := c.Do(context.Background(), "POST", "/x", tt.idempotent, map[string]int{"a": 1}, nil)
		srv.Close()
		if apperr.CodeOf(err) != apperr.Unavailable {
			t.Errorf("idempotent=%v: err = %v, want Unavailable", tt.idempotent, err)
		}
		if got := calls.Load(); got != tt.wantCalls {
			t.Errorf("idempotent=%v: %d calls, want %d", tt.idempotent, got, tt.wantCalls)
		}
	}
}

func TestStatusErrorAndSuccess(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get(requestid.Header); got != "rid-1" {
			t.Errorf("request id forwarded = %q, want rid-1", got)
		}
		if r.URL.Path == "/missing" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"type":"/problems/unknown-product","title":"Not Found","status":404,"detail":"no such product"}`)
			return
		}
		_, _ = io.WriteString(w, `{"name":"pen"}`)
	}))
	defer srv.Close()
	c := New(Config{Name: "dep", BaseURL: srv.URL, Log: quietLog()})
	ctx := requestid.With(context.Background(), "rid-1")

	var out struct{ Name string }
	if err := c.Do(ctx, "GET", "/ok", true, nil, &out); err != nil || out.Name != "pen" {
		t.Fatalf("Do = %v, out %+v; want nil and pen", err, out)
	}
	err := c.Do(ctx, "GET", "/missing", true, nil, nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 404 || se.Problem.Type != "/problems/unknown-product" {
		t.Fatalf("err = %v, want StatusError 404 with the problem type", err)
	}
}

func TestBudgetBoundsAHangingDependency(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	c := New(Config{Name: "dep", BaseURL: srv.URL, Budget: 300 * time.Millisecond, AttemptTimeout: 100 * time.Millisecond, Log: quietLog()})
	start := time.Now()
	err := c.Do(context.Background(), "GET", "/slow", true, nil, nil)
	if apperr.CodeOf(err) != apperr.Unavailable {
		t.Fatalf("err = %v, want Unavailable", err)
	}
	// Generous bound: the point is that it ends near the budget, not after
	// the server's pace. It is a correctness bound, not a benchmark.
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("call took %v, want it bounded by the 300ms budget", d)
	}
}

func TestBreakerOpensAndHeals(t *testing.T) {
	var healthy atomic.Bool
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if !healthy.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	c := New(Config{Name: "dep", BaseURL: srv.URL, Retries: -1, BreakerFailures: 3, BreakerOpen: 200 * time.Millisecond, Log: quietLog()})
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		_ = c.Do(ctx, "GET", "/", true, nil, nil)
	}
	before := calls.Load()
	err := c.Do(ctx, "GET", "/", true, nil, nil)
	if apperr.CodeOf(err) != apperr.Unavailable || calls.Load() != before {
		t.Fatalf("open breaker: err = %v, calls %d→%d; want Unavailable without a call", err, before, calls.Load())
	}
	healthy.Store(true)
	time.Sleep(250 * time.Millisecond)
	if err := c.Do(ctx, "GET", "/", true, nil, nil); err != nil {
		t.Fatalf("after the open period the breaker should let a probe through: %v", err)
	}
}
