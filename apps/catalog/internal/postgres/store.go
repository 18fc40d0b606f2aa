// Package postgres stores the catalog in PostgreSQL (schema "catalog").
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/fargateshop/shop/apps/catalog/internal/catalog"
	"github.com/fargateshop/shop/platform/apperr"
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
	return dbError(s.pool.Ping(ctx), "ping")
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
		return nil, dbError(err, "list products")
	}
	products, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (catalog.Product, error) { return scanProduct(r) })
	return products, dbError(err, "list products")
}

// Product returns the product with id.
func (s *Store) Product(ctx context.Context, id uuid.UUID) (catalog.Product, error) {
	p, err := scanProduct(s.pool.QueryRow(ctx, `SELECT `+productColumns+` FROM catalog.products WHERE id = $1`, id))
	return productResult(p, err, "get product")
}

// CreateProduct stores a new, valid product.
func (s *Store) CreateProduct(ctx context.Context, np catalog.NewProduct) (catalog.Product, error) {
	p, err := scanProduct(s.pool.QueryRow(ctx, `INSERT INTO catalog.products
		(sku, name, description, price_cents, currency, stock) VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING `+productColumns, np.SKU, np.Name, np.Description, np.PriceCents, np.Currency, np.Stock))
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "23505" {
		return catalog.Product{}, catalog.DuplicateSKU(np.SKU)
	}
	return productResult(p, err, "create product")
}

// UpdateProduct applies a valid patch.
func (s *Store) UpdateProduct(ctx context.Context, id uuid.UUID, patch catalog.ProductPatch) (catalog.Product, error) {
	p, err := scanProduct(s.pool.QueryRow(ctx, `UPDATE catalog.products SET
		name        = COALESCE($2, name),
		description = COALESCE($3, description),
		price_cents = COALESCE($4, price_cents),
		updated_at  = now()
		WHERE id = $1 RETURNING `+productColumns, id, patch.Name, patch.Description, patch.PriceCents))
	return productResult(p, err, "update product")
}

// SetStock sets the stock available to new orders. Units held by current
// reservations are not part of it and stay held.
func (s *Store) SetStock(ctx context.Context, id uuid.UUID, stock int) (catalog.Product, error) {
	p, err := scanProduct(s.pool.QueryRow(ctx, `UPDATE catalog.products SET stock = $2, updated_at = now()
		WHERE id = $1 RETURNING `+productColumns, id, stock))
	return productResult(p, err, "set stock")
}

// productResult is the result of a query for one product: no row means
// the product does not exist.
func productResult(p catalog.Product, err error, doing string) (catalog.Product, error) {
	if errors.Is(err, pgx.ErrNoRows) {
		return catalog.Product{}, catalog.ErrProductNotFound
	}
	if err != nil {
		return catalog.Product{}, dbError(err, doing)
	}
	return p, nil
}

// dbError turns a driver error into what callers need: apperr errors pass
// through, an unreachable or overloaded
// database becomes Unavailable (503, the client may retry), and anything
// else stays an internal error wrapped with what was being done.
func dbError(err error, doing string) error {
	if err == nil {
		return nil
	}
	if _, ok := apperr.As(err); ok {
		return err
	}
	if unavailable(err) {
		return apperr.Wrap(apperr.Unavailable, fmt.Errorf("%s: %w", doing, err),
			"the catalog database is unavailable; retry later")
	}
	return fmt.Errorf("%s: %w", doing, err)
}

// unavailable reports whether err means the database could not be reached
// or could not serve the request right now, as opposed to a bug such as a
// bad query or a violated constraint.
func unavailable(err error) bool {
	var (
		connErr *pgconn.ConnectError
		netErr  net.Error
		pgErr   *pgconn.PgError
	)
	switch {
	case errors.As(err, &connErr):
		// Whatever the server said while connecting (a refused password in
		// the seconds of a rotation, too many connections, starting up),
		// the request did not reach the database: a retry may succeed.
		return true
	case errors.As(err, &pgErr):
		return transientState(pgErr.Code)
	case errors.As(err, &netErr),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		pgconn.Timeout(err), pgconn.SafeToRetry(err):
		return true
	}
	return false
}

// transientState reports whether a server error SQLSTATE means "not now"
// rather than "never".
func transientState(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), // connection exception
		strings.HasPrefix(code, "53"): // insufficient resources, e.g. too many connections
		return true
	}
	switch code {
	case "57014", // query_canceled: statement_timeout
		"57P01", "57P02", "57P03", // server shutting down or starting up
		"40001", "40P01", // serialization failure, deadlock detected: a retry succeeds
		"25P03": // idle_in_transaction_session_timeout
		return true
	}
	return false
}
