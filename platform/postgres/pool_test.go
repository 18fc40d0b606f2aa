package postgres_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/fargateshop/shop/platform/postgres"
	"github.com/fargateshop/shop/platform/postgres/postgrestest"
)

// cachingSource stands in for a credentials source with a cache: it keeps
// the password it read until told of a rejection, then reads latest. With
// sticky it never reads again, as PGPASSWORD injected at task start.
type cachingSource struct {
	mu       sync.Mutex
	user     string
	latest   string // what a fresh read returns
	cached   string
	sticky   bool
	reads    int
	rejected int
}

func (s *cachingSource) Credentials(context.Context) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached == "" {
		s.cached = s.latest
		s.reads++
	}
	return s.user, s.cached, nil
}

func (s *cachingSource) Rejected() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejected++
	if !s.sticky {
		s.cached = ""
	}
}

func (s *cachingSource) rotate(password string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latest = password
}

func (s *cachingSource) counts() (reads, rejected int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads, s.rejected
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestPoolSurvivesPasswordRotation changes the role's password between
// calls, as RDS rotation does, and empties the pool so the next call must
// open a connection with the cached, now wrong, password. Every method that
// may open a connection must succeed on its first call.
func TestPoolSurvivesPasswordRotation(t *testing.T) {
	dsn := postgrestest.NewDatabase(t)
	role := postgrestest.NewRole(t, dsn, "initial-password")
	// The URL names another user without a password: both come from the source.
	src := &cachingSource{user: role.Name, latest: "initial-password"}
	ctx := context.Background()
	pool, err := postgres.Open(ctx, discard, role.URL("")+"&user=nobody", src, 2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var user string
	if err := pool.QueryRow(ctx, "SELECT current_user").Scan(&user); err != nil {
		t.Fatal(err)
	}
	if user != role.Name {
		t.Fatalf("connected as %q, want the source's user %q", user, role.Name)
	}
	if _, err := pool.Exec(ctx, "CREATE SCHEMA s; CREATE TABLE s.t (n int)"); err != nil {
		t.Fatal(err)
	}

	calls := []struct {
		name string
		call func() error
	}{
		{"Exec", func() error { _, err := pool.Exec(ctx, "INSERT INTO s.t VALUES (1)"); return err }},
		{"Query", func() error {
			rows, err := pool.Query(ctx, "SELECT n FROM s.t")
			if err != nil {
				return err
			}
			_, err = pgx.CollectRows(rows, pgx.RowTo[int32])
			return err
		}},
		{"QueryRow", func() error { var n int; return pool.QueryRow(ctx, "SELECT count(*) FROM s.t").Scan(&n) }},
		{"BeginFunc", func() error {
			return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { _, err := tx.Exec(ctx, "INSERT INTO s.t VALUES (2)"); return err })
		}},
		{"Acquire", func() error {
			c, err := pool.Acquire(ctx)
			if err == nil {
				c.Release()
			}
			return err
		}},
		{"AcquireFunc", func() error {
			return pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error { return c.Ping(ctx) })
		}},
		{"SendBatch", func() error {
			b := &pgx.Batch{}
			b.Queue("INSERT INTO s.t VALUES (3)")
			return pool.SendBatch(ctx, b).Close()
		}},
		{"CopyFrom", func() error {
			_, err := pool.CopyFrom(ctx, pgx.Identifier{"s", "t"}, []string{"n"}, pgx.CopyFromRows([][]any{{int32(4)}, {int32(5)}}))
			return err
		}},
		{"Ping", func() error { return pool.Ping(ctx) }},
	}
	for i, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			password := "rotated-" + c.name
			role.SetPassword(t, password)
			src.rotate(password)
			pool.Reset() // the pool's next call opens a new connection
			_, rejectedBefore := src.counts()
			if err := c.call(); err != nil {
				t.Fatalf("%s after a rotation: got %v, want success on the first call", c.name, err)
			}
			reads, rejected := src.counts()
			if got, want := rejected-rejectedBefore, 1; got != want {
				t.Errorf("rejections reported: got %d, want %d", got, want)
			}
			if got, want := reads, i+2; got != want {
				t.Errorf("credential reads so far: got %d, want %d (one at start, one per rotation)", got, want)
			}
		})
	}
	var rows int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM s.t").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if got, want := rows, 5; got != want {
		t.Errorf("rows written: got %d, want %d (each write exactly once)", got, want)
	}
}

// TestPoolWithoutFreshCredentialsFails is the old behaviour, and a source
// that cannot read anything new: after the rotation the call fails, with a
// connect error the stores map to 503, and it is tried at most twice.
func TestPoolWithoutFreshCredentialsFails(t *testing.T) {
	dsn := postgrestest.NewDatabase(t)
	role := postgrestest.NewRole(t, dsn, "initial-password")
	ctx := context.Background()
	tests := []struct {
		name         string
		dsn          string
		src          *cachingSource
		wantRejected int
	}{
		{"password read once from the URL", role.URL("initial-password"), nil, 0},
		{"source that never reads again", role.URL(""), &cachingSource{latest: "initial-password", sticky: true}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			role.SetPassword(t, "initial-password")
			var creds postgres.Credentials
			if tt.src != nil {
				creds = tt.src
			}
			pool, err := postgres.Open(ctx, discard, tt.dsn, creds, 2, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			role.SetPassword(t, "rotated")
			pool.Reset()
			err = pool.Ping(ctx)
			var connErr *pgconn.ConnectError
			if !errors.As(err, &connErr) {
				t.Fatalf("Ping after a rotation: got %v, want a connect error", err)
			}
			if tt.src != nil {
				if _, rejected := tt.src.counts(); rejected != tt.wantRejected {
					t.Errorf("rejections reported: got %d, want %d (the call and its one retry)", rejected, tt.wantRejected)
				}
			}
		})
	}
}
