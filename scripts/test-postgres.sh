#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster on the host for tests and `make run`,
# then prints the variables to use it:
#   eval "$(scripts/test-postgres.sh)"
# It listens on 127.0.0.1:${PGTEST_PORT:-55432} with trust auth for the local
# user "postgres" only: every other role must give its password (SCRAM), so
# tests of password handling see what RDS does. It keeps its data in
# ${PGTEST_DIR:-/tmp/fargateshop-pg}.
# `scripts/test-postgres.sh stop` stops it; `scripts/test-postgres.sh image`
# prints the PostgreSQL image Compose runs.
#
# The host's server is the one Debian 12 ships (15). PGTEST_IMAGE runs the
# server of a PostgreSQL image in Docker instead, with the same rules and
# settings, e.g. 17 as in Compose and RDS, from the stand-in (make standin):
#   PGTEST_IMAGE=fargateshop-standin/postgres:17 PGTEST_PORT=55433 scripts/test-postgres.sh
# Its data lives in the container's memory and goes with `stop`. A machine
# without PostgreSQL's server but with Docker gets Compose's image the same
# way, so `make test` needs no more than `docker compose up` does.
set -euo pipefail
cd "$(dirname "$0")/.."

port="${PGTEST_PORT:-55432}"
dir="${PGTEST_DIR:-/tmp/fargateshop-pg}"
settings="-c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
hba="local all postgres trust
host all postgres 127.0.0.1/32 trust
host all postgres ::1/128 trust
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256"

print_env() {
  echo "export TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
  echo "export DATABASE_URL=postgres://postgres@127.0.0.1:$port/shop?sslmode=disable"
}

# compose_image is the PostgreSQL image Compose runs: POSTGRES_IMAGE from the
# environment, .env or the stand-ins' out/standin.env, else the public image
# docker-compose.yml pins.
compose_image() {
  local img=${POSTGRES_IMAGE:-}
  [ -n "$img" ] || img=$(sed -n 's/^POSTGRES_IMAGE=//p' .env out/standin.env 2>/dev/null | head -n1)
  # shellcheck disable=SC2016 # a literal ${ in the pattern
  [ -n "$img" ] || img=$(sed -n 's/^ *image: \${POSTGRES_IMAGE:-\(.*\)}$/\1/p' docker-compose.yml)
  [ -n "$img" ] || { echo "test-postgres: cannot read the PostgreSQL image from docker-compose.yml" >&2; exit 1; }
  echo "$img"
}
if [ "${1:-}" = image ]; then
  compose_image
  exit 0
fi

# host_bindir finds the host's PostgreSQL server programs: pg_config's
# directory, initdb on PATH, or Debian's newest versioned directory.
host_bindir() {
  local d
  if command -v pg_config >/dev/null 2>&1; then
    d=$(pg_config --bindir)
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  fi
  if d=$(command -v initdb 2>/dev/null) && [ -x "$d" ]; then
    dirname "$(readlink -f "$d")"
    return
  fi
  d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  [ -x "$d/initdb" ] && echo "$d"
  return 0
}

bindir=""
if [ -z "${PGTEST_IMAGE:-}" ]; then
  bindir=$(host_bindir)
  if [ -z "$bindir" ]; then
    if ! docker info >/dev/null 2>&1; then
      echo "test-postgres: no PostgreSQL server and no Docker engine here: install either (apt-get install -y postgresql, or Docker)" >&2
      exit 1
    fi
    PGTEST_IMAGE=$(compose_image)
    [ "${1:-start}" = stop ] || echo "test-postgres: no PostgreSQL server on this machine; running $PGTEST_IMAGE in Docker on port $port" >&2
  fi
fi

if [ -n "${PGTEST_IMAGE:-}" ]; then
  name="fargateshop-pgtest-$port"
  if [ "${1:-start}" = stop ]; then
    docker rm -f "$name" >&2 || true
    exit 0
  fi
  if [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null)" != true ]; then
    docker rm -f "$name" >/dev/null 2>&1 || true
    # The image wants a password for its first user; nothing uses it.
    # shellcheck disable=SC2086 # settings are separate words
    docker run -d --name "$name" -p "127.0.0.1:$port:5432" --tmpfs /var/lib/postgresql/data \
      -e POSTGRES_USER=postgres -e POSTGRES_PASSWORD="unused-$RANDOM$RANDOM" \
      "$PGTEST_IMAGE" postgres $settings >/dev/null
  fi
  # Ready only once the image's first-start initialisation is over: until
  # then it listens on its socket alone.
  for _ in $(seq 120); do
    docker exec "$name" pg_isready -q -h 127.0.0.1 -U postgres 2>/dev/null && break
    [ "$(docker inspect -f '{{.State.Running}}' "$name")" = true ] || break
    sleep 1
  done
  docker exec "$name" pg_isready -q -h 127.0.0.1 -U postgres ||
    { docker logs --tail 40 "$name" >&2; echo "test-postgres: $PGTEST_IMAGE did not start" >&2; exit 1; }
  # The host's connections arrive from Docker's gateway, not 127.0.0.1.
  # shellcheck disable=SC2016 # PGDATA is expanded in the container
  printf '%s\n' "$hba" | sed 's#127.0.0.1/32#all#' |
    docker exec -i "$name" sh -c 'cat >"$PGDATA/pg_hba.conf" && su postgres -s /bin/sh -c "pg_ctl -D $PGDATA reload" >/dev/null'
  docker exec "$name" psql -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='shop'" | grep -q 1 ||
    docker exec "$name" psql -U postgres -d postgres -qc "CREATE DATABASE shop" >&2
  print_env
  exit 0
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
hba_changed=""
if [ "$(cat "$dir/pg_hba.conf")" != "$hba" ]; then
  printf '%s\n' "$hba" | as_pg tee "$dir/pg_hba.conf" >/dev/null
  hba_changed=1
fi
if as_pg "$bindir/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
  [ -z "$hba_changed" ] || as_pg "$bindir/pg_ctl" -D "$dir" reload >&2
else
  as_pg "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir $settings" >&2
fi
# The shop's own database for `make run`.
"$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='shop'" | grep -q 1 ||
  "$bindir/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc "CREATE DATABASE shop" >&2

print_env
