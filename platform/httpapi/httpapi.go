// Package httpapi is the Gin setup every service shares: request ids, access
// logs, panic recovery, body limits, RFC 9457 problem responses and the
// health endpoints. Handlers return errors from package apperr; this package
// alone decides which HTTP status each one becomes.
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
	"github.com/fargateshop/shop/platform/requestid"
)

// MaxBodyBytes caps every request body.
const MaxBodyBytes = 1 << 20

// ProblemContentType is the media type of every error response.
const ProblemContentType = "application/problem+json"

// RetryAfterSeconds is what 503 answers advise; it matches the time a
// circuit breaker stays open.
const RetryAfterSeconds = 5

const loggerKey = "httpapi.logger"

// Problem is an RFC 9457 problem details object.
type Problem struct {
	Type      string              `json:"type"`
	Title     string              `json:"title"`
	Status    int                 `json:"status"`
	Detail    string              `json:"detail,omitempty"`
	Instance  string              `json:"instance,omitempty"`
	RequestID string              `json:"request_id,omitempty"`
	Errors    []apperr.FieldError `json:"errors,omitempty"`
}

// statusOf is the one table from error codes to HTTP statuses.
var statusOf = map[apperr.Code]int{
	apperr.BadRequest:   http.StatusBadRequest,
	apperr.Unauthorized: http.StatusUnauthorized,
	apperr.Forbidden:    http.StatusForbidden,
	apperr.NotFound:     http.StatusNotFound,
	apperr.Conflict:     http.StatusConflict,
	apperr.Invalid:      http.StatusUnprocessableEntity,
	apperr.TooLarge:     http.StatusRequestEntityTooLarge,
	apperr.Unsupported:  http.StatusUnsupportedMediaType,
	apperr.Unavailable:  http.StatusServiceUnavailable,
	apperr.Internal:     http.StatusInternalServerError,
}

// Status returns the HTTP status for err.
func Status(err error) int {
	if s, ok := statusOf[apperr.CodeOf(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

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
	// Only addresses inside a VPC or on the host can be proxies (the ALB,
	// the local edge); anything else in X-Forwarded-For is client-supplied.
	_ = r.SetTrustedProxies([]string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "::1"})

	quiet := map[string]bool{"/livez": true, "/readyz": true}
	for _, p := range opts.Quiet {
		quiet[p] = true
	}
	r.Use(requestID(log), recovery(), accessLog(quiet), limitBody(MaxBodyBytes))
	r.NoRoute(func(c *gin.Context) {
		WriteProblem(c, Problem{Status: http.StatusNotFound, Detail: "no such resource"})
	})
	r.NoMethod(func(c *gin.Context) {
		WriteProblem(c, Problem{Status: http.StatusMethodNotAllowed, Detail: "method not allowed on this resource"})
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
					WriteProblem(c, Problem{Status: http.StatusInternalServerError, Detail: "an unexpected error occurred"})
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
			WriteProblem(c, Problem{Status: http.StatusRequestEntityTooLarge,
				Detail: fmt.Sprintf("request body exceeds %d bytes", n)})
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, n)
		c.Next()
	}
}

// WriteProblem writes p as application/problem+json and aborts the chain.
func WriteProblem(c *gin.Context, p Problem) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	if p.RequestID == "" {
		p.RequestID = requestid.From(c.Request.Context())
	}
	if p.Status == http.StatusServiceUnavailable && c.Writer.Header().Get("Retry-After") == "" {
		c.Header("Retry-After", strconv.Itoa(RetryAfterSeconds))
	}
	c.Header("Cache-Control", "no-store")
	c.Render(p.Status, problemRender{p})
	c.Abort()
}

// Error writes err as a problem. Internal errors are logged with the request
// id and answered without detail; everything else was meant for the client.
func Error(c *gin.Context, err error) {
	status := Status(err)
	p := Problem{Status: status}
	if e, ok := apperr.As(err); ok && status != http.StatusInternalServerError {
		p.Type = e.Type
		p.Detail = e.Message
		p.Errors = e.Fields
	}
	switch status {
	case http.StatusInternalServerError:
		Logger(c).ErrorContext(c.Request.Context(), "internal error", "error", err.Error())
		p.Detail = "an unexpected error occurred; quote the request id when reporting it"
	case http.StatusServiceUnavailable:
		Logger(c).WarnContext(c.Request.Context(), "dependency unavailable", "error", err.Error())
	case http.StatusUnauthorized:
		c.Header("WWW-Authenticate", `Bearer realm="fargateshop"`)
	}
	WriteProblem(c, p)
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
