package catalog_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/fargateshop/shop/apps/orders/internal/catalog"
	"github.com/fargateshop/shop/apps/orders/internal/catalog/catalogtest"
	"github.com/fargateshop/shop/apps/orders/internal/order"
	"github.com/fargateshop/shop/platform/apperr"
)

func TestClient(t *testing.T) {
	ctx := context.Background()
	fake := catalogtest.New(t)
	c := catalog.New(fake.URL, nil)
	chair := fake.AddProduct(catalogtest.Product{SKU: "CH-1", Name: "Chair", UnitPriceCents: 1250, Stock: 1})

	t.Run("reserve", func(t *testing.T) {
		id := uuid.New()
		res, err := c.Reserve(ctx, id, []order.Line{{ProductID: chair, Quantity: 1}})
		if err != nil || res.Status != "reserved" || len(res.Items) != 1 || res.Items[0].SKU != "CH-1" || res.Items[0].Currency != "EUR" {
			t.Fatalf("Reserve = %+v, %v", res, err)
		}
		if err := c.Confirm(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := c.Release(ctx, id); !errors.Is(err, order.ErrReservationConfirmed) {
			t.Errorf("release after confirm: %v, want ErrReservationConfirmed", err)
		}
	})
	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			name   string
			lines  []order.Line
			code   apperr.Code
			typ    string
			fields string
		}{
			{"out of stock", []order.Line{{ProductID: chair, Quantity: 5}}, apperr.Conflict, catalog.TypeOutOfStock, "[items[0].quantity]"},
			{"unknown product", []order.Line{{ProductID: chair, Quantity: 1}, {ProductID: uuid.NewString(), Quantity: 1}},
				apperr.Invalid, catalog.TypeUnknownProduct, "[items[1].product_id]"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := c.Reserve(ctx, uuid.New(), tt.lines)
				e, ok := apperr.As(err)
				if !ok || e.Code != tt.code || e.Type != tt.typ {
					t.Fatalf("Reserve: %v, want %s %s", err, tt.code, tt.typ)
				}
				var fields []string
				for _, f := range e.Fields {
					fields = append(fields, f.Field)
				}
				if fmt.Sprint(fields) != tt.fields {
					t.Errorf("fields %v, want %s", fields, tt.fields)
				}
			})
		}
	})
	t.Run("released", func(t *testing.T) {
		id := uuid.New()
		if err := c.Release(ctx, id); err != nil { // tombstone
			t.Fatal(err)
		}
		if err := c.Confirm(ctx, id); !errors.Is(err, order.ErrReservationReleased) {
			t.Errorf("confirm after release: %v, want ErrReservationReleased", err)
		}
		if err := c.Confirm(ctx, uuid.New()); !errors.Is(err, order.ErrReservationReleased) {
			t.Errorf("confirm of an unknown order: %v, want ErrReservationReleased", err)
		}
	})
	t.Run("down", func(t *testing.T) {
		fake.Close()
		if _, err := c.Reserve(ctx, uuid.New(), []order.Line{{ProductID: chair, Quantity: 1}}); apperr.CodeOf(err) != apperr.Unavailable {
			t.Errorf("Reserve with catalog down: %v, want Unavailable", err)
		}
	})
}
