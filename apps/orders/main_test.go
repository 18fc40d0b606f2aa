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

	"github.com/fargateshop/shop/apps/orders/internal/catalog/catalogtest"
	"github.com/fargateshop/shop/platform/events"
	"github.com/fargateshop/shop/platform/messaging/messagingtest"
	"github.com/fargateshop/shop/platform/postgres/postgrestest"
	"github.com/fargateshop/shop/platform/server/servertest"
)

func TestLoadSettings(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr []string // substrings; nil means valid
	}{
		{"defaults with DATABASE_URL", map[string]string{"DATABASE_URL": "postgres://x/y"}, nil},
		{"PG variables", map[string]string{"PGHOST": "db"}, nil},
		{"password from Secrets Manager", map[string]string{"PGHOST": "db",
			"PGPASSWORD_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-0a1b-AbCdEf"}, nil},
		{"all set", map[string]string{"DATABASE_URL": "postgres://x/y", "CATALOG_URL": "http://catalog:8080/",
			"DB_MAX_CONNS": "20", "RECONCILE_INTERVAL": "2s", "ORDER_LEASE": "10s", "LOG_LEVEL": "debug"}, nil},
		{"order events topic", map[string]string{"DATABASE_URL": "postgres://x/y",
			"ORDER_EVENTS_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:order-events"}, nil},
		{"order events topic not an ARN", map[string]string{"DATABASE_URL": "postgres://x/y",
			"ORDER_EVENTS_TOPIC_ARN": "order-events"}, []string{"ORDER_EVENTS_TOPIC_ARN must be an SNS topic ARN"}},
		{"no database", map[string]string{}, []string{"DATABASE_URL or PGHOST"}},
		{"everything wrong at once", map[string]string{"CATALOG_URL": "catalog:8080", "DB_MAX_CONNS": "0",
			"RECONCILE_INTERVAL": "soon", "LOG_LEVEL": "loud", "ORDER_LEASE": "1s", "PGPASSWORD_SECRET_ARN": "rds!db-0a1b"},
			[]string{"CATALOG_URL", "DB_MAX_CONNS", "RECONCILE_INTERVAL", "LOG_LEVEL", "DATABASE_URL", "ORDER_LEASE", "PGPASSWORD_SECRET_ARN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := loadSettings(servertest.Env(tt.env))
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("loadSettings: %v", err)
				}
				if s.catalogURL == "" || strings.HasSuffix(s.catalogURL, "/") || s.lease < 3*time.Second {
					t.Errorf("settings %+v", s)
				}
				return
			}
			servertest.ErrorMentions(t, err, tt.wantErr...)
		})
	}
}

// TestRun starts the real program in-process on :0 and stops it.
func TestRun(t *testing.T) {
	fake := catalogtest.New(t)
	env := map[string]string{"DATABASE_URL": postgrestest.NewDatabase(t), "CATALOG_URL": fake.URL, "RECONCILE_INTERVAL": "100ms"}
	prog := servertest.Start(t, run, env)
	base := prog.URL
	id := fake.AddProduct(catalogtest.Product{SKU: "A", Name: "A", UnitPriceCents: 100, Stock: 1})
	req, _ := http.NewRequest(http.MethodPost, base+"/api/orders",
		strings.NewReader(`{"email":"ada@example.com","items":[{"product_id":"`+id+`","quantity":1}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "run-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("POST /api/orders: %d, want 201", resp.StatusCode)
	}

	if err := prog.Stop(); err != nil {
		t.Errorf("run: %v", err)
	}
}

// TestRunPublishesOrderEvents: with ORDER_EVENTS_TOPIC_ARN set, a placed
// order's order.confirmed event reaches SNS (a fake speaking its protocol,
// found through the SDK's own AWS_ENDPOINT_URL_SNS) with its attributes.
func TestRunPublishesOrderEvents(t *testing.T) {
	const topic = "arn:aws:sns:eu-west-1:123456789012:order-events"
	sns := messagingtest.NewSNS(t, topic)
	// The SDK reads its settings from the process environment.
	for k, v := range map[string]string{"AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "test",
		"AWS_SECRET_ACCESS_KEY": "test", "AWS_ENDPOINT_URL_SNS": sns.URL} {
		t.Setenv(k, v)
	}
	fake := catalogtest.New(t)
	prog := servertest.Start(t, run, map[string]string{"DATABASE_URL": postgrestest.NewDatabase(t),
		"CATALOG_URL": fake.URL, "ORDER_EVENTS_TOPIC_ARN": topic})
	id := fake.AddProduct(catalogtest.Product{SKU: "A", Name: "A", UnitPriceCents: 100, Stock: 1})
	req, _ := http.NewRequest(http.MethodPost, prog.URL+"/api/orders",
		strings.NewReader(`{"email":"ada@example.com","items":[{"product_id":"`+id+`","quantity":1}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "run-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/orders: %d, want 201", resp.StatusCode)
	}
	orderID := strings.TrimPrefix(resp.Header.Get("Location"), "/api/orders/")

	got := sns.Await(t, 1)[0]
	ev, err := events.DecodeOrderConfirmed([]byte(got.Message))
	if err != nil {
		t.Fatalf("published body %s: %v", got.Message, err)
	}
	if ev.Order.ID.String() != orderID || ev.Order.Items[0].SKU != "A" || got.Attributes["event_type"] != "String=order.confirmed" {
		t.Errorf("published %+v with attributes %v, want order %s's order.confirmed", ev, got.Attributes, orderID)
	}
	if err := prog.Stop(); err != nil {
		t.Errorf("run: %v", err)
	}
	if n := len(sns.Published()); n != 1 {
		t.Errorf("%d messages published, want 1", n)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = run(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)), servertest.Env(nil), ln)
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Errorf("run without a database: %v", err)
	}
}
