package harness_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fargateshop/shop/platform/postgres/postgrestest"
	"github.com/fargateshop/shop/systemtest/harness"
)

func TestStartRestartClose(t *testing.T) {
	dsn := postgrestest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	sys, err := harness.Start(ctx, harness.Options{DatabaseURL: dsn})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()

	get := func(url string) int {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// Through the edge, with the demo products the harness asks catalog for.
	resp, err := http.Get(sys.EdgeURL + "/api/catalog/products")
	if err != nil {
		t.Fatal(err)
	}
	var page struct{ Items []json.RawMessage }
	err = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || len(page.Items) == 0 {
		t.Fatalf("GET /api/catalog/products through the edge = %d with %d products (%v), want 200 with the demo products",
			resp.StatusCode, len(page.Items), err)
	}
	for _, name := range harness.Services {
		if sys.PID(name) == 0 {
			t.Errorf("PID(%s) = 0, want a running process", name)
		}
		if sys.URL(name) == "" {
			t.Errorf("URL(%s) is empty", name)
		}
	}

	oldPID := sys.PID("catalog")
	if err := sys.Restart(ctx, "catalog"); err != nil {
		t.Fatal(err)
	}
	if sys.PID("catalog") == oldPID || sys.PID("catalog") == 0 {
		t.Errorf("catalog PID after restart = %d, was %d", sys.PID("catalog"), oldPID)
	}
	if got := get(sys.CatalogURL + "/readyz"); got != http.StatusOK {
		t.Errorf("catalog /readyz after restart = %d, want 200", got)
	}
	// A graceful SIGTERM drain is logged and ends with exit code 0.
	if err := sys.Signal("web", syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := sys.Wait(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if sys.Running("web") || sys.ExitCode("web") != 0 {
		t.Errorf("web after SIGTERM: running=%v exit=%d, want stopped with 0", sys.Running("web"), sys.ExitCode("web"))
	}
	if err := sys.Stop("orders"); err != nil {
		t.Fatal(err)
	}
	if err := sys.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range harness.Services {
		if sys.Running(name) {
			t.Errorf("%s still running after Close", name)
		}
	}
	if !strings.Contains(sys.Logs("catalog"), `"msg":"listening"`) {
		t.Errorf("catalog logs lack the listening line:\n%s", sys.Logs("catalog"))
	}
	if n := strings.Count(sys.Logs("catalog"), `"msg":"listening"`); n != 2 {
		t.Errorf("catalog logged listening %d times, want 2 (start + restart)", n)
	}
}

func TestCreateDatabase(t *testing.T) {
	if harness.ServerURL() == "" {
		t.Fatal("TEST_DATABASE_URL is not set; start one with eval \"$(scripts/test-postgres.sh)\"")
	}
	ctx := context.Background()
	dsn, drop, err := harness.CreateDatabase(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dsn, "/harness_") {
		t.Errorf("dsn = %s, want a harness_ database", dsn)
	}
	if err := drop(ctx); err != nil {
		t.Fatal(err)
	}
}
