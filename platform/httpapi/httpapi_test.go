package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/fargateshop/shop/platform/apperr"
	"github.com/fargateshop/shop/platform/logging"
	"github.com/fargateshop/shop/platform/problem"
	"github.com/fargateshop/shop/platform/requestid"
)

type item struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

func newTestEngine(logs io.Writer) *gin.Engine {
	log := logging.New(logs, "info", "test")
	r := NewEngine(log, Options{})
	r.POST("/items", func(c *gin.Context) {
		var in item
		if err := DecodeJSON(c, &in); err != nil {
			Error(c, err)
			return
		}
		c.JSON(http.StatusCreated, in)
	})
	r.GET("/boom", func(c *gin.Context) { panic("secret internals") })
	r.GET("/fail", func(c *gin.Context) { Error(c, errors.New("db password=hunter2 rejected")) })
	r.GET("/gone", func(c *gin.Context) {
		// What a dependency call answers once the client hung up.
		Error(c, apperr.Wrap(apperr.Unavailable, fmt.Errorf("query: %w", c.Request.Context().Err()), "the database is unavailable"))
	})
	r.GET("/down", func(c *gin.Context) {
		Error(c, apperr.Wrap(apperr.Unavailable, errors.New("dial"), "catalog is unavailable"))
	})
	Health(r, nil)
	return r
}

func TestProblems(t *testing.T) {
	tests := []struct {
		name, method, path, ctype, body string
		wantStatus                      int
		wantField                       string
	}{
		{"unknown route", "GET", "/nope", "", "", 404, ""},
		{"wrong method", "DELETE", "/items", "", "", 405, ""},
		{"malformed json", "POST", "/items", "application/json", `{"name":`, 400, ""},
		{"syntax error", "POST", "/items", "application/json", `{"name" "x"}`, 400, ""},
		{"unknown field", "POST", "/items", "application/json", `{"name":"a","extra":1}`, 400, "extra"},
		{"wrong type", "POST", "/items", "application/json", `{"name":"a","count":"3"}`, 400, "count"},
		{"overflow", "POST", "/items", "application/json", `{"count":99999999999999999999999}`, 400, "count"},
		{"trailing data", "POST", "/items", "application/json", `{"name":"a"} {"name":"b"}`, 400, ""},
		{"empty body", "POST", "/items", "application/json", ``, 400, ""},
		{"wrong content type", "POST", "/items", "text/plain", `{"name":"a"}`, 415, ""},
		{"too large", "POST", "/items", "application/json", `{"name":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, 413, ""},
		{"panic", "GET", "/boom", "", "", 500, ""},
		{"internal", "GET", "/fail", "", "", 500, ""},
		{"unavailable", "GET", "/down", "", "", 503, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			r := newTestEngine(&logs)
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.wantStatus, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != problem.ContentType {
				t.Errorf("Content-Type = %q, want %q", ct, problem.ContentType)
			}
			var p problem.Problem
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
				t.Fatalf("body is not a problem: %v: %s", err, w.Body)
			}
			if p.Status != tt.wantStatus || p.Title == "" || p.Type == "" || p.RequestID == "" {
				t.Errorf("problem = %+v, want status %d with type, title and request id", p, tt.wantStatus)
			}
			if tt.wantField != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tt.wantField) {
				t.Errorf("errors = %+v, want one for field %q", p.Errors, tt.wantField)
			}
			if strings.Contains(w.Body.String(), "secret") || strings.Contains(w.Body.String(), "hunter2") {
				t.Errorf("response leaks internals: %s", w.Body)
			}
			if tt.wantStatus == 503 && w.Header().Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if tt.wantStatus == 500 && !strings.Contains(logs.String(), p.RequestID) {
				t.Errorf("500 not logged with its request id %q: %s", p.RequestID, logs.String())
			}
		})
	}
}

func TestDecodeAccepts(t *testing.T) {
	r := newTestEngine(io.Discard)
	for _, ctype := range []string{"", "application/json", "application/json; charset=utf-8", "application/merge-patch+json"} {
		req := httptest.NewRequest("POST", "/items", strings.NewReader(`{"name":"pen","count":2}`))
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Code != http.StatusCreated {
			t.Errorf("Content-Type %q: status = %d, want 201; body %s", ctype, w.Code, w.Body)
		}
	}
}

func TestRequestID(t *testing.T) {
	r := newTestEngine(io.Discard)
	tests := []struct {
		sent   string
		reused bool
	}{
		{"abc-123", true},
		{"", false},
		{"bad id with spaces", false},
		{strings.Repeat("x", 200), false},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("GET", "/livez", nil)
		if tt.sent != "" {
			req.Header.Set(requestid.Header, tt.sent)
		}
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		got := w.Header().Get(requestid.Header)
		if !requestid.Valid(got) {
			t.Errorf("sent %q: response id %q is not valid", tt.sent, got)
		}
		if (got == tt.sent) != tt.reused {
			t.Errorf("sent %q: got %q, reused = %v, want %v", tt.sent, got, got == tt.sent, tt.reused)
		}
	}
}

func TestReadyz(t *testing.T) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	for _, tt := range []struct {
		err  error
		want int
	}{{nil, 200}, {errors.New("db down"), 503}} {
		r := NewEngine(log, Options{})
		Health(r, func(context.Context) error { return tt.err })
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
		if w.Code != tt.want {
			t.Errorf("ready error %v: status = %d, want %d", tt.err, w.Code, tt.want)
		}
		w = httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest("GET", "/livez", nil))
		if w.Code != 200 {
			t.Errorf("livez = %d, want 200 whatever the dependencies", w.Code)
		}
	}
}

// logLines decodes the JSON log lines in logs.
func logLines(t *testing.T, logs *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestPanicIsAccessLogged(t *testing.T) {
	var logs bytes.Buffer
	r := newTestEngine(&logs)
	w := httptest.NewRecorder()
	r.ServeHTTP(w, httptest.NewRequest("GET", "/boom", nil))
	var access map[string]any
	for _, l := range logLines(t, &logs) {
		if l["msg"] == "request" {
			access = l
		}
	}
	if access == nil || access["status"] != float64(500) || access["path"] != "/boom" {
		t.Fatalf("access log line %v, want one for /boom with status 500; logs:\n%s", access, logs.String())
	}
}

func TestCancelledRequestIsNotAnOutage(t *testing.T) {
	tests := []struct {
		path      string
		cancel    bool
		wantLevel string
	}{{"/gone", true, "INFO"}, {"/down", false, "WARN"}}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			var logs bytes.Buffer
			r := newTestEngine(&logs)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				cancel()
			}
			r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", tt.path, nil).WithContext(ctx))
			var levels []string
			for _, l := range logLines(t, &logs) {
				if l["msg"] != "request" {
					levels = append(levels, fmt.Sprint(l["level"]))
				}
			}
			if len(levels) != 1 || levels[0] != tt.wantLevel {
				t.Errorf("error log levels %v, want [%s]; logs:\n%s", levels, tt.wantLevel, logs.String())
			}
		})
	}
}
