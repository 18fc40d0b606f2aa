package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fargateshop/shop/systemtest/harness"
)

// TestDBFloorAnswersLikeCatalog starts the real catalog and asks it and the
// database floor for the same product: the bytes must be equal, so the
// floor does the catalog's work and not less. The product has characters
// encoding/json escapes.
func TestDBFloorAnswersLikeCatalog(t *testing.T) {
	if harness.ServerURL() == "" {
		t.Fatal("TEST_DATABASE_URL (or DATABASE_URL) is not set; start one with: eval \"$(scripts/test-postgres.sh)\"")
	}
	ctx := t.Context()
	bins, err := harness.Build(ctx, t.TempDir(), "catalog")
	if err != nil {
		t.Fatal(err)
	}
	dsn, drop, err := harness.CreateDatabase(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := drop(context.WithoutCancel(ctx)); err != nil {
			t.Errorf("drop database: %v", err)
		}
	}()
	const token = "bench-admin-token-0123456789"
	vars := catalogEnv()
	vars["DATABASE_URL"], vars["ADMIN_TOKEN"] = dsn, token
	catalog, err := startService(ctx, bins["catalog"], vars, "")
	if err != nil {
		t.Fatal(err)
	}
	defer catalog.stop()

	status, body, err := do(ctx, http.MethodPost, catalog.base+"/api/catalog/products",
		`{"sku":"BENCH-ESC-1","name":"Mug <\"Gopher\"> & co","description":"Ünïcödé, tab\t and \u2028 line separator",`+
			`"price_cents":1299,"currency":"EUR","stock":7}`, "Authorization", "Bearer "+token)
	if err != nil || status != http.StatusCreated {
		t.Fatalf("create product: %d %s %v\n%s", status, body, err, catalog.logs())
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &created); err != nil || created.ID == "" {
		t.Fatalf("create product: no id in %s (%v)", body, err)
	}

	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	floor := httptest.NewServer(floorHandler(slog.New(slog.DiscardHandler), fromDatabase(pool)))
	defer floor.Close()

	for _, tt := range []struct {
		id         string
		wantStatus int
	}{{created.ID, http.StatusOK}, {"5d0c1f43-0000-4000-8000-000000000000", http.StatusNotFound}} {
		path := "/api/catalog/products/" + tt.id
		cs, cb, err := do(ctx, http.MethodGet, catalog.base+path, "")
		if err != nil || cs != tt.wantStatus {
			t.Fatalf("catalog GET %s: %d %s %v", path, cs, cb, err)
		}
		fs, fb, err := do(ctx, http.MethodGet, floor.URL+path, "")
		if err != nil || fs != tt.wantStatus {
			t.Fatalf("floor GET %s: got %d %s %v, want %d", path, fs, fb, err, tt.wantStatus)
		}
		if tt.wantStatus == http.StatusOK && string(fb) != string(cb) {
			t.Errorf("GET %s:\n floor   %s\n catalog %s", path, fb, cb)
		}
	}
	// sameBody, which bench runs before measuring, agrees.
	if err := sameBody(ctx, floor.URL+"/api/catalog/products/"+created.ID, catalog.base+"/api/catalog/products/"+created.ID); err != nil {
		t.Error(err)
	}
}
