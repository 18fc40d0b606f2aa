// Package postgres holds shipping's SQL and its migrations (schema "shipping").
package postgres

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"log/slog"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/fargateshop/shop/apps/shipping/internal/shipment"
	platformpg "github.com/fargateshop/shop/platform/postgres"
)

// Schema is the PostgreSQL schema shipping owns.
const Schema = "shipping"

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

// Store is the shipping database.
type Store struct {
	pool *platformpg.Pool
}

// New returns a Store on pool.
func New(pool *platformpg.Pool) *Store { return &Store{pool: pool} }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return platformpg.Error(ctx, "ping", s.pool.Ping(ctx))
}

// Create implements shipment.Store. The statement is its own transaction:
// the shipment and the record of its event (event_id) commit together,
// and the unique order_id and event_id make a concurrent duplicate wait
// for the first insert and then do nothing.
func (s *Store) Create(ctx context.Context, sh shipment.Shipment) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO shipping.shipments (order_id, event_id, status, email, items)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT DO NOTHING`,
		sh.OrderID, sh.EventID, string(sh.Status), sh.Email, sh.Items)
	if err != nil {
		return false, platformpg.Error(ctx, "create shipment", err)
	}
	return tag.RowsAffected() == 1, nil
}

// Get returns the shipment of an order, or shipment.ErrNotFound.
func (s *Store) Get(ctx context.Context, orderID uuid.UUID) (shipment.Shipment, error) {
	sh := shipment.Shipment{OrderID: orderID}
	var status string
	err := s.pool.QueryRow(ctx, `
		SELECT event_id, status, email, items, created_at
		FROM shipping.shipments WHERE order_id = $1`, orderID).
		Scan(&sh.EventID, &status, &sh.Email, &sh.Items, &sh.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return shipment.Shipment{}, shipment.ErrNotFound
	}
	if err != nil {
		return shipment.Shipment{}, platformpg.Error(ctx, "get shipment", err)
	}
	sh.Status = shipment.Status(status)
	return sh, nil
}
