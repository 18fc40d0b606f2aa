package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/fargateshop/shop/platform/apperr"
	"github.com/fargateshop/shop/platform/postgres"
	"github.com/fargateshop/shop/platform/postgres/postgrestest"
)

// class is what postgres.Error made of an error, as its callers see it.
type class string

const (
	unavailable class = "unavailable" // apperr.Unavailable: 503 + Retry-After
	internal    class = "internal"    // no apperr code: 500, no Retry-After
	canceled    class = "canceled"    // the caller's context.Canceled, no apperr code
	passed      class = "passed"      // an *apperr.Error returned unchanged
)

func classOf(err error) class {
	e, isApp := apperr.As(err)
	switch {
	case isApp && e.Code == apperr.Unavailable:
		return unavailable
	case isApp:
		return passed
	case errors.Is(err, context.Canceled):
		return canceled
	}
	return internal
}

// checkError runs postgres.Error and checks the class of its result, that
// it names the operation and that it keeps err in its chain.
func checkError(t *testing.T, name string, ctx context.Context, err error, want class) {
	t.Helper()
	got := postgres.Error(ctx, "list products", err)
	if c := classOf(got); c != want {
		t.Errorf("%s: Error(%v) = %v, class %s; want %s", name, err, got, c, want)
	}
	if want != passed && !strings.Contains(got.Error(), "list products") {
		t.Errorf("%s: %q does not say what was being done", name, got)
	}
	if !errors.Is(got, err) {
		t.Errorf("%s: %v dropped the cause %v", name, got, err)
	}
}

func pgErr(code string) error { return &pgconn.PgError{Severity: "ERROR", Code: code, Message: "m"} }

func TestError(t *testing.T) {
	live := context.Background()
	gone, cancel := context.WithCancel(live)
	cancel()
	late, cancelLate := context.WithDeadline(live, time.Now().Add(-time.Second))
	defer cancelLate()

	// A real connect error: pgconn's type cannot be built by hand.
	cctx, cancelConnect := context.WithTimeout(live, 10*time.Second)
	defer cancelConnect()
	_, connectErr := pgconn.Connect(cctx, "postgres://u:p@127.0.0.1:1/db?connect_timeout=1")
	var ce *pgconn.ConnectError
	if !errors.As(connectErr, &ce) {
		t.Fatalf("connecting to a closed port: got %v, want a *pgconn.ConnectError", connectErr)
	}
	refused := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	domain := apperr.Errorf(apperr.NotFound, "no such order")

	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want class
	}{
		{"connect error", live, connectErr, unavailable},
		{"wrapped connect error", live, fmt.Errorf("begin: %w", connectErr), unavailable},
		{"connection reset", live, refused, unavailable},
		{"connection dropped mid-read", live, fmt.Errorf("receive message: %w", io.ErrUnexpectedEOF), unavailable},
		{"EOF", live, io.EOF, unavailable},
		{"pool closed", live, puddle.ErrClosedPool, unavailable},
		{"driver's own timeout", live, fmt.Errorf("acquire: %w", context.DeadlineExceeded), unavailable},
		{"08006 connection failure", live, pgErr("08006"), unavailable},
		{"08P01 protocol violation", live, pgErr("08P01"), unavailable},
		{"53300 too many connections", live, pgErr("53300"), unavailable},
		{"53200 out of memory", live, pgErr("53200"), unavailable},
		{"57P01 admin shutdown", live, pgErr("57P01"), unavailable},
		{"57P02 crash shutdown", live, pgErr("57P02"), unavailable},
		{"57P03 cannot connect now", live, pgErr("57P03"), unavailable},
		{"57014 statement timeout", live, pgErr("57014"), unavailable},
		{"40001 serialization failure", live, pgErr("40001"), unavailable},
		{"40P01 deadlock", live, pgErr("40P01"), unavailable},
		{"25P03 idle in transaction timeout", live, pgErr("25P03"), unavailable},

		{"23505 unique violation", live, pgErr("23505"), internal},
		{"23503 foreign key violation", live, pgErr("23503"), internal},
		{"42703 undefined column", live, pgErr("42703"), internal},
		{"42601 syntax error", live, pgErr("42601"), internal},
		{"22P02 bad input", live, pgErr("22P02"), internal},
		{"scan bug", live, errors.New("can't scan into dest[2]: cannot assign"), internal},
		{"no rows the store did not handle", live, pgx.ErrNoRows, internal},

		{"client gone", gone, context.Canceled, canceled},
		{"client gone, wrapped by pgx", gone, fmt.Errorf("timeout: %w", context.Canceled), canceled},
		{"client gone, the connection closed under the call", gone, io.ErrUnexpectedEOF, canceled},
		{"client gone, statement cancelled", gone, pgErr("57014"), canceled},
		{"client gone, a connect error", gone, connectErr, canceled},
		{"cancelled on a live context", live, context.Canceled, canceled},
		{"the service's budget ran out", late, context.DeadlineExceeded, unavailable},
		{"the service's budget ran out, the connection closed under the call", late, refused, unavailable},
		{"client gone, but a bug is a bug", gone, pgErr("42601"), internal},
		{"client gone, a scan bug", gone, errors.New("cannot assign"), internal},

		{"domain error", live, domain, passed},
		{"wrapped domain error", gone, fmt.Errorf("tx: %w", domain), passed},
	}
	for _, tt := range tests {
		checkError(t, tt.name, tt.ctx, tt.err, tt.want)
	}
	if err := postgres.Error(live, "x", nil); err != nil {
		t.Errorf("Error(nil) = %v, want nil", err)
	}
	if err := fmt.Errorf("tx: %w", domain); !errors.Is(postgres.Error(live, "x", err), domain) {
		t.Error("a domain error lost its identity")
	}
}

