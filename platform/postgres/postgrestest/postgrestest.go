// Package postgrestest gives each test its own throwaway PostgreSQL database
// on the server named by TEST_DATABASE_URL.
package postgrestest

import (
	"context"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fargateshop/shop/platform/postgres"
	"github.com/fargateshop/shop/platform/requestid"
)

// EnvVar names the server tests use.
const EnvVar = "TEST_DATABASE_URL"

// NewDatabase creates an empty database, drops it when the test ends, and
// returns its URL. Without TEST_DATABASE_URL the test fails: storage tests
// must never pass by not running.
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvVar)
	if admin == "" {
		t.Fatalf("%s is not set: these tests need a real PostgreSQL server. "+
			"Start one with `eval \"$(scripts/test-postgres.sh)\"` or point %s at a server where the user may CREATE DATABASE.", EnvVar, EnvVar)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to %s: %v", EnvVar, err)
	}
	defer conn.Close(ctx)

	name := "test_" + requestid.New()[:16]
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})

	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvVar, err)
	}
	u.Path = "/" + name
	return u.String()
}

// NewPool opens a pool on a new database (see NewDatabase), prepares it
// with migrate (a service's Migrate; nil leaves the database empty) and
// closes it when the test ends. Any failure fails the test.
func NewPool(t testing.TB, migrate func(context.Context, *slog.Logger, *postgres.Pool) error) *postgres.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	pool, err := postgres.Open(ctx, log, NewDatabase(t), nil, 20, 5*time.Second)
	if err != nil {
		t.Fatalf("open a pool on the test database: %v", err)
	}
	t.Cleanup(pool.Close)
	if migrate != nil {
		if err := migrate(ctx, log, pool); err != nil {
			t.Fatalf("migrate the test database: %v", err)
		}
	}
	return pool
}

// Role is a LOGIN role with a password, made for one test, that may use
// and create schemas in one database: what a service's migrations need.
type Role struct {
	Name  string
	admin string // TEST_DATABASE_URL
	dsn   string // the database the role was made for
}

// NewRole creates a role with password on the database of dsn (from
// NewDatabase; call NewDatabase first, so the role is dropped before its
// database) and drops it when the test ends. The test fails when the
// server lets the role in with a wrong password: a test of password
// handling must not pass against a server that checks none
// (scripts/test-postgres.sh trusts only the user postgres).
func NewRole(t testing.TB, dsn, password string) *Role {
	t.Helper()
	admin := os.Getenv(EnvVar)
	if admin == "" {
		t.Fatalf("%s is not set: NewRole needs the server NewDatabase uses", EnvVar)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse %q: %v", dsn, err)
	}
	r := &Role{Name: "role_" + requestid.New()[:16], admin: admin, dsn: dsn}
	db := pgx.Identifier{strings.TrimPrefix(u.Path, "/")}.Sanitize()
	role := pgx.Identifier{r.Name}.Sanitize()
	r.exec(t, admin, "CREATE ROLE "+role+" LOGIN PASSWORD "+quote(password))
	t.Cleanup(func() {
		// DROP OWNED also revokes the role's privileges on the database.
		r.exec(t, dsn, "DROP OWNED BY "+role)
		r.exec(t, admin, "DROP ROLE "+role)
	})
	r.exec(t, admin, "GRANT CONNECT, CREATE, TEMPORARY ON DATABASE "+db+" TO "+role)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, r.URL(password+"-wrong")); err == nil {
		_ = conn.Close(ctx)
		t.Fatalf("the server at %s let role %s in with a wrong password: password tests need password authentication "+
			"for roles other than the admin (scripts/test-postgres.sh sets that up)", EnvVar, r.Name)
	}
	return r
}

// URL returns the role's URL for its database, with password.
func (r *Role) URL(password string) string {
	u, _ := url.Parse(r.dsn) // parsed in NewRole
	u.User = url.UserPassword(r.Name, password)
	return u.String()
}

// SetPassword changes the role's password, as a rotation does.
func (r *Role) SetPassword(t testing.TB, password string) {
	t.Helper()
	r.exec(t, r.admin, "ALTER ROLE "+pgx.Identifier{r.Name}.Sanitize()+" PASSWORD "+quote(password))
}

// TerminateSessions ends every server session of the role, so its pools
// must open new connections, and returns how many there were.
func (r *Role) TerminateSessions(t testing.TB) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, r.admin)
	if err != nil {
		t.Fatalf("connect to %s: %v", EnvVar, err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = $1`, r.Name).Scan(&n); err != nil {
		t.Fatalf("terminate the sessions of %s: %v", r.Name, err)
	}
	return n
}

func (r *Role) exec(t testing.TB, dsn, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("role %s: connect: %v", r.Name, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("role %s: %v", r.Name, err) // the error never holds the statement, so no password
	}
}

// quote makes a string literal (ALTER ROLE takes no parameters).
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
