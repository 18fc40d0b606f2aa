package catalogapi_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/fargateshop/shop/platform/catalogapi"
)

// TestProductJSON holds the wire form: flat keys, in this order, and the
// same value back after a round trip.
func TestProductJSON(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := catalogapi.Product{ID: "0b6c4a1e-0000-4000-8000-000000000001",
		ProductInput: catalogapi.ProductInput{SKU: "MUG-1", Name: "Mug", Description: "Holds <coffee>.",
			PriceCents: 1250, Currency: "EUR", Stock: 7},
		CreatedAt: at, UpdatedAt: at.Add(time.Second)}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"0b6c4a1e-0000-4000-8000-000000000001","sku":"MUG-1","name":"Mug",` +
		`"description":"Holds \u003ccoffee\u003e.","price_cents":1250,"currency":"EUR","stock":7,` +
		`"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:06Z"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	var back catalogapi.Product
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back != p {
		t.Errorf("round trip: got %+v, want %+v", back, p)
	}
}
