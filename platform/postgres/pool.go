package postgres

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Credentials supplies the user and password for each new connection, so a
// password that changes while the service runs (RDS rotates its managed
// secret every 7 days) is picked up without a restart.
type Credentials interface {
	// Credentials returns the password, and the user when the source names
	// one ("" keeps the user of DATABASE_URL or PGUSER).
	Credentials(ctx context.Context) (user, password string, err error)
	// Rejected reports that the database refused credentials the source
	// returned, so that the next Credentials call reads them afresh instead
	// of from a cache.
	Rejected()
}

// Pool is a pgxpool.Pool that, given Credentials, rides out a password
// rotation: a call whose new connection is refused for its password
// (SQLSTATE 28P01 or 28000) is made once more with freshly read credentials.
//
// Why here and not inside pgx: pgxpool calls Config.BeforeConnect before a
// connection is made (that is where the password is set), but nothing after
// a refused authentication. pgconn stops at 28P01 without trying its
// fallback hosts, and pgxpool.Pool.Acquire returns the error of its
// connection constructor as is. So the retry sits one level up, in the
// pool's own methods: a connect error means no statement reached the
// server, so making the call again is safe even for a write.
//
// Every method that may open a connection is wrapped; the others are
// pgxpool's. Calls through the embedded *pgxpool.Pool are not retried.
type Pool struct {
	*pgxpool.Pool
	creds Credentials // nil: the password of DATABASE_URL or PGPASSWORD, never retried
	log   *slog.Logger
}

// refused tells the credentials source when err is a refused password,
// and reports whether it was one.
func (p *Pool) refused(err error) bool {
	if err == nil || p.creds == nil || !authFailed(err) {
		return false
	}
	p.creds.Rejected()
	return true
}

// retry makes call, and once more when the database refused the password
// of the connection it opened.
func retry[T any](ctx context.Context, p *Pool, call func() (T, error)) (T, error) {
	v, err := call()
	if !p.refused(err) || ctx.Err() != nil {
		return v, err
	}
	p.log.WarnContext(ctx, "database refused the credentials of a new connection; reading them again", "error", err.Error())
	v, err = call()
	p.refused(err)
	return v, err
}

// Acquire returns a connection from the pool, opening one if needed.
func (p *Pool) Acquire(ctx context.Context) (*pgxpool.Conn, error) {
	return retry(ctx, p, func() (*pgxpool.Conn, error) { return p.Pool.Acquire(ctx) })
}

// AcquireFunc acquires a connection, calls f with it and releases it.
func (p *Pool) AcquireFunc(ctx context.Context, f func(*pgxpool.Conn) error) error {
	c, err := p.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	return f(c)
}

// Exec runs sql on a pooled connection.
func (p *Pool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return retry(ctx, p, func() (pgconn.CommandTag, error) { return p.Pool.Exec(ctx, sql, args...) })
}

// Query runs sql on a pooled connection, released when the rows are closed.
func (p *Pool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return retry(ctx, p, func() (pgx.Rows, error) { return p.Pool.Query(ctx, sql, args...) })
}

// QueryRow runs sql on a pooled connection. pgxpool reports a failed
// acquire only at Scan, so that is where the retry happens.
func (p *Pool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if p.creds == nil {
		return p.Pool.QueryRow(ctx, sql, args...)
	}
	return &row{p: p, ctx: ctx, sql: sql, args: args}
}

type row struct {
	p    *Pool
	ctx  context.Context
	sql  string
	args []any
}

func (r *row) Scan(dest ...any) error {
	_, err := retry(r.ctx, r.p, func() (struct{}, error) {
		return struct{}{}, r.p.Pool.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...)
	})
	return err
}

// SendBatch sends b on a pooled connection. Its results report a failed
// acquire only when read, too late to send the batch again, so a connection
// with working credentials is made sure of first. The pool usually hands
// that one back; under concurrent use it may open another, whose refusal is
// then not retried (the caller sees a connect error, answered 503).
func (p *Pool) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if p.creds != nil {
		c, err := p.Acquire(ctx)
		if err != nil {
			return pgx.FailedBatchResults(b, err)
		}
		c.Release()
	}
	return p.Pool.SendBatch(ctx, b)
}

// Begin starts a transaction on a pooled connection.
func (p *Pool) Begin(ctx context.Context) (pgx.Tx, error) {
	return p.BeginTx(ctx, pgx.TxOptions{})
}

// BeginTx starts a transaction with opts on a pooled connection.
func (p *Pool) BeginTx(ctx context.Context, opts pgx.TxOptions) (pgx.Tx, error) {
	return retry(ctx, p, func() (pgx.Tx, error) { return p.Pool.BeginTx(ctx, opts) })
}

// CopyFrom copies rows into a table. pgxpool acquires the connection before
// it reads the first row, so a retry after a refused connect sees them all.
func (p *Pool) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	return retry(ctx, p, func() (int64, error) { return p.Pool.CopyFrom(ctx, table, columns, src) })
}

// Ping checks that a pooled connection answers.
func (p *Pool) Ping(ctx context.Context) error {
	_, err := retry(ctx, p, func() (struct{}, error) { return struct{}{}, p.Pool.Ping(ctx) })
	return err
}
