#!/usr/bin/env bash
# The local Compose stack (docker-compose.yml).
#
#   scripts/stack.sh up     build the images, start everything, wait until healthy
#   scripts/stack.sh down   stop and remove the containers (the pgdata volume stays)
#   scripts/stack.sh e2e    up, smoke suite, fault checks, soak, then down with
#                           its volume (even on failure)
#
# e2e runs a Compose project of its own (E2E_PROJECT, default fargateshop-e2e)
# with its own database volume, its edge on E2E_PORT (default 18080) and
# Jaeger's UI and metrics on E2E_JAEGER_UI_PORT and E2E_METRICS_PORT (default
# 26686 and 18889; the tests read JAEGER_URL), the broker on E2E_BROKER_PORT
# (default 14100; the tests read BROKER_URL): the test data never lands in
# the stack `make stack` or `docker compose up` keep, which may stay up on
# :8080 meanwhile.
#
# Environment: STACK_TIMEOUT (seconds to wait for health, default 300),
# EDGE_PORT (the edge's port on the host, default 8080), JAEGER_UI_PORT
# (16686), METRICS_PORT (8889) and BROKER_PORT (4100), STANDINS (auto|yes|no, see use_standins) and the
# variables in .env.example. Needs Docker Compose v2 and buildx (scripts/install-tools.sh).
set -euo pipefail

cd "$(dirname "$0")/.."

STACK_TIMEOUT=${STACK_TIMEOUT:-300}
# The public images, read where they are declared (pinned by digest; Jaeger's
# and the broker's by tag).
# shellcheck disable=SC2016 # a literal ${ in the pattern
mapfile -t PUBLIC_IMAGES < <(sed -n 's/^ARG \(GO_IMAGE\|RUNTIME_IMAGE\)=//p' apps/Dockerfile
  sed -n 's/^ *image: \${\(POSTGRES\|JAEGER\|BROKER\)_IMAGE:-\(.*\)}$/\2/p' docker-compose.yml)
