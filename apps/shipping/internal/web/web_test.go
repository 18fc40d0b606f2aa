package web

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRoutes(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	up := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("connection refused") }
	for _, tc := range []struct {
		name     string
		ready    func(context.Context) error
		method   string
		path     string
		status   int
		contains string
	}{
		{"hello", up, http.MethodGet, Prefix + "/hello", http.StatusOK, `{"service":"shipping","message":"hello"}`},
		{"liveness ignores dependencies", down, http.MethodGet, "/livez", http.StatusOK, "ok"},
		{"ready", up, http.MethodGet, "/readyz", http.StatusOK, "ok"},
		{"not ready", down, http.MethodGet, "/readyz", http.StatusServiceUnavailable, "not ready"},
		{"unknown path", up, http.MethodGet, Prefix + "/nothing", http.StatusNotFound, "no such resource"},
		{"wrong method", up, http.MethodPost, Prefix + "/hello", http.StatusMethodNotAllowed, "method not allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			New(log, tc.ready).ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.contains) {
				t.Errorf("%s %s: got %d %q, want %d containing %q", tc.method, tc.path, rec.Code, rec.Body, tc.status, tc.contains)
			}
		})
	}
}
