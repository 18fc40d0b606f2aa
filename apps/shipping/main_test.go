package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fargateshop/shop/platform/postgres/postgrestest"
	"github.com/fargateshop/shop/platform/server/servertest"
)

// TestProgram starts the real program on a free port against a throwaway
// database.
func TestProgram(t *testing.T) {
	env := map[string]string{}
	env["DATABASE_URL"] = postgrestest.NewDatabase(t)
	prog := servertest.Start(t, run, env)
	client := &http.Client{Timeout: 5 * time.Second}
	for _, tc := range []struct {
		path     string
		status   int
		contains string
	}{
		{"/livez", 200, "ok"},
		{"/readyz", 200, "ok"},
		{"/version", 200, "dev"},
		{"/api/shipping/hello", 200, `"service":"shipping"`},
		{"/api/shipping/missing", 404, "no such resource"},
	} {
		res, err := client.Get(prog.URL + tc.path)
		if err != nil {
			t.Fatalf("GET %s: %v", tc.path, err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != tc.status || !strings.Contains(string(b), tc.contains) {
			t.Errorf("GET %s: got %d %q, want %d containing %q", tc.path, res.StatusCode, b, tc.status, tc.contains)
		}
	}
	if err := prog.Stop(); err != nil {
		t.Errorf("run after shutdown: got %v, want nil", err)
	}
}

func TestProgramRejectsBadConfig(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	env := map[string]string{"PORT": "http", "LOG_LEVEL": "loud"}
	err = run(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), servertest.Env(env), ln)
	servertest.ErrorMentions(t, err, "PORT", "LOG_LEVEL", "DATABASE_URL or PGHOST")
}
