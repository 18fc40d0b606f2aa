// Package postgres stores the catalog in PostgreSQL (schema "catalog").
package postgres

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/fargateshop/shop/apps/catalog/internal/catalog"
	platformpg "github.com/fargateshop/shop/platform/postgres"
)

// Schema is the PostgreSQL schema the catalog owns.
const Schema = "catalog"

// Migrations are applied in order by platform/postgres.Migrate.
//
//go:embed migrations/*.sql
var migrations embed.FS

// Migrations returns the embedded migration files at the root of an fs.FS,
// as platform/postgres.Migrate expects.
func Migrations() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // unreachable: the directory is embedded at build time
	}
	return sub
}

// Migrate applies the embedded migrations to Schema.
func Migrate(ctx context.Context, log *slog.Logger, pool *platformpg.Pool) error {
	return platformpg.Migrate(ctx, log, pool, Schema, Migrations())
}

// Store is the catalog's PostgreSQL storage.
type Store struct {
	pool *platformpg.Pool
	ttl  time.Duration // how long a reservation holds stock
}

// NewStore returns a Store on pool whose reservations expire after ttl.
func NewStore(pool *platformpg.Pool, ttl time.Duration) *Store {
	return &Store{pool: pool, ttl: ttl}
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return platformpg.Error(ctx, "ping", s.pool.Ping(ctx))
}

const productColumns = `id, sku, name, description, price_cents, currency, stock, created_at, updated_at`

func scanProduct(row pgx.Row) (catalog.Product, error) {
	var p catalog.Product
	err := row.Scan(&p.ID, &p.SKU, &p.Name, &p.Description, &p.PriceCents, &p.Currency, &p.Stock, &p.CreatedAt, &p.UpdatedAt)
	return p, err
}

// ListProducts returns up to limit products ordered by sku, starting after
// the sku afterSKU ("" for the first page).
func (s *Store) ListProducts(ctx context.Context, afterSKU string, limit int) ([]catalog.Product, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+productColumns+` FROM catalog.products
		WHERE sku > $1 ORDER BY sku LIMIT $2`, afterSKU, limit)
	if err != nil {
		return nil, platformpg.Error(ctx, "list products", err)
	}
	products, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (catalog.Product, error) { return scanProduct(r) })
	return products, platformpg.Error(ctx, "list products", err)
}

// Product returns the product with id.
func (s *Store) Product(ctx context.Context, id uuid.UUID) (catalog.Product, error) {
	p, err := scanProduct(s.pool.QueryRow(ctx, `SELECT `+productColumns+` FROM catalog.products WHERE id = $1`, id))
	return productResult(ctx, "get product", p, err)
}

// CreateProduct stores a new, valid product.
func (s *Store) CreateProduct(ctx context.Context, np catalog.NewProduct) (catalog.Product, error) {
	p, err := scanProduct(s.pool.QueryRow(ctx, `INSERT INTO catalog.products
		(sku, name, description, price_cents, currency, stock) VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING `+productColumns, np.SKU, np.Name, np.Description, np.PriceCents, np.Currency, np.Stock))
	if platformpg.IsUniqueViolation(err) {
		return catalog.Product{}, catalog.DuplicateSKU(np.SKU)
	}
	return productResult(ctx, "create product", p, err)
}

// UpdateProduct applies a valid patch.
func (s *Store) UpdateProduct(ctx context.Context, id uuid.UUID, patch catalog.ProductPatch) (catalog.Product, error) {
	p, err := scanProduct(s.pool.QueryRow(ctx, `UPDATE catalog.products SET
		name        = COALESCE($2, name),
		description = COALESCE($3, description),
		price_cents = COALESCE($4, price_cents),
		updated_at  = now()
		WHERE id = $1 RETURNING `+productColumns, id, patch.Name, patch.Description, patch.PriceCents))
	return productResult(ctx, "update product", p, err)
}

// SetStock sets the stock available to new orders. Units held by current
// reservations are not part of it and stay held.
func (s *Store) SetStock(ctx context.Context, id uuid.UUID, stock int) (catalog.Product, error) {
	p, err := scanProduct(s.pool.QueryRow(ctx, `UPDATE catalog.products SET stock = $2, updated_at = now()
		WHERE id = $1 RETURNING `+productColumns, id, stock))
	return productResult(ctx, "set stock", p, err)
}

// productResult is the result of a query for one product: no row means
// the product does not exist.
func productResult(ctx context.Context, op string, p catalog.Product, err error) (catalog.Product, error) {
	if errors.Is(err, pgx.ErrNoRows) {
		return catalog.Product{}, catalog.ErrProductNotFound
	}
	if err != nil {
		return catalog.Product{}, platformpg.Error(ctx, op, err)
	}
	return p, nil
}
