package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fargateshop/shop/platform/events"
	"github.com/fargateshop/shop/platform/messaging"
	"github.com/fargateshop/shop/platform/messaging/messagingtest"
	"github.com/fargateshop/shop/platform/postgres/postgrestest"
	"github.com/fargateshop/shop/platform/server/servertest"
)

const queueURL = "http://broker:4100/000000000000/shipping-order-events"

func TestLoadSettings(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		wantErr []string // substrings; nil means valid
	}{
		{"database and queue", map[string]string{"DATABASE_URL": "postgres://x/y", "ORDER_EVENTS_QUEUE_URL": queueURL}, nil},
		{"AWS queue URL", map[string]string{"PGHOST": "db",
			"ORDER_EVENTS_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/shipping-order-events"}, nil},
		{"no queue", map[string]string{"DATABASE_URL": "postgres://x/y"}, []string{"ORDER_EVENTS_QUEUE_URL is required"}},
		{"queue not a URL", map[string]string{"DATABASE_URL": "postgres://x/y", "ORDER_EVENTS_QUEUE_URL": "shipping-order-events"},
			[]string{"ORDER_EVENTS_QUEUE_URL must be an absolute http(s) URL"}},
		{"everything wrong at once", map[string]string{"PORT": "http", "LOG_LEVEL": "loud", "DB_MAX_CONNS": "0"},
			[]string{"PORT", "LOG_LEVEL", "DB_MAX_CONNS", "DATABASE_URL or PGHOST", "ORDER_EVENTS_QUEUE_URL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := loadSettings(servertest.Env(tc.env))
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("loadSettings: %v", err)
				}
				if s.QueueURL != tc.env["ORDER_EVENTS_QUEUE_URL"] {
					t.Errorf("QueueURL: got %q, want %q", s.QueueURL, tc.env["ORDER_EVENTS_QUEUE_URL"])
				}
				return
			}
			servertest.ErrorMentions(t, err, tc.wantErr...)
		})
	}
}

// TestProgram starts the real program on a free port against a throwaway
// database and a fake of its queue: an order.confirmed event becomes a
// shipment the API serves, and only then is the message deleted; a poison
// message is released for the dead-letter queue.
func TestProgram(t *testing.T) {
	queue := messagingtest.NewSQS(t, queueURL)
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_ENDPOINT_URL_SQS", queue.URL())
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	prog := servertest.Start(t, run, map[string]string{
		"DATABASE_URL":           postgrestest.NewDatabase(t),
		"ORDER_EVENTS_QUEUE_URL": queueURL,
	})
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(path string) (int, string) {
		t.Helper()
		res, err := client.Get(prog.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}

	order := uuid.New()
	shipmentPath := "/api/shipping/shipments/" + order.String()
	if status, body := get(shipmentPath); status != http.StatusNotFound {
		t.Errorf("GET %s before the event: got %d %s, want 404", shipmentPath, status, body)
	}
	body, err := json.Marshal(events.OrderConfirmed{ID: uuid.New(), Type: events.TypeOrderConfirmed, Time: time.Now().UTC(),
		Order: events.Order{ID: order, Email: "ada@example.com", TotalCents: 500, Currency: "EUR",
			Items: []events.Item{{ProductID: uuid.NewString(), SKU: "MUG-1", Quantity: 1}}}})
	if err != nil {
		t.Fatal(err)
	}
	queue.Add(messagingtest.Message{ID: "event", Body: string(body), ReceiveCount: 1,
		Attributes: map[string]string{messaging.AttrEventType: events.TypeOrderConfirmed}})
	queue.Add(messagingtest.Message{ID: "poison", Body: "{not json", ReceiveCount: 1})
	log := queue.Await(2)
	slices.Sort(log)
	if want := []string{"delete rh-event", "visibility rh-poison 0"}; !slices.Equal(log, want) {
		t.Errorf("queue log: got %q, want %q", log, want)
	}

	for _, tc := range []struct {
		path     string
		status   int
		contains string
	}{
		{"/livez", 200, "ok"},
		{"/readyz", 200, "ok"},
		{"/version", 200, "dev"},
		{shipmentPath, 200, `"order_id":"` + order.String() + `","status":"pending","items":[{"product_id":`},
		{"/api/shipping/missing", 404, "no such resource"},
	} {
		if status, body := get(tc.path); status != tc.status || !strings.Contains(body, tc.contains) {
			t.Errorf("GET %s: got %d %q, want %d containing %q", tc.path, status, body, tc.status, tc.contains)
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
	servertest.ErrorMentions(t, err, "PORT", "LOG_LEVEL", "DATABASE_URL or PGHOST", "ORDER_EVENTS_QUEUE_URL")
}
