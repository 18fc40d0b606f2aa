#!/usr/bin/env bash
# The benchmark table of docs/performance.md: builds the services, starts
# them on 127.0.0.1 against a throwaway database and loads them (bench/).
# Uses TEST_DATABASE_URL (or DATABASE_URL) when set, else starts the host
# test PostgreSQL (scripts/test-postgres.sh). Arguments go to the harness:
#   scripts/bench.sh -quick          one short run (about 2 minutes)
#   scripts/bench.sh -out table.md   also write the table to a file
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${TEST_DATABASE_URL:-}" ] && [ -z "${DATABASE_URL:-}" ]; then
  eval "$(scripts/test-postgres.sh)"
fi

# A built binary rather than `go run`, so the harness can re-exec itself
# for the floor servers (bench/floor.go) and its build is not timed with
# the services'.
bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/bench" ./bench
"$bin/bench" "$@"
