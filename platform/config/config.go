// Package config reads a service's settings from environment variables and
// reports every problem at once, so a misconfigured task fails with one
// readable message instead of one restart per mistake.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DefaultPort is the port a service listens on when PORT is unset. The
// routing declaration, Compose and the image use it too.
const DefaultPort = 8080

// Lookup is os.LookupEnv or a test double.
type Lookup func(name string) (string, bool)

// Env accumulates values and errors while a service parses its settings.
type Env struct {
	lookup Lookup
	errs   []error
}

// New returns an Env reading from lookup.
func New(lookup Lookup) *Env { return &Env{lookup: lookup} }

func (e *Env) get(name string) (string, bool) {
	v, ok := e.lookup(name)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

func (e *Env) fail(format string, args ...any) {
	e.errs = append(e.errs, fmt.Errorf(format, args...))
}

// Fail records a problem found by a caller's own check of a variable, to be
// reported with the rest.
func (e *Env) Fail(format string, args ...any) { e.fail(format, args...) }

// String returns the variable or def when it is unset or empty.
func (e *Env) String(name, def string) string {
	if v, ok := e.get(name); ok {
		return v
	}
	return def
}

// Required returns the variable and records an error when it is missing.
func (e *Env) Required(name string) string {
	v, ok := e.get(name)
	if !ok {
		e.fail("%s is required", name)
	}
	return v
}

// Secret is Required for values that must never appear in messages or logs.
// Its errors name the variable, never the value.
func (e *Env) Secret(name string, minLen int) string {
	v, ok := e.get(name)
	switch {
	case !ok:
		e.fail("%s is required", name)
	case len(v) < minLen:
		e.fail("%s must be at least %d characters", name, minLen)
	}
	return v
}

// Int returns an integer within [lo, hi], or def when unset.
func (e *Env) Int(name string, def, lo, hi int) int {
	v, ok := e.get(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		e.fail("%s must be an integer between %d and %d, got %q", name, lo, hi, v)
		return def
	}
	return n
}

// Duration returns a positive Go duration ("5s", "250ms"), or def when unset.
func (e *Env) Duration(name string, def time.Duration) time.Duration {
	return e.DurationAtLeast(name, def, time.Nanosecond)
}

// DurationAtLeast is Duration for settings with a floor: a value below min
// is an error, reported with the others.
func (e *Env) DurationAtLeast(name string, def, min time.Duration) time.Duration {
	v, ok := e.get(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil || d <= 0:
		e.fail("%s must be a positive duration such as 5s, got %q", name, v)
		return def
	case d < min:
		e.fail("%s must be at least %s, got %s", name, min, d)
		return def
	}
	return d
}

// URL returns an absolute http or https URL without a trailing slash.
func (e *Env) URL(name, def string) string {
	v := e.String(name, def)
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		e.fail("%s must be an absolute http(s) URL, got %q", name, v)
		return v
	}
	return strings.TrimRight(v, "/")
}

// OneOf returns the variable when it is one of allowed, or def when unset.
func (e *Env) OneOf(name, def string, allowed ...string) string {
	v := e.String(name, def)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	e.fail("%s must be one of %s, got %q", name, strings.Join(allowed, ", "), v)
	return def
}

// Err returns every recorded problem joined into one error, or nil.
func (e *Env) Err() error {
	if len(e.errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid configuration: %w", errors.Join(e.errs...))
}

// Server checks the settings server.Main reads before the service's own
// (PORT, LOG_LEVEL), so a typo there is reported with the rest instead of
// being silently replaced by a default.
func (e *Env) Server() {
	e.Int("PORT", DefaultPort, 1, 65535)
	e.OneOf("LOG_LEVEL", "info", "debug", "info", "warn", "error")
}

// Database is how a service reaches PostgreSQL.
type Database struct {
	// URL is DATABASE_URL, or "" when the standard PG* variables are to be
	// used instead (how ECS passes the RDS endpoint).
	URL string
	// PasswordSecretARN is PGPASSWORD_SECRET_ARN: the Secrets Manager secret
	// (JSON with "password" and optionally "username", as RDS manages it)
	// read whenever a connection is opened, so a rotated password is picked
	// up without a restart. "" means the password comes with URL or
	// PGPASSWORD, read once at start.
	PasswordSecretARN string
}

// secretARN matches the ARN of a Secrets Manager secret:
// arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME, where RDS names
// the secrets it manages rds!db-<id>.
var secretARN = regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@!-]+$`)

// Database returns the database settings. With neither DATABASE_URL nor
// PGHOST it records an error: pgx would otherwise quietly try a local socket
// as the OS user.
func (e *Env) Database() Database {
	db := Database{
		URL:               e.String("DATABASE_URL", ""),
		PasswordSecretARN: e.String("PGPASSWORD_SECRET_ARN", ""),
	}
	if db.URL == "" && e.String("PGHOST", "") == "" {
		e.fail("DATABASE_URL or PGHOST (with the other PG* variables) is required")
	}
	if db.PasswordSecretARN != "" && !secretARN.MatchString(db.PasswordSecretARN) {
		e.fail("PGPASSWORD_SECRET_ARN must be the ARN of a Secrets Manager secret "+
			"(arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME), got %q", db.PasswordSecretARN)
	}
	return db
}
