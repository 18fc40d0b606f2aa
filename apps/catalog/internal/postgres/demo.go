package postgres

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/fargateshop/shop/apps/catalog/internal/catalog"
)

// demoJSON holds the demo products: something to sell on the local stack,
// under `make run`, in the system tests and on the dev stack, which start
// catalog with DEMO_DATA=true. It is data, not a migration: migrations hold
// only the schema every environment needs, and a production catalog starts
// empty and is filled through the admin API.
//
//go:embed demo/products.json
var demoJSON []byte

// demoLock is the advisory lock that makes replicas starting together take
// turns at LoadDemoProducts.
const demoLock = "catalog:demo-products"

// demoProducts returns the embedded demo products, each checked against
// the rules the admin API applies. The file's keys are the field names of
// catalog.NewProduct, which it is decoded into.
func demoProducts() ([]catalog.NewProduct, error) {
	var products []catalog.NewProduct
	dec := json.NewDecoder(bytes.NewReader(demoJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&products); err != nil {
		return nil, fmt.Errorf("demo products: %w", err)
	}
	for i, p := range products {
		if err := p.Validate(); err != nil {
			return nil, fmt.Errorf("demo product %d (%s): %w", i, p.SKU, err)
		}
	}
	return products, nil
}

// LoadDemoProducts adds the demo products to a catalog that has no product
// at all, and returns how many it added (0 when the catalog had products).
//
// Only into an empty catalog, so that a restart never brings back a product
// an administrator deleted or changed, and a database seeded by the former
// 002_seed migration is left as it is. A catalog emptied completely is
// filled again at its next start with DEMO_DATA=true. Replicas starting
// together queue on a transaction-scoped advisory lock: the first adds the
// products, the others then find them and add none.
func (s *Store) LoadDemoProducts(ctx context.Context) (int, error) {
	products, err := demoProducts()
	if err != nil {
		return 0, err
	}
	var added int
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		added = 0
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, demoLock); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		var filled bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM catalog.products)`).Scan(&filled); err != nil {
			return fmt.Errorf("count products: %w", err)
		}
		if filled {
			return nil
		}
		for _, p := range products {
			// The lock does not hold off the admin API: a product an
			// administrator creates meanwhile with a demo sku is kept.
			tag, err := tx.Exec(ctx, `INSERT INTO catalog.products
				(sku, name, description, price_cents, currency, stock) VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (sku) DO NOTHING`, p.SKU, p.Name, p.Description, p.PriceCents, p.Currency, p.Stock)
			if err != nil {
				return fmt.Errorf("insert %s: %w", p.SKU, err)
			}
			added += int(tag.RowsAffected())
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("load demo products: %w", err)
	}
	return added, nil
}