[[ ${#PUBLIC_IMAGES[@]} == 5 ]] || { echo "stack: cannot read the public images from apps/Dockerfile and docker-compose.yml" >&2; exit 1; }

log() { printf '==> %s\n' "$*"; }
die() { printf 'stack: %s\n' "$*" >&2; exit 1; }

compose() { docker compose "$@"; }

preflight() {
  docker info >/dev/null 2>&1 || die "cannot reach the Docker engine (is dockerd running, may you use its socket?)"
  docker compose version >/dev/null 2>&1 || die "Docker Compose v2 is missing: run scripts/install-tools.sh"
  docker buildx version >/dev/null 2>&1 || die "docker buildx is missing: run scripts/install-tools.sh"
}

# use_standins: point GO_IMAGE, RUNTIME_IMAGE, POSTGRES_IMAGE, JAEGER_IMAGE and
# BROKER_IMAGE at local stand-ins (scripts/standin-images.sh) when the public images are
# neither here nor pullable. STANDINS=yes forces them, STANDINS=no never uses
# them. A value the caller already set always wins.
use_standins() {
  local mode=${STANDINS:-auto} missing=() img
  if [[ -n ${GO_IMAGE:-} && -n ${RUNTIME_IMAGE:-} && -n ${POSTGRES_IMAGE:-} && -n ${JAEGER_IMAGE:-} && -n ${BROKER_IMAGE:-} ]]; then
    log "using GO_IMAGE=$GO_IMAGE RUNTIME_IMAGE=$RUNTIME_IMAGE POSTGRES_IMAGE=$POSTGRES_IMAGE JAEGER_IMAGE=$JAEGER_IMAGE BROKER_IMAGE=$BROKER_IMAGE"
    return
  fi
  case $mode in
    no) log "STANDINS=no: public base images"; return ;;
    yes) log "STANDINS=yes: local stand-ins" ;;
    auto)
      for img in "${PUBLIC_IMAGES[@]}"; do
        docker image inspect "$img" >/dev/null 2>&1 || missing+=("$img")
      done
      if [[ ${#missing[@]} == 0 ]]; then
        log "public base images present"
        return
      fi
      # One pull tells whether the engine reaches a registry; if it does,
      # compose pulls the rest itself.
      log "trying to pull ${missing[0]}"
      if timeout 120 docker pull -q "${missing[0]}" >/dev/null 2>&1; then
        log "registry reachable: public base images"
        return
      fi
      log "no registry reachable and ${missing[*]} missing: local stand-ins"
      ;;
    *) die "STANDINS must be auto, yes or no, not $mode" ;;
  esac
  scripts/standin-images.sh
  local given_go=${GO_IMAGE:-} given_rt=${RUNTIME_IMAGE:-} given_pg=${POSTGRES_IMAGE:-} given_jg=${JAEGER_IMAGE:-} given_br=${BROKER_IMAGE:-}
  # shellcheck source=/dev/null
  source out/standin.env
  GO_IMAGE=${given_go:-$GO_IMAGE}
  RUNTIME_IMAGE=${given_rt:-$RUNTIME_IMAGE}
  POSTGRES_IMAGE=${given_pg:-$POSTGRES_IMAGE}
  JAEGER_IMAGE=${given_jg:-$JAEGER_IMAGE}
  BROKER_IMAGE=${given_br:-$BROKER_IMAGE}
  export GO_IMAGE RUNTIME_IMAGE POSTGRES_IMAGE JAEGER_IMAGE BROKER_IMAGE
}

# report_unhealthy: state of every container, and the logs of each one that
# is not running and healthy.
report_unhealthy() {
  local id name state health
  compose ps -a >&2 || true
  for id in $(compose ps -a -q); do
    name=$(docker inspect -f '{{.Name}}' "$id")
    state=$(docker inspect -f '{{.State.Status}}' "$id")
    health=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$id")
    if [[ $state != running || ($health != healthy && $health != none) ]]; then
      printf '\n--- %s: %s, health %s; last health checks:\n' "${name#/}" "$state" "$health" >&2
      docker inspect -f '{{if .State.Health}}{{range .State.Health.Log}}{{.ExitCode}} {{.Output}}{{end}}{{end}}' "$id" >&2 || true
      printf -- '--- %s: logs (last 60 lines)\n' "${name#/}" >&2
      docker logs --tail 60 "$id" >&2 || true
    fi
  done
}

up() {
  preflight
  use_standins
  export REVISION=${REVISION:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
  local start=$SECONDS
  # catalog first, alone: it fills the shared Go build cache, so the other
  # three then take seconds instead of compiling the same packages side by side.
  log "building catalog (first cold build compiles the dependencies: minutes)"
  compose build catalog
  log "building the other services"
  compose build
  log "built in $((SECONDS - start))s; starting (waiting up to ${STACK_TIMEOUT}s for health)"
  start=$SECONDS
  if ! compose up -d --wait --wait-timeout "$STACK_TIMEOUT"; then
    printf '\nstack: not healthy after %ss\n' "$((SECONDS - start))" >&2
    report_unhealthy
    exit 1
  fi
  log "healthy in $((SECONDS - start))s:"
  compose ps
  log "edge at http://localhost:${EDGE_PORT:-8080}"
  log "traces at http://localhost:${JAEGER_UI_PORT:-16686}, metrics at http://localhost:${METRICS_PORT:-8889}/metrics"
}

down() {
  preflight
  compose down --remove-orphans
}

e2e() {
  local rc=0 smoke=0 faults=0 containers=0 soak=0
  # Every docker compose below, the tests' and the soak's included, reads
  # the project and the port from the environment.
  export COMPOSE_PROJECT_NAME=${E2E_PROJECT:-fargateshop-e2e} EDGE_PORT=${E2E_PORT:-18080}
  export JAEGER_UI_PORT=${E2E_JAEGER_UI_PORT:-26686} METRICS_PORT=${E2E_METRICS_PORT:-18889}
  export SMOKE_BASE_URL=http://localhost:$EDGE_PORT BASE_URL=http://localhost:$EDGE_PORT
  export JAEGER_URL=http://localhost:$JAEGER_UI_PORT
  export BROKER_PORT=${E2E_BROKER_PORT:-14100}
  export BROKER_URL=http://127.0.0.1:$BROKER_PORT
  log "e2e in Compose project $COMPOSE_PROJECT_NAME, edge on :$EDGE_PORT"
  # Down, volume included, whatever happens from here on, keeping the first
  # failure's code.
  trap 'log "stopping the stack and removing its volume"; compose down --remove-orphans --volumes || true' EXIT
  up
  log "smoke suite against $SMOKE_BASE_URL"
  go test -count=1 -tags smoke ./smoke/... || smoke=$?
  log "fault checks (stop, restart and start containers)"
  go test -count=1 -tags faults ./smoke/... || faults=$?
  log "container hardening (user, read-only root, capabilities)"
  go test -count=1 -tags docker -run TestContainers ./systemtest/ || containers=$?
  # A fault every 15 s: the two minutes reach the event faults (kill orders,
  # kill shipping, pause the broker) as well as the older ones; the
  # minute without shipping is left to long runs (make soak, longer).
  log "short soak with faults, then the invariants"
  SOAK_FAULT_EVERY=${SOAK_FAULT_EVERY:-15s} scripts/soak.sh || soak=$?
  rc=$smoke
  [[ $rc != 0 ]] || rc=$faults
  [[ $rc != 0 ]] || rc=$containers
  [[ $rc != 0 ]] || rc=$soak
  if [[ $rc == 0 ]]; then
    log "e2e passed"
  else
    log "e2e FAILED (smoke $smoke, faults $faults, containers $containers, soak $soak)"
    report_unhealthy
  fi
  return "$rc"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  e2e) e2e ;;
  *) echo "usage: $0 up|down|e2e" >&2; exit 2 ;;
esac
