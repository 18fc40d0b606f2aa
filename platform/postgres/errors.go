package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"

	"github.com/fargateshop/shop/platform/apperr"
)

// Error classifies err, returned by a pgx call made with ctx while doing
// op, for the service's callers. It is the one place that decides which
// database errors are worth a retry:
//
//   - nil stays nil, and an *apperr.Error (a domain answer decided inside a
//     transaction) passes through unchanged;
//   - when ctx was cancelled (the client hung up) and err is what that
//     looks like, the result wraps context.Canceled and carries no apperr
//     code: the database did not fail, and the HTTP layer tells a client
//     that left with errors.Is(err, context.Canceled);
//   - a database that cannot serve the call now (no connection, a refused
//     login, shutting down, out of connections, a statement timeout, a
//     serialization failure or deadlock) is apperr.Unavailable: 503 with
//     Retry-After, and the client's retry may succeed. A deadline on ctx
//     counts here too: no client sets one on a request's context, so it is
//     a budget the service gave the database, and the database was too slow;
//   - anything else (a query or scan bug, a constraint the store did not
//     turn into a domain error first, see IsUniqueViolation) is wrapped
//     without a code, which apperr.CodeOf reports as Internal: 500, and a
//     retry would fail the same way.
func Error(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := apperr.As(err); ok {
		return err
	}
	if errors.Is(err, context.Canceled) {
		// Only a caller cancels: nothing in the driver or the server does.
		return fmt.Errorf("%s: %w", op, err)
	}
	transient := unavailable(err)
	if ctxErr := ctx.Err(); errors.Is(ctxErr, context.Canceled) && transient {
		// pgx interrupts a call whose context ends by closing its
		// connection, so the error may be a broken connection, a timeout or
		// a cancelled statement that does not wrap ctx's error itself.
		if errors.Is(err, ctxErr) {
			return fmt.Errorf("%s: %w", op, err)
		}
		return fmt.Errorf("%s: %w: %w", op, ctxErr, err)
	}
	if transient {
		return apperr.Wrap(apperr.Unavailable, fmt.Errorf("%s: %w", op, err),
			"the database is unavailable; try again shortly")
	}
	return fmt.Errorf("%s: %w", op, err)
}

// IsUniqueViolation reports whether err is a statement refused by a unique
// index or primary key (SQLSTATE 23505), which a store usually turns into
// a domain conflict before calling Error.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// unavailable reports whether err means the database could not be reached
// or could not serve the call right now, as opposed to a bug.
func unavailable(err error) bool {
	var (
		connErr *pgconn.ConnectError
		pgErr   *pgconn.PgError
		netErr  net.Error
	)
	switch {
	case errors.As(err, &connErr):
		// Whatever the server said while connecting (a refused password in
		// the seconds of a rotation, too many connections, starting up), no
		// statement ran: a retry may succeed.
		return true
	case errors.As(err, &pgErr):
		return unavailableState(pgErr.Code)
	}
	return errors.As(err, &netErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || // connection dropped
		errors.Is(err, puddle.ErrClosedPool) || // the service is shutting down
		errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) || // a timeout of the driver's own
		pgconn.SafeToRetry(err) // pgconn's word that nothing reached the server
}

// unavailableState reports whether a server's SQLSTATE means "not now"
// rather than "never".
func unavailableState(code string) bool {
	switch {
	case strings.HasPrefix(code, "08"), // connection exception
		strings.HasPrefix(code, "53"): // insufficient resources, e.g. 53300 too many connections
		return true
	}
	switch code {
	case "57014", // query_canceled: statement_timeout
		"57P01", "57P02", "57P03", // admin or crash shutdown, starting up
		"57P05",          // idle_session_timeout
		"25P03",          // idle_in_transaction_session_timeout
		"55P03",          // lock_not_available
		"40001", "40P01": // serialization failure, deadlock: nothing retries them in-process, a client's retry succeeds
		return true
	}
	return false
}

// authFailed reports whether err is a connection attempt that the server
// refused for its credentials: invalid_password (28P01, a wrong password)
// or invalid_authorization_specification (28000, e.g. no pg_hba.conf entry
// for a role whose name changed). Errors of a statement on an open
// connection never count, even with those codes.
func authFailed(err error) bool {
	var connErr *pgconn.ConnectError
	if !errors.As(err, &connErr) {
		return false
	}
	var pgErr *pgconn.PgError
	if !errors.As(connErr, &pgErr) {
		return false
	}
	return pgErr.Code == "28P01" || pgErr.Code == "28000"
}
