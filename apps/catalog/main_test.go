package main

import (
	"context"
	"encoding/json"
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

const testToken = "main-test-admin-token"

func TestLoadSettings(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr []string // substrings of the error, all of them
	}{
		{"defaults", map[string]string{"PGHOST": "db", "ADMIN_TOKEN": testToken}, nil},
		{"database url", map[string]string{"DATABASE_URL": "postgres://x@db/shop", "ADMIN_TOKEN": testToken}, nil},
		{"password from Secrets Manager", map[string]string{"PGHOST": "db", "ADMIN_TOKEN": testToken,
			"PGPASSWORD_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-0a1b-AbCdEf"}, nil},
		{"nothing set", map[string]string{}, []string{"ADMIN_TOKEN is required", "DATABASE_URL or PGHOST"}},
		{"every problem at once", map[string]string{
			"ADMIN_TOKEN": "too-short", "DB_MAX_CONNS": "0", "RESERVATION_TTL": "soon",
			"SWEEP_INTERVAL": "-1s", "LOG_LEVEL": "loud", "PORT": "http", "PGPASSWORD_SECRET_ARN": "rds!db-0a1b",
			"DEMO_DATA": "yes",
		}, []string{"ADMIN_TOKEN must be at least 16", "DB_MAX_CONNS", "RESERVATION_TTL", "SWEEP_INTERVAL",
			"LOG_LEVEL", "PORT", "DATABASE_URL or PGHOST", "PGPASSWORD_SECRET_ARN must be the ARN", "DEMO_DATA"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := loadSettings(servertest.Env(tt.env))
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				if s.MaxConns != 10 || s.ReservationTTL != time.Minute || s.SweepInterval != 5*time.Second || s.DemoData {
					t.Errorf("got %+v, want the defaults", s)
				}
				return
			}
			servertest.ErrorMentions(t, err, tt.wantErr...)
			if strings.Contains(err.Error(), "too-short") {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}
}

// DEMO_DATA is an opt-in read strictly: a value that is neither "true" nor
// "false" stops the start instead of quietly meaning one of them.
func TestDemoDataIsOptIn(t *testing.T) {
	for _, tt := range []struct {
		value   string
		want    bool
		wantErr bool
	}{
		{"", false, false}, {"false", false, false}, {"true", true, false},
		{"TRUE", false, true}, {"1", false, true}, {"yes", false, true},
	} {
		env := map[string]string{"PGHOST": "db", "ADMIN_TOKEN": testToken, "DEMO_DATA": tt.value}
		s, err := loadSettings(servertest.Env(env))
		if tt.wantErr {
			if err == nil || !strings.Contains(err.Error(), "DEMO_DATA") {
				t.Errorf("DEMO_DATA=%q: got %v, want an error naming DEMO_DATA", tt.value, err)
			}
			continue
		}
		if err != nil || s.DemoData != tt.want {
			t.Errorf("DEMO_DATA=%q: got %v, %v; want %v", tt.value, s.DemoData, err, tt.want)
		}
	}
}

func TestRunRejectsBadConfigAtOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), slog.New(slog.DiscardHandler), servertest.Env(nil), ln)
	if err == nil || !strings.Contains(err.Error(), "ADMIN_TOKEN") {
		t.Fatalf("got %v, want a configuration error", err)
	}
}

// TestRun starts the real program on a fresh database, uses it over HTTP,
// and checks that it shuts down cleanly.
func TestRun(t *testing.T) {
	env := map[string]string{
		"DATABASE_URL":    postgrestest.NewDatabase(t),
		"ADMIN_TOKEN":     testToken,
		"RESERVATION_TTL": "300ms",
		"SWEEP_INTERVAL":  "50ms",
	}
	prog := servertest.Start(t, run, env)
	base := prog.URL

	client := &http.Client{Timeout: 5 * time.Second}
	call := func(method, path, body string, want int) map[string]any {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if method != http.MethodGet {
			req.Header.Set("Authorization", "Bearer "+testToken)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: got status %d, want %d; body %s", method, path, resp.StatusCode, want, b)
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
		return v
	}

	// Without DEMO_DATA a new catalog starts empty, as in production.
	page := call(http.MethodGet, "/api/catalog/products", "", http.StatusOK)
	if items := page["items"].([]any); len(items) != 0 {
		t.Errorf("got %d products without DEMO_DATA, want none", len(items))
	}

	p := call(http.MethodPost, "/api/catalog/products",
		`{"sku":"RUN-1","name":"Run","price_cents":100,"currency":"BRL","stock":5}`, http.StatusCreated)
	id := p["id"].(string)
	call(http.MethodGet, "/api/catalog/products/"+id, "", http.StatusOK)
	call(http.MethodGet, "/api/catalog/products/00000000-0000-4000-8000-000000000000", "", http.StatusNotFound)

	res := call(http.MethodPost, "/internal/reservations",
		`{"order_id":"6d7f3c52-1f8e-4a43-9a0b-3a5c1e2d4f60","items":[{"product_id":"`+id+`","quantity":2}]}`,
		http.StatusCreated)
	if res["status"] != "reserved" {
		t.Errorf("got reservation %v, want reserved", res)
	}
	if stock := call(http.MethodGet, "/api/catalog/products/"+id, "", http.StatusOK)["stock"]; stock != 3.0 {
		t.Errorf("got stock %v after reserving 2 of 5, want 3", stock)
	}
	// Nobody confirms: the sweeper gives the stock back after the TTL.
	for deadline := time.Now().Add(5 * time.Second); ; {
		if call(http.MethodGet, "/api/catalog/products/"+id, "", http.StatusOK)["stock"] == 5.0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the expired reservation was not released within 5 s")
		}
		time.Sleep(50 * time.Millisecond)
	}

	if err := prog.Stop(); err != nil {
		t.Fatalf("run returned %v after cancel, want nil", err)
	}
	if conn, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second); err == nil {
		conn.Close()
		t.Error("the listener still accepts connections after run returned")
	}
}

// TestRunLoadsDemoDataOnce starts the real program twice on one database
// with DEMO_DATA=true: the first start fills the empty catalog, the second,
// like every restart, adds nothing.
func TestRunLoadsDemoDataOnce(t *testing.T) {
	env := map[string]string{"DATABASE_URL": postgrestest.NewDatabase(t), "ADMIN_TOKEN": testToken, "DEMO_DATA": "true"}
	count := func() int {
		t.Helper()
		prog := servertest.Start(t, run, env)
		resp, err := http.Get(prog.URL + "/api/catalog/products?limit=100")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var page struct{ Items []json.RawMessage }
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("list products: status %d, %v", resp.StatusCode, err)
		}
		if err := prog.Stop(); err != nil {
			t.Fatalf("stop: %v", err)
		}
		return len(page.Items)
	}
	first := count()
	if first < 6 {
		t.Errorf("got %d products with DEMO_DATA=true, want the demo products", first)
	}
	if again := count(); again != first {
		t.Errorf("got %d products after a restart, want %d", again, first)
	}
}
