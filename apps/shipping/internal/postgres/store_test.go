package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/fargateshop/shop/apps/shipping/internal/shipment"
	"github.com/fargateshop/shop/platform/events"
	"github.com/fargateshop/shop/platform/postgres/postgrestest"
)

// confirmed returns an order.confirmed body for order, with its own event id.
func confirmed(t *testing.T, order uuid.UUID) []byte {
	t.Helper()
	b, err := json.Marshal(events.OrderConfirmed{
		ID: uuid.New(), Type: events.TypeOrderConfirmed, Time: time.Now().UTC(),
		Order: events.Order{ID: order, Email: "ada@example.com", TotalCents: 300, Currency: "EUR", Items: []events.Item{
			{ProductID: "0b9e3f8c-1d2a-4c5b-9e6f-7a8b9c0d1e2f", SKU: "MUG-1", Quantity: 1},
			{ProductID: "1c8f2a7d-3e4b-4d6c-8f7a-6b5c4d3e2f1a", SKU: "TEE-2", Quantity: 2},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newService(t *testing.T) (*shipment.Service, *Store) {
	store := New(postgrestest.NewPool(t, Migrate))
	return shipment.New(slog.New(slog.DiscardHandler), store), store
}

func count(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), "SELECT count(*) FROM shipping.shipments").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestApplyCreatesOneShipmentPerOrder(t *testing.T) {
	ctx := context.Background()
	order := uuid.New()
	first := confirmed(t, order)
	for _, tc := range []struct {
		name   string
		bodies [][]byte
	}{
		{"once", [][]byte{first}},
		{"the same event twice", [][]byte{first, first}},
		{"two events for one order", [][]byte{first, confirmed(t, order)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, store := newService(t)
			for i, b := range tc.bodies {
				if err := svc.Apply(ctx, events.TypeOrderConfirmed, b); err != nil {
					t.Fatalf("Apply #%d: %v", i+1, err)
				}
			}
			if n := count(t, store); n != 1 {
				t.Fatalf("shipments: got %d, want 1", n)
			}
			got, err := store.Get(ctx, order)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			want := []shipment.Item{
				{ProductID: "0b9e3f8c-1d2a-4c5b-9e6f-7a8b9c0d1e2f", SKU: "MUG-1", Quantity: 1},
				{ProductID: "1c8f2a7d-3e4b-4d6c-8f7a-6b5c4d3e2f1a", SKU: "TEE-2", Quantity: 2},
			}
			firstEvent, _ := events.DecodeOrderConfirmed(first)
			if got.OrderID != order || got.EventID != firstEvent.ID || got.Status != shipment.Pending ||
				got.Email != "ada@example.com" || !slices.Equal(got.Items, want) || got.CreatedAt.IsZero() {
				t.Errorf("shipment: got %+v, want order %s from event %s, pending, items %v", got, order, firstEvent.ID, want)
			}
		})
	}
}

// TestConcurrentDuplicatesCreateOne applies one event, and a second event
// for the same order, from many goroutines at once.
func TestConcurrentDuplicatesCreateOne(t *testing.T) {
	svc, store := newService(t)
	order := uuid.New()
	bodies := [][]byte{confirmed(t, order), confirmed(t, order)}
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Go(func() { errs[i] = svc.Apply(context.Background(), events.TypeOrderConfirmed, bodies[i%2]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if n := count(t, store); n != 1 {
		t.Errorf("shipments: got %d, want 1", n)
	}
}

func TestApplyRefusesInvalidEvents(t *testing.T) {
	order := uuid.New()
	valid := confirmed(t, order)
	var e map[string]any
	if err := json.Unmarshal(valid, &e); err != nil {
		t.Fatal(err)
	}
	without := func(key string) []byte {
		c := map[string]any{}
		for k, v := range e {
			if k != key {
				c[k] = v
			}
		}
		b, _ := json.Marshal(c)
		return b
	}
	for _, tc := range []struct {
		name      string
		eventType string
		body      []byte
	}{
		{"not JSON", events.TypeOrderConfirmed, []byte("{not json")},
		{"no event id", events.TypeOrderConfirmed, without("id")},
		{"no order", events.TypeOrderConfirmed, without("order")},
		{"no type attribute and an empty body", "", []byte("")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, store := newService(t)
			err := svc.Apply(context.Background(), tc.eventType, tc.body)
			if !errors.Is(err, events.ErrInvalid) {
				t.Errorf("Apply: got %v, want an error wrapping events.ErrInvalid", err)
			}
			if n := count(t, store); n != 0 {
				t.Errorf("shipments: got %d, want none", n)
			}
		})
	}
}

func TestApplyIgnoresOtherEventTypes(t *testing.T) {
	svc, store := newService(t)
	if err := svc.Apply(context.Background(), "order.cancelled", []byte(`{"anything":1}`)); err != nil {
		t.Errorf("Apply: got %v, want nil", err)
	}
	if n := count(t, store); n != 0 {
		t.Errorf("shipments: got %d, want none", n)
	}
}

func TestGetMissing(t *testing.T) {
	_, store := newService(t)
	_, err := store.Get(context.Background(), uuid.New())
	if !errors.Is(err, shipment.ErrNotFound) {
		t.Errorf("Get: got %v, want %v", err, shipment.ErrNotFound)
	}
}

// TestGetAfterCancel: a caller that gave up is not told the shipment is
// missing.
func TestGetAfterCancel(t *testing.T) {
	_, store := newService(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := store.Get(ctx, uuid.New())
	if err == nil || errors.Is(err, shipment.ErrNotFound) || !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a cancelled context: got %v, want context.Canceled", fmt.Sprint(err))
	}
}
