#!/usr/bin/env bash
# Soak test of the running Compose stack under injected faults, then a check
# of the shop's invariants (docs/reliability.md). The stack must be up
# (scripts/stack.sh up); faults are injected with `docker compose` in this
# repository's directory.
#
#   scripts/soak.sh                                  # 2 minutes, CI's short run
#   SOAK_DURATION=15m SOAK_RATE=30 scripts/soak.sh   # a long run
#   scripts/soak.sh -faults kill-catalog,pause-postgres -strict   # extra flags go to the command
#
# Environment: SOAK_DURATION (2m), SOAK_RATE (20 operations/s),
# SOAK_FAULT_EVERY (20s), BASE_URL (http://localhost:8080), BROKER_URL (the
# broker's published port, http://127.0.0.1:4100), ADMIN_TOKEN (compose's
# default). Exit status: 0 all invariants hold, 1 one failed,
# 2 the soak could not run.
set -euo pipefail
cd "$(dirname "$0")/.."

exec go run ./systemtest/cmd/soak \
  -duration "${SOAK_DURATION:-2m}" \
  -rate "${SOAK_RATE:-20}" \
  -fault-every "${SOAK_FAULT_EVERY:-20s}" \
  -base-url "${BASE_URL:-http://localhost:8080}" \
  -compose-dir . \
  "$@"
