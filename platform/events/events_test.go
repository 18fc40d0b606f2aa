package events

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func valid() OrderConfirmed {
	return OrderConfirmed{
		ID:   uuid.New(),
		Type: TypeOrderConfirmed,
		Time: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC),
		Order: Order{
			ID:         uuid.New(),
			Email:      "a@example.com",
			Items:      []Item{{ProductID: uuid.NewString(), SKU: "MUG-1", Quantity: 2}},
			TotalCents: 2400,
			Currency:   "EUR",
		},
	}
}

func TestDecodeOrderConfirmedRoundTrip(t *testing.T) {
	want := valid()
	body, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeOrderConfirmed(body)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if got.ID != want.ID || got.Order.ID != want.Order.ID || !got.Time.Equal(want.Time) ||
		got.Order.Items[0] != want.Order.Items[0] || got.Order.TotalCents != 2400 {
		t.Errorf("round trip: got %+v, want %+v", got, want)
	}
}

func TestDecodeOrderConfirmedRefuses(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*OrderConfirmed)
		body   string
		want   string
	}{
		{name: "not JSON", body: "{not json", want: "invalid character"},
		{name: "a JSON array", body: "[]", want: "cannot unmarshal array"},
		{name: "no id", mutate: func(e *OrderConfirmed) { e.ID = uuid.Nil }, want: "id is missing"},
		{name: "another type", mutate: func(e *OrderConfirmed) { e.Type = "order.refused" }, want: `type is "order.refused"`},
		{name: "no time", mutate: func(e *OrderConfirmed) { e.Time = time.Time{} }, want: "time is missing"},
		{name: "no order id", mutate: func(e *OrderConfirmed) { e.Order.ID = uuid.Nil }, want: "order.id is missing"},
		{name: "no items", mutate: func(e *OrderConfirmed) { e.Order.Items = nil }, want: "order.items is empty"},
		{name: "bad product id", mutate: func(e *OrderConfirmed) { e.Order.Items[0].ProductID = "mug" }, want: "product_id is not a UUID"},
		{name: "zero quantity", mutate: func(e *OrderConfirmed) { e.Order.Items[0].Quantity = 0 }, want: "quantity is 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			if tt.mutate != nil {
				e := valid()
				tt.mutate(&e)
				var err error
				if body, err = json.Marshal(e); err != nil {
					t.Fatal(err)
				}
			}
			_, err := DecodeOrderConfirmed(body)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}
}
