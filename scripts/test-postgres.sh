#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on the host for tests and `make run`,
# then prints the variables to use it:
#   eval "$(scripts/test-postgres.sh)"
# It listens on 127.0.0.1:${PGTEST_PORT:-55432} with trust auth for the local
# user "postgres" only: every other role must give its password (SCRAM), so
# tests of password handling see what RDS does. It keeps its data in
# ${PGTEST_DIR:-/tmp/fargateshop-pg}.
# `scripts/test-postgres.sh stop` stops it.
set -euo pipefail

port="${PGTEST_PORT:-55432}"
dir="${PGTEST_DIR:-/tmp/fargateshop-pg}"

bindir=""
if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
  bindir="$(pg_config --bindir)"
else
  bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)"
fi
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "test-postgres: PostgreSQL server binaries not found; install them with: apt-get install -y postgresql" >&2
  exit 1
fi

# initdb refuses to run as root; use the postgres account Debian's package creates.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "${1:-start}" = stop ]; then
  as_pg "$bindir/pg_ctl" -D "$dir" -m fast stop >&2 || true
  exit 0
fi

if [ ! -s "$dir/PG_VERSION" ]; then
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  as_pg "$bindir/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
fi
# Written on every start, so a cluster made by an older version of this script
# (initdb --auth=trust trusted every role) gets the same rules.
hba="local all postgres trust
host all postgres 127.0.0.1/32 trust
host all postgres ::1/128 trust
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256"
hba_changed=""
if [ "$(cat "$dir/pg_hba.conf")" != "$hba" ]; then
  printf '%s\n' "$hba" | as_pg tee "$dir/pg_hba.conf" >/dev/null
  hba_changed=1
fi
if as_pg "$bindir/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
  [ -z "$hba_changed" ] || as_pg "$bindir/pg_ctl" -D "$dir" reload >&2
else
  as_pg "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >&2
fi
# The shop's own database for `make run`.
"$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='shop'" | grep -q 1 ||
  "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc "CREATE DATABASE shop" >&2

echo "export TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
echo "export DATABASE_URL=postgres://postgres@127.0.0.1:$port/shop?sslmode=disable"
