// Package httpclient is the one way a service calls another: a reused
// connection pool, a deadline on every call, bounded retries with jittered
// backoff for idempotent calls only, a circuit breaker so a dead dependency
// costs microseconds instead of timeouts, and the request id and W3C trace
// context forwarded (a client span per attempt).
//
// The breaker counts only what the dependency did: a caller that gives up
// (cancels, or reaches its own deadline) is not a dependency failing, while
// the client's own Budget and AttemptTimeout running out are.
package httpclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/fargateshop/shop/platform/apperr"
	"github.com/fargateshop/shop/platform/problem"
	"github.com/fargateshop/shop/platform/requestid"
	"github.com/fargateshop/shop/platform/telemetry"
)

// Config tunes a Client. Zero values take the defaults noted.
type Config struct {
	Name    string // dependency name for errors and logs
	BaseURL string
	// Budget bounds a whole call, retries included (default 2.5 s), so
	// callers fail fast with 503 instead of stacking up.
	Budget time.Duration
	// AttemptTimeout bounds one attempt (default 1.5 s).
	AttemptTimeout time.Duration
	// Retries is the number of extra attempts for idempotent calls (default 2).
	Retries int
	// Backoff is the base of the exponential, fully jittered backoff
	// (default 50 ms).
	Backoff time.Duration
	// BreakerFailures consecutive failures of the dependency open the
	// breaker (default 5); it half-opens after BreakerOpen (default: the
	// Retry-After that 503 answers advise).
	BreakerFailures uint32
	BreakerOpen     time.Duration
	Log             *slog.Logger
}

// Client calls one dependency.
type Client struct {
	cfg Config
	hc  *http.Client
	cb  *gobreaker.CircuitBreaker[*result]
}

type result struct {
	status int
	body   []byte
}

// New returns a Client for cfg.
func New(cfg Config) *Client {
	if cfg.Budget <= 0 {
		cfg.Budget = 2500 * time.Millisecond
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = 1500 * time.Millisecond
	}
	if cfg.Retries < 0 {
		cfg.Retries = 0
	} else if cfg.Retries == 0 {
		cfg.Retries = 2
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 50 * time.Millisecond
	}
	if cfg.BreakerFailures == 0 {
		cfg.BreakerFailures = 5
	}
	if cfg.BreakerOpen <= 0 {
		cfg.BreakerOpen = problem.RetryAfterSeconds * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       50 * time.Second, // below the servers' idle timeout
		ResponseHeaderTimeout: cfg.AttemptTimeout,
	}
	c := &Client{cfg: cfg, hc: &http.Client{Transport: telemetry.Transport(transport, cfg.Name)}}
	c.cb = newBreaker(cfg)
	return c
}

// StatusError is a 4xx answer from the dependency. Problem is the error
// the dependency answered with (see problem.Parse); StatusError does not
// unwrap to it, so a dependency refusing our call never passes for the
// caller's own client error: callers translate the refusals they expect.
type StatusError struct {
	Status  int
	Problem *apperr.Error
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("status %d: %s", e.Status, e.Problem.Message)
}

// Refusal returns the dependency's problem when err is a 4xx answer.
func Refusal(err error) (*apperr.Error, bool) {
	var se *StatusError
	if !errors.As(err, &se) {
		return nil, false
	}
	return se.Problem, true
}

// errServer marks answers that count against the breaker (5xx).
var errServer = errors.New("server error")

// Do sends one JSON request and decodes a 2xx JSON answer into out (when
// non-nil). Idempotent calls are retried; the rest are tried once. A 4xx
// answer returns *StatusError. Anything else that fails (network, timeout,
// 5xx, open breaker, the caller giving up) returns an apperr.Unavailable
// error; when the caller gave up, it wraps the caller's context error.
func (c *Client) Do(ctx context.Context, method, path string, idempotent bool, in, out any) error {
	var payload []byte
	if in != nil {
		var err error
		if payload, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
	}
	callerCtx := ctx
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Budget)
	defer cancel()

	attempts := 1
	if idempotent {
		attempts += c.cfg.Retries
	}
	var res *result
	var err error
	for i := 0; i < attempts; i++ {
		if i > 0 {
			if werr := sleep(ctx, jitter(c.cfg.Backoff, i)); werr != nil {
				break
			}
		}
		res, err = c.cb.Execute(func() (*result, error) {
			res, err := c.once(ctx, method, path, payload)
			if err != nil && callerCtx.Err() != nil {
				// Only the caller's own context says who gave up: the
				// budget and attempt deadlines are children of it and
				// leave it untouched.
				return nil, &callerGone{fmt.Errorf("%w (caller: %w)", err, callerCtx.Err())}
			}
			return res, err
		})
		if err == nil || errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) ||
			callerCtx.Err() != nil {
			break
		}
	}
	if err != nil {
		return apperr.Wrap(apperr.Unavailable, fmt.Errorf("%s %s%s: %w", method, c.cfg.Name, path, err),
			c.cfg.Name+" is unavailable; try again shortly")
	}
	if res.status >= 400 {
		return &StatusError{Status: res.status, Problem: problem.Parse(res.status, res.body)}
	}
	if out != nil && len(res.body) > 0 {
		if err := json.Unmarshal(res.body, out); err != nil {
			return fmt.Errorf("decode %s %s%s: %w", method, c.cfg.Name, path, err)
		}
	}
	return nil
}

func (c *Client) once(ctx context.Context, method, path string, payload []byte) (*result, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	defer cancel()
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.BaseURL+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if id := requestid.From(ctx); id != "" {
		req.Header.Set(requestid.Header, id)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 500 {
		return nil, fmt.Errorf("%w: status %d", errServer, resp.StatusCode)
	}
	return &result{status: resp.StatusCode, body: b}, nil
}

// jitter returns a random duration in [0, base*2^attempt): "full jitter",
// which spreads retries from many callers instead of synchronising them.
func jitter(base time.Duration, attempt int) time.Duration {
	return time.Duration(rand.Int64N(int64(base) << attempt))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
