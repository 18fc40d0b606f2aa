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
	if !errors.As(err, &se) || se.Status != 404 {
		t.Fatalf("err = %v, want StatusError 404", err)
	}
	p, ok := Refusal(err)
	if !ok || p.Code != apperr.NotFound || p.Type != "/problems/unknown-product" || p.Message != "no such product" {
		t.Errorf("Refusal = %+v, %v; want NotFound with the problem's type and detail", p, ok)
	}
	// The dependency refused our call: that is not the caller's client
	// error, so it must not pass for one.
	if code := apperr.CodeOf(err); code != apperr.Internal {
		t.Errorf("CodeOf = %q, want internal", code)
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

// flaky is a dependency that fails with 500 until healed.
type flaky struct {
	*httptest.Server
	healthy atomic.Bool
	calls   atomic.Int32
}

func newFlaky(t *testing.T) *flaky {
	f := &flaky{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		if !f.healthy.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, `{}`)
	}))
	t.Cleanup(f.Close)
	return f
}

// TestBreakerOpensAndHeals: three failures open the breaker, which then
// answers without calling the dependency until its open period is over;
// the next call is the half-open probe. An open period of a nanosecond is
// over by that call, so no test waits for time to pass.
func TestBreakerOpensAndHeals(t *testing.T) {
	for _, tt := range []struct {
		open      time.Duration
		wantProbe bool
	}{{time.Hour, false}, {time.Nanosecond, true}} {
		t.Run(tt.open.String(), func(t *testing.T) {
			f := newFlaky(t)
			c := New(Config{Name: "dep", BaseURL: f.URL, Retries: -1, BreakerFailures: 3, BreakerOpen: tt.open, Log: quietLog()})
			ctx := context.Background()
			for i := 0; i < 3; i++ {
				_ = c.Do(ctx, "GET", "/", true, nil, nil)
			}
			f.healthy.Store(true)
			before := f.calls.Load()
			err := c.Do(ctx, "GET", "/", true, nil, nil)
			if probed := f.calls.Load() != before; probed != tt.wantProbe || (err == nil) != tt.wantProbe {
				t.Errorf("after 3 failures: err = %v, dependency called = %v; want a call %v", err, probed, tt.wantProbe)
			}
			if !tt.wantProbe && apperr.CodeOf(err) != apperr.Unavailable {
				t.Errorf("open breaker: err = %v, want Unavailable", err)
			}
		})
	}
}

// TestCallerGivingUpIsNotAFailure: callers that cancel, or whose own
// deadline passes, while the dependency is slow leave the breaker closed;
// the client's own attempt timeout running out opens it.
func TestCallerGivingUpIsNotAFailure(t *testing.T) {
	tests := []struct {
		name           string
		call           func(c *Client, arrived <-chan struct{}) error
		attemptTimeout time.Duration
		wantOpen       bool
	}{
		{"caller cancels", func(c *Client, arrived <-chan struct{}) error {
			ctx, cancel := context.WithCancel(context.Background())
			go func() { <-arrived; cancel() }()
			return c.Do(ctx, "GET", "/", true, nil, nil)
		}, time.Hour, false},
		{"caller's deadline", func(c *Client, _ <-chan struct{}) error {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			return c.Do(ctx, "GET", "/", true, nil, nil)
		}, time.Hour, false},
		{"attempt timeout", func(c *Client, _ <-chan struct{}) error {
			return c.Do(context.Background(), "GET", "/", true, nil, nil)
		}, 20 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var slow atomic.Bool
			slow.Store(true)
			var calls atomic.Int32
			arrived := make(chan struct{}, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				if slow.Load() {
					select {
					case arrived <- struct{}{}:
					default:
					}
					<-r.Context().Done()
					return
				}
				_, _ = io.WriteString(w, `{}`)
			}))
			defer srv.Close()
			c := New(Config{Name: "dep", BaseURL: srv.URL, Retries: -1, AttemptTimeout: tt.attemptTimeout,
				BreakerFailures: 3, BreakerOpen: time.Hour, Log: quietLog()})
			for i := 0; i < 3; i++ {
				if err := tt.call(c, arrived); apperr.CodeOf(err) != apperr.Unavailable {
					t.Fatalf("call %d: err = %v, want Unavailable", i, err)
				}
			}
			slow.Store(false)
			before := calls.Load()
			err := c.Do(context.Background(), "GET", "/", true, nil, nil)
			if open := calls.Load() == before; open != tt.wantOpen {
				t.Errorf("breaker open = %v (err %v), want %v", open, err, tt.wantOpen)
			}
		})
	}
}
