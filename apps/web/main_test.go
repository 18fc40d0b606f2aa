package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fargateshop/shop/platform/server/servertest"
)

// TestProgram starts the real program on a free port against a fake catalog.
func TestProgram(t *testing.T) {
	cat := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"items": []map[string]any{
			{"id": "p1", "sku": "MUG-1", "name": "Coffee mug", "price_cents": 1250, "currency": "EUR", "stock": 3, "created_at": "2024-01-01T00:00:00Z"},
		}})
	}))
	defer cat.Close()

	prog := servertest.Start(t, run, map[string]string{"CATALOG_URL": cat.URL})
	base := prog.URL
	client := &http.Client{Timeout: 5 * time.Second}
	for _, tc := range []struct {
		path     string
		status   int
		contains string
	}{
		{"/livez", 200, "ok"},
		{"/readyz", 200, "ok"},
		{"/", 200, "€12.50"},
		{"/missing", 404, "Page not found"},
	} {
		res, err := client.Get(base + tc.path)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.path, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.status || !strings.Contains(string(b), tc.contains) {
			t.Errorf("GET %s = %d %q, want %d containing %q", tc.path, res.StatusCode, b, tc.status, tc.contains)
		}
	}

	if err := prog.Stop(); err != nil {
		t.Errorf("run returned %v after shutdown, want nil", err)
	}
}

func TestProgramRejectsBadConfig(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	getenv := func(k string) (string, bool) {
		if k == "CATALOG_URL" {
			return "catalog:8080", true
		}
		return "", false
	}
	err = run(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), getenv, ln)
	if err == nil || !strings.Contains(err.Error(), "CATALOG_URL") {
		t.Errorf("run with a bad CATALOG_URL = %v, want an error naming it", err)
	}
}
