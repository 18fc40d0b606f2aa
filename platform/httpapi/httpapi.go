// Package httpapi is the Gin setup every service shares: request ids, access
// logs, panic recovery, body limits, RFC 9457 problem responses and the
// health endpoints. Handlers return errors from package apperr; package
// problem holds the one table that decides which HTTP status each becomes.
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/fargateshop/shop/platform/apperr"
	"github.com/fargateshop/shop/platform/problem"
	"github.com/fargateshop/shop/platform/requestid"
	"github.com/fargateshop/shop/platform/telemetry"
)

// MaxBodyBytes caps every request body.
const MaxBodyBytes = 1 << 20

// RetryAfterSeconds is what 503 answers advise (see problem.RetryAfterSeconds).
const RetryAfterSeconds = problem.RetryAfterSeconds

const loggerKey = "httpapi.logger"

// trustedProxies are the only peers whose X-Forwarded-For is believed: only
// addresses inside a VPC or on the host can be proxies (the ALB, the local
// edge); anything else in X-Forwarded-For is client-supplied.
var trustedProxies = []string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "::1"}

// Options tune NewEngine.
type Options struct {
	// Quiet paths are logged at debug level (health checks every few seconds
	// would drown the access log).
	Quiet []string
}

// NewEngine returns a Gin engine with the shared middleware and problem
// responses for unknown routes and methods.
func NewEngine(log *slog.Logger, opts Options) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.ContextWithFallback = true
	if err := r.SetTrustedProxies(trustedProxies); err != nil {
		// The list is a constant: an error is a typo that every test
		// building an engine catches, never a condition to run with.
		panic(fmt.Sprintf("httpapi: trusted proxies: %v", err))
	}

	quiet := map[string]bool{"/livez": true, "/readyz": true}
	for _, p := range opts.Quiet {
		quiet[p] = true
	}
	// Tracing comes first so every later step, the access log included,
	// runs inside the request's span. Recovery sits inside the access log,
	// so a request that panics is still logged, with the 500 it was
	// answered.
	r.Use(telemetry.Gin(), requestID(log), accessLog(quiet), recovery(), limitBody(MaxBodyBytes))
	r.NoRoute(func(c *gin.Context) {
		WriteProblem(c, problem.Problem{Status: http.StatusNotFound, Detail: "no such resource"})
	})
	r.NoMethod(func(c *gin.Context) {
		WriteProblem(c, problem.Problem{Status: http.StatusMethodNotAllowed, Detail: "method not allowed on this resource"})
	})
	return r
}

// Logger returns the request's logger.
func Logger(c *gin.Context) *slog.Logger {
	if l, ok := c.Get(loggerKey); ok {
		return l.(*slog.Logger)
	}
	return slog.Default()
}

func requestID(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader(requestid.Header)
		if !requestid.Valid(id) {
			id = requestid.New()
		}
		c.Request = c.Request.WithContext(requestid.With(c.Request.Context(), id))
		c.Header(requestid.Header, id)
		telemetry.SetResponseHeader(c.Writer.Header(), c.Request.Context())
		c.Header("X-Content-Type-Options", "nosniff")
		c.Set(loggerKey, log)
		c.Next()
	}
}

func accessLog(quiet map[string]bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		level := slog.LevelInfo
		if quiet[c.Request.URL.Path] {
			level = slog.LevelDebug
		}
		Logger(c).LogAttrs(c.Request.Context(), level, "request",
			slog.String("method", c.Request.Method),
			slog.String("path", c.Request.URL.Path),
			slog.String("route", c.FullPath()),
			slog.Int("status", c.Writer.Status()),
			slog.Int("bytes", c.Writer.Size()),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.String("client_ip", c.ClientIP()),
		)
	}
}

func recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				Logger(c).ErrorContext(c.Request.Context(), "panic",
					"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if !c.Writer.Written() {
					status, body := problem.Render(errors.New("panic"), requestid.From(c.Request.Context()))
					writeProblem(c, status, body)
				}
				c.Abort()
			}
		}()
		c.Next()
	}
}

func limitBody(n int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > n {
			WriteProblem(c, problem.Problem{Status: http.StatusRequestEntityTooLarge,
				Detail: fmt.Sprintf("request body exceeds %d bytes", n)})
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
		c.Next()
	}
}

// WriteProblem writes p as application/problem+json and aborts the chain.
func WriteProblem(c *gin.Context, p problem.Problem) {
	if p.RequestID == "" {
		p.RequestID = requestid.From(c.Request.Context())
	}
	writeProblem(c, p.Status, p.Marshal())
}

func writeProblem(c *gin.Context, status int, body []byte) {
	if status == http.StatusServiceUnavailable && c.Writer.Header().Get("Retry-After") == "" {
		c.Header("Retry-After", strconv.Itoa(RetryAfterSeconds))
	}
	c.Header("Cache-Control", "no-store")
	c.Data(status, problem.ContentType, body)
	c.Abort()
}

// Error writes err as a problem (see problem.New for what the client sees).
// Internal errors are logged with the request id, unavailable dependencies
// as warnings; an error that only says the client hung up is neither.
func Error(c *gin.Context, err error) {
	ctx := c.Request.Context()
	status, body := problem.Render(err, requestid.From(ctx))
	switch {
	case clientGone(ctx, err):
		Logger(c).InfoContext(ctx, "client gave up", "status", status, "error", err.Error())
	case status == http.StatusInternalServerError:
		Logger(c).ErrorContext(ctx, "internal error", "error", err.Error())
	case status == http.StatusServiceUnavailable:
		Logger(c).WarnContext(ctx, "dependency unavailable", "error", err.Error())
	case status == http.StatusUnauthorized:
		c.Header("WWW-Authenticate", `Bearer realm="fargateshop"`)
	}
	writeProblem(c, status, body)
}

// clientGone reports whether err is the request's own cancellation: the
// client hung up, so whatever failed because of it says nothing about this
// service or its dependencies.
func clientGone(ctx context.Context, err error) bool {
	return errors.Is(err, context.Canceled) && errors.Is(ctx.Err(), context.Canceled)
}

// Health registers GET /livez (the process answers; no dependency is
// checked, so a database outage never makes ECS kill healthy tasks) and
// GET /readyz (ready checks dependencies this service owns, within 2 s).
func Health(r gin.IRoutes, ready func(ctx context.Context) error) {
	r.GET("/livez", func(c *gin.Context) {
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, gin.H{"status": "ok"})
	})
	r.GET("/readyz", func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		if ready != nil {
			if err := ready(ctx); err != nil {
				Error(c, apperr.Wrap(apperr.Unavailable, err, "not ready: a dependency is unreachable"))
				return
			}
		}
		c.Header("Cache-Control", "no-store")
		c.JSON(http.StatusOK, gin.H{"status": "ok"})
	})
}

// IsBodyTooLarge reports whether err came from the body limit.
func IsBodyTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}
