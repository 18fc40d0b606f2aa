package postgres

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/fargateshop/shop/platform/postgres/postgrestest"
)

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
		if got := authFailed(tt.err); got != tt.want {
			t.Errorf("%s: authFailed(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}