func TestIsUniqueViolation(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{pgErr("23505"), true},
		{fmt.Errorf("insert: %w", pgErr("23505")), true},
		{pgErr("23503"), false},
		{errors.New("23505"), false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := postgres.IsUniqueViolation(tt.err); got != tt.want {
			t.Errorf("IsUniqueViolation(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// TestErrorFromServer classifies what a real server and pgx return, where
// the shape of the error is not ours to choose.
func TestErrorFromServer(t *testing.T) {
	dsn := postgrestest.NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	connect := func(t *testing.T) *pgx.Conn {
		t.Helper()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		return conn
	}
	conn := connect(t)
	if _, err := conn.Exec(ctx, `CREATE TABLE t (id int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}

	t.Run("query bug", func(t *testing.T) {
		_, err := conn.Exec(ctx, `SELECT no_such_column FROM t`)
		checkError(t, "undefined column", ctx, err, internal)
	})
	t.Run("unique violation", func(t *testing.T) {
		_, err := conn.Exec(ctx, `INSERT INTO t VALUES (1), (1)`)
		checkError(t, "duplicate key", ctx, err, internal)
		if !postgres.IsUniqueViolation(err) {
			t.Errorf("IsUniqueViolation(%v) = false, want true", err)
		}
	})
	t.Run("statement timeout", func(t *testing.T) {
		c := connect(t)
		if _, err := c.Exec(ctx, `SET statement_timeout = 1`); err != nil {
			t.Fatal(err)
		}
		_, err := c.Exec(ctx, `SELECT pg_sleep(10)`)
		checkError(t, "statement_timeout", ctx, err, unavailable)
	})
	t.Run("session terminated by the server", func(t *testing.T) {
		c := connect(t)
		if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend($1)`, c.PgConn().PID()); err != nil {
			t.Fatal(err)
		}
		_, err := c.Exec(ctx, `SELECT 1`)
		checkError(t, "terminated session", ctx, err, unavailable)
	})
	t.Run("refused login", func(t *testing.T) {
		role := postgrestest.NewRole(t, dsn, "right-password")
		_, err := pgx.Connect(ctx, role.URL("wrong-password"))
		checkError(t, "wrong password", ctx, err, unavailable)
	})
	// Whether the cancellation lands before the statement is sent or while
	// the server sleeps, the caller gave up: never an outage.
	t.Run("client hangs up mid-statement", func(t *testing.T) {
		c := connect(t)
		cctx, cancel := context.WithCancel(ctx)
		stop := time.AfterFunc(50*time.Millisecond, cancel)
		defer stop.Stop()
		_, err := c.Exec(cctx, `SELECT pg_sleep(10)`)
		checkError(t, "cancelled statement", cctx, err, canceled)
	})
	// A deadline is the service's budget for the database: too slow is
	// unavailable, and the client may retry.
	t.Run("the budget passes mid-statement", func(t *testing.T) {
		c := connect(t)
		dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err := c.Exec(dctx, `SELECT pg_sleep(10)`)
		checkError(t, "deadline", dctx, err, unavailable)
	})
}

// TestAuthFailed classifies real errors of a real server: pgconn's error
// types cannot be built by hand, and the point is what the server sends.
func TestAuthFailed(t *testing.T) {
	dsn := postgrestest.NewDatabase(t)
	role := postgrestest.NewRole(t, dsn, "right-password")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	connect := func(dsn string) error {
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			_ = conn.Close(ctx)
		}
		return err
	}
	noDatabase, _ := url.Parse(role.URL("right-password"))
	noDatabase.Path = "/no_such_database"
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE ROLE "+pgx.Identifier{role.Name + "_nologin"}.Sanitize()+" NOLOGIN PASSWORD 'x'"); err != nil {
		t.Fatal(err)
	}
	defer admin.Exec(context.Background(), "DROP ROLE "+pgx.Identifier{role.Name + "_nologin"}.Sanitize())
	noLogin, _ := url.Parse(role.URL("x"))
	noLogin.User = url.UserPassword(role.Name+"_nologin", "x")
	_, statementErr := admin.Exec(ctx, `DO $$ BEGIN RAISE EXCEPTION 'not a login' USING ERRCODE = '28P01'; END $$`)

	wrongPassword := connect(role.URL("wrong-password"))
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"wrong password (28P01)", wrongPassword, true},
		{"wrapped wrong password", fmt.Errorf("list products: %w", wrongPassword), true},
		{"role may not log in (28000)", connect(noLogin.String()), true},
		{"no such database (3D000)", connect(noDatabase.String()), false},
		{"statement error with code 28P01", statementErr, false},
		{"nothing listening", connect("postgres://u:p@127.0.0.1:1/db?connect_timeout=1"), false},
		{"no error", nil, false},
	}
	for _, tt := range tests {
		if tt.err == nil && tt.name != "no error" {
			t.Fatalf("%s: got no error from the server, want one", tt.name)
		}
		if got := postgres.AuthFailed(tt.err); got != tt.want {
			t.Errorf("%s: authFailed(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
