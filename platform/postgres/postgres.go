// Package postgres opens the connection pool and applies a service's
// embedded migrations, safely when several replicas start together.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/fargateshop/shop/platform/config"
	"github.com/fargateshop/shop/platform/dbsecret"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
)

// OpenDatabase opens the pool a service's settings describe: DATABASE_URL or
// the PG* variables and, when PGPASSWORD_SECRET_ARN is set (on AWS), the
// password read from that Secrets Manager secret for every new connection,
// so the pool follows RDS's rotation of it.
func OpenDatabase(ctx context.Context, log *slog.Logger, db config.Database, maxConns int32, wait time.Duration) (*Pool, error) {
	var creds Credentials // nil: the password of DATABASE_URL or PGPASSWORD
	if db.PasswordSecretARN != "" {
		src, err := dbsecret.Load(ctx, log, db.PasswordSecretARN)
		if err != nil {
			return nil, err
		}
		creds = src
	}
	return Open(ctx, log, db.URL, creds, maxConns, wait)
}

// Open returns a pool for dsn, or for the standard PG* variables when dsn is
// empty (how the ECS task definition passes the RDS endpoint). With creds,
// every new connection asks them for its password (and user), and a call
// whose connection is refused for its password is retried once (see Pool);
// without, the password is the one of dsn or PGPASSWORD, read once. It
// waits up to wait for the database to answer, logging each failed attempt,
// so a task that starts while the database reboots recovers on its own.
func Open(ctx context.Context, log *slog.Logger, dsn string, creds Credentials, maxConns int32, wait time.Duration) (*Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx errors can echo the DSN; never log or return the password.
		return nil, errors.New("parse database settings: malformed DATABASE_URL or PG* variables")
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	cfg.HealthCheckPeriod = 15 * time.Second
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > 5*time.Second {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	// A statement that runs away must not hold a connection forever.
	cfg.ConnConfig.RuntimeParams["statement_timeout"] = "10000"
	cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = "30000"
	if creds != nil {
		// cc is the pool's copy for this one connection.
		cfg.BeforeConnect = func(ctx context.Context, cc *pgx.ConnConfig) error {
			user, password, err := creds.Credentials(ctx)
			if err != nil {
				return fmt.Errorf("database credentials: %w", err)
			}
			if user != "" {
				cc.User = user
			}
			cc.Password = password
			return nil
		}
	}
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		RegisterUUID(c.TypeMap())
		return nil
	}
	// A span per query, batch and connection acquire, named by the SQL
	// operation (the statement text goes in db.query.text, never its
	// arguments), only under a sampled span: otelpgx starts none without a
	// recording parent, so a background poll alone never starts a trace.
	// Its per-operation duration histogram is left out (see
	// withoutHistograms); its error counter, db.client.operation.errors,
	// stays.
	cfg.ConnConfig.Tracer = otelpgx.NewTracer(otelpgx.WithMeterProvider(withoutHistograms{otel.GetMeterProvider()}))

	pgxPool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create pool: %w", err)
	}
	pool := &Pool{Pool: pgxPool, creds: creds, log: log}
	// The pool's gauges (connections in use, idle, waits for one): what
	// to read when requests queue behind the database.
	if err := otelpgx.RecordStats(pgxPool); err != nil {
		pgxPool.Close()
		return nil, fmt.Errorf("database pool metrics: %w", err)
	}
	deadline := time.Now().Add(wait)
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err = pool.Ping(pctx)
		cancel()
		if err == nil {
			return pool, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			pool.Close()
			return nil, fmt.Errorf("database %s:%d unreachable after %d attempts: %w",
				cfg.ConnConfig.Host, cfg.ConnConfig.Port, attempt, err)
		}
		log.Warn("database not ready, retrying", "attempt", attempt, "host", cfg.ConnConfig.Host, "error", err.Error())
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Migrate applies every *.sql file of fsys, in lexical order, that schema
// has not recorded yet. Each file runs in its own transaction. A session
// advisory lock serialises replicas that start at the same moment.
func Migrate(ctx context.Context, log *slog.Logger, pool *Pool, schema string, fsys fs.FS) error {
	if !schemaName.MatchString(schema) {
		return fmt.Errorf("migrate: invalid schema name %q", schema)
	}
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return fmt.Errorf("migrate: list files: %w", err)
	}
	sort.Strings(names)

	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate: acquire: %w", err)
	}
	defer conn.Release()
	lockKey := "migrate:" + schema
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock(hashtext($1))", lockKey); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	defer func() {
		// Unlock even when ctx is cancelled, or the pooled session keeps the lock.
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, "SELECT pg_advisory_unlock(hashtext($1))", lockKey); err != nil {
			conn.Conn().Close(uctx)
		}
	}()

	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+ident); err != nil {
		return fmt.Errorf("migrate: create schema: %w", err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+ident+`.schema_migrations (
		version text PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrate: create version table: %w", err)
	}
	applied := map[string]bool{}
	rows, err := conn.Query(ctx, "SELECT version FROM "+ident+".schema_migrations")
	if err != nil {
		return fmt.Errorf("migrate: read versions: %w", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("migrate: read versions: %w", err)
	}
	for _, v := range versions {
		applied[v] = true
	}
	for _, name := range names {
		version := strings.TrimSuffix(name, ".sql")
		if applied[version] {
			continue
		}
		sql, err := fs.ReadFile(fsys, name)
		if err != nil {
			return fmt.Errorf("migrate: read %s: %w", name, err)
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO "+ident+".schema_migrations (version) VALUES ($1)", version)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate: apply %s: %w", name, err)
		}
		log.Info("migration applied", "schema", schema, "version", version)
	}
	return nil
}

// withoutHistograms is a meter provider whose meters make no float
// histograms; every other instrument is the wrapped provider's. otelpgx's
// one such histogram, db.client.operation.duration, is recorded twice per
// query (acquire and query), sampled or not, with an attribute set built
// each time: under the read load it was 2 to 3 % of the catalog's CPU, the
// largest part of what telemetry cost (docs/performance.md, "Tracing
// cost"), for durations the query spans and the HTTP metrics already give
// from each side.
type withoutHistograms struct{ metric.MeterProvider }

func (p withoutHistograms) Meter(name string, opts ...metric.MeterOption) metric.Meter {
	return meterWithoutHistograms{p.MeterProvider.Meter(name, opts...)}
}

type meterWithoutHistograms struct{ metric.Meter }

func (meterWithoutHistograms) Float64Histogram(string, ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	return metricnoop.Float64Histogram{}, nil
}
