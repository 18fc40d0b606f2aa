// Package web serves the shop's browser UI: the product page rendered on
// the server from catalog, the static assets behind it, and HTML error pages.
// Orders are not handled here: the page's script posts them to /api/orders,
// which the load balancer routes to the orders service.
package web

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/fargateshop/shop/platform/apperr"
	"github.com/fargateshop/shop/platform/httpapi"
	"github.com/fargateshop/shop/platform/problem"
	"github.com/fargateshop/shop/platform/requestid"

	"github.com/fargateshop/shop/apps/web/internal/catalog"
)

//go:embed templates/*.html
var templateFS embed.FS

// Catalog is what the shop page needs from the catalog service.
type Catalog interface {
	Products(ctx context.Context) (catalog.Page, error)
}

// ContentSecurityPolicy allows nothing inline and nothing from elsewhere.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

type handler struct {
	catalog Catalog
}

// New returns the web service's handler. Template errors are bugs and fail
// at start, not on the first request.
func New(log *slog.Logger, cat Catalog) (*gin.Engine, error) {
	assets, err := loadAssets()
	if err != nil {
		return nil, err
	}
	tmpl, err := template.New("").Funcs(template.FuncMap{
		"asset": assets.url,
		"price": FormatPrice,
	}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("parse templates: %w", err)
	}

	r := httpapi.NewEngine(log, httpapi.Options{})
	r.SetHTMLTemplate(tmpl)
	r.Use(securityHeaders, recoverHTML)

	h := &handler{catalog: cat}
	httpapi.Health(r, nil) // no database; never ping catalog from here
	r.Match([]string{http.MethodGet, http.MethodHead}, "/", h.shop)
	r.Match([]string{http.MethodGet, http.MethodHead}, "/static/:name", assets.serve)
	r.NoRoute(func(c *gin.Context) {
		renderError(c, http.StatusNotFound, "Page not found",
			"There is nothing at this address. The shop is one click away.")
	})
	r.NoMethod(func(c *gin.Context) {
		renderError(c, http.StatusMethodNotAllowed, "Method not allowed",
			"This page cannot be used that way.")
	})
	return r, nil
}

// shopPage is what shop.html renders.
type shopPage struct {
	Products    []catalog.Product
	Truncated   bool
	Unavailable bool
	Failed      bool
	RequestID   string
	RetryAfter  int
}

func (h *handler) shop(c *gin.Context) {
	ctx := c.Request.Context()
	page, err := h.catalog.Products(ctx)
	data := shopPage{Products: page.Items, Truncated: page.NextCursor != "", RequestID: requestid.From(ctx)}
	status := http.StatusOK
	switch {
	case err == nil:
		c.Header("Cache-Control", "no-store") // stock changes with every order
	case apperr.CodeOf(err) == apperr.Unavailable:
		httpapi.Logger(c).WarnContext(ctx, "catalog unavailable", "error", err.Error())
		status = http.StatusServiceUnavailable
		data.Unavailable = true
		data.RetryAfter = httpapi.RetryAfterSeconds
		c.Header("Retry-After", strconv.Itoa(httpapi.RetryAfterSeconds))
		c.Header("Cache-Control", "no-store")
	default:
		// A 4xx or an unreadable answer from catalog is a bug on one side.
		httpapi.Logger(c).ErrorContext(ctx, "list products", "error", err.Error())
		status = http.StatusInternalServerError
		data.Failed = true
		c.Header("Cache-Control", "no-store")
	}
	c.HTML(status, "shop.html", data)
}

// errorPage is what error.html renders.
type errorPage struct {
	Status    int
	Title     string
	Message   string
	RequestID string
}

// renderError answers an HTML page to browsers and problem+json to clients
// that ask for JSON only.
func renderError(c *gin.Context, status int, title, message string) {
	if status == http.StatusServiceUnavailable {
		c.Header("Retry-After", strconv.Itoa(httpapi.RetryAfterSeconds))
	}
	if !wantsHTML(c.GetHeader("Accept")) {
		httpapi.WriteProblem(c, problem.Problem{Status: status, Detail: message})
		return
	}
	c.Header("Cache-Control", "no-store")
	c.HTML(status, "error.html", errorPage{
		Status: status, Title: title, Message: message,
		RequestID: requestid.From(c.Request.Context()),
	})
	c.Abort()
}

// wantsHTML is true unless the client names JSON without naming HTML:
// browsers send text/html, curl sends */*, API clients send
// application/json or application/problem+json.
func wantsHTML(accept string) bool {
	a := strings.ToLower(accept)
	if strings.Contains(a, "text/html") {
		return true
	}
	return !strings.Contains(a, "json")
}

// securityHeaders sets the headers every answer carries, error pages and
// assets included.
func securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
	c.Next()
}

// recoverHTML turns a panic in a handler into an HTML 500 page. httpapi's
// own recovery, further out, would answer problem+json.
func recoverHTML(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			httpapi.Logger(c).ErrorContext(c.Request.Context(), "panic",
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if !c.Writer.Written() {
				renderError(c, http.StatusInternalServerError, "Something went wrong",
					"An unexpected error occurred. Please try again; if it keeps happening, quote the reference below.")
			}
			c.Abort()
		}
	}()
	c.Next()
}
