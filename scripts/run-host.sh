#!/usr/bin/env bash
# `make run`: the whole shop on the host, no containers. Each service runs on
# its declared host port and the edge on :8080 in front of them, exactly as
# Compose wires it. Without DATABASE_URL a local cluster is started with
# scripts/test-postgres.sh (postgres://postgres@127.0.0.1:55432/shop). The
# events go through goaws, the broker Compose runs, built from its Go module
# (brokertest's requirement) and started with compose/goaws.yaml on
# 127.0.0.1:${BROKER_PORT:-4100}. Ctrl-C stops everything.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if [ -z "${DATABASE_URL:-}" ]; then
  eval "$(scripts/test-postgres.sh)"
fi
export ADMIN_TOKEN="${ADMIN_TOKEN:-local-admin-token-not-secret}"

mkdir -p bin
for svc in catalog orders shipping web edge; do
  echo "run: building $svc"
  (cd "apps/$svc" && go build -o "$root/bin/$svc" .)
done
echo "run: building the broker (goaws)"
(cd brokertest && go build -o "$root/bin/goaws" github.com/Admiral-Piett/goaws/app/cmd)

pids=()
# shellcheck disable=SC2317 # run by the trap below
cleanup() {
  trap - INT TERM EXIT
  if [ ${#pids[@]} -gt 0 ]; then kill -TERM "${pids[@]}" 2>/dev/null || true; fi
  wait || true
}
trap cleanup INT TERM EXIT

start() { # name port env...
  local name="$1" port="$2"; shift 2
  env PORT="$port" "$@" "bin/$name" &
  pids+=($!)
}
broker=http://127.0.0.1:${BROKER_PORT:-4100}
account=100010001000 # compose/goaws.yaml's AccountId
aws=(AWS_ENDPOINT_URL="$broker" AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local-only-not-a-key AWS_SECRET_ACCESS_KEY=local-only-not-a-secret)
# goaws takes its port from the file; a copy carries BROKER_PORT's.
sed "s/^  Port: \"4100\"/  Port: \"${BROKER_PORT:-4100}\"/" compose/goaws.yaml >bin/goaws.yaml
bin/goaws -config bin/goaws.yaml Local >bin/goaws.log 2>&1 &
pids+=($!)
# DEMO_DATA: the demo products, added once to an empty catalog.
start catalog 8081 DATABASE_URL="$DATABASE_URL" ADMIN_TOKEN="$ADMIN_TOKEN" DEMO_DATA="${DEMO_DATA:-true}"
start orders 8082 DATABASE_URL="$DATABASE_URL" CATALOG_URL=http://127.0.0.1:8081 "${aws[@]}" \
  ORDER_EVENTS_TOPIC_ARN="arn:aws:sns:us-east-1:$account:order-events"
start shipping 8084 DATABASE_URL="$DATABASE_URL" "${aws[@]}" \
  ORDER_EVENTS_QUEUE_URL="$broker/$account/shipping-order-events"
start web 8083 CATALOG_URL=http://127.0.0.1:8081
start edge 8080 UPSTREAM_CATALOG=http://127.0.0.1:8081 UPSTREAM_ORDERS=http://127.0.0.1:8082 UPSTREAM_WEB=http://127.0.0.1:8083 UPSTREAM_SHIPPING=http://127.0.0.1:8084

echo "run: the shop is at http://localhost:8080 (admin token: $([ "$ADMIN_TOKEN" = local-admin-token-not-secret ] && echo "$ADMIN_TOKEN" || echo "from ADMIN_TOKEN")); Ctrl-C stops it"
wait -n "${pids[@]}"
echo "run: a service exited; stopping the others" >&2
exit 1
