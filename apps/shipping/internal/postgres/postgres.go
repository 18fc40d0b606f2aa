// Package postgres holds shipping's SQL and its migrations (schema "shipping").
package postgres

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"

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
