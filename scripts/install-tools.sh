#!/usr/bin/env bash
# Installs what the stack and the tests need and a fresh machine lacks:
#   - Docker Compose v2 and buildx as Docker CLI plugins, built from source
#     through the Go module proxy (no download site is reachable here);
#   - Debian's chromium (browser tests), postgresql (tests), busybox-static
#     (scripts/standin-images.sh), shellcheck (make lint), gcc and libc6-dev
#     (the race detector of make test), ca-certificates
#     and tzdata.
# Each step is skipped when its version is already there, so a second run
# takes about a second. The two plugin builds run side by side (minutes).
set -euo pipefail

BUILDX_VERSION=v0.38.2
COMPOSE_VERSION=v2.40.3
PLUGIN_DIR=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
APT_PACKAGES=(chromium postgresql busybox-static shellcheck gcc libc6-dev ca-certificates tzdata)

log() { printf '==> [%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { printf 'install-tools: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || die "go is not on PATH"
command -v docker >/dev/null || die "the docker CLI is not on PATH"

SUDO=()
[[ $(id -u) == 0 ]] || SUDO=(sudo)

WORK=$(mktemp -d /tmp/install-tools.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# --- Debian packages -------------------------------------------------------
apt_step() {
  local missing=() p start=$SECONDS
  for p in "${APT_PACKAGES[@]}"; do
    [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
  done
  if [[ ${#missing[@]} == 0 ]]; then
    log "apt: ${APT_PACKAGES[*]} already installed"
    return
  fi
  log "apt: installing ${missing[*]}"
  "${SUDO[@]}" apt-get update -q >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; die "apt-get update failed"; }
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q "${missing[@]}" >>"$WORK/apt.log" 2>&1 ||
    { tail -40 "$WORK/apt.log" >&2; die "apt-get install failed"; }
  log "apt: done in $((SECONDS - start))s"
}

# --- Docker CLI plugins ----------------------------------------------------
# The version strings are stamped at link time: compose refuses a buildx that
# reports no version ("requires buildx 0.17 or later").

buildx_ok() { [[ $(docker buildx version 2>/dev/null) == *" $BUILDX_VERSION "* ]]; }
compose_ok() { [[ $(docker compose version --short 2>/dev/null) == "${COMPOSE_VERSION#v}" ]]; }

build_buildx() {
  GOWORK=off GOBIN="$WORK/bin" go install -trimpath \
    -ldflags "-s -w -X github.com/docker/buildx/version.Version=$BUILDX_VERSION -X github.com/docker/buildx/version.Package=github.com/docker/buildx" \
    "github.com/docker/buildx/cmd/buildx@$BUILDX_VERSION"
  install -m 0755 "$WORK/bin/buildx" "$PLUGIN_DIR/docker-buildx"
}

# Compose's go.mod has exclude directives, which `go install pkg@version`
# rejects, so it is built from a throwaway module that requires it.
build_compose() {
  local mod=$WORK/compose
  mkdir -p "$mod"
  cat >"$mod/go.mod" <<EOF
module local/compose-build

go 1.24

require github.com/docker/compose/v2 $COMPOSE_VERSION
EOF
  printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/docker/compose/v2/cmd"\n' >"$mod/tools.go"
  (
    cd "$mod"
    export GOWORK=off
    go mod tidy
    go build -trimpath \
      -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
      -o "$WORK/bin/docker-compose" github.com/docker/compose/v2/cmd
  )
  install -m 0755 "$WORK/bin/docker-compose" "$PLUGIN_DIR/docker-compose"
}

# run_bg NAME FUNC: FUNC in the background, its output in $WORK/NAME.log.
declare -A PIDS STARTS
run_bg() {
  log "$1: building from the Go module proxy (a few minutes)"
  STARTS[$1]=$SECONDS
  "$2" >"$WORK/$1.log" 2>&1 &
  PIDS[$1]=$!
}

wait_bg() {
  local name=$1
  if wait "${PIDS[$name]}"; then
    log "$name: installed in $((SECONDS - STARTS[$name]))s"
  else
    tail -40 "$WORK/$name.log" >&2
    die "$name: build failed (log above)"
  fi
}

plugins_step() {
  mkdir -p "$PLUGIN_DIR" "$WORK/bin"
  if buildx_ok; then log "buildx: $BUILDX_VERSION already installed"; else run_bg buildx build_buildx; fi
  if compose_ok; then log "compose: $COMPOSE_VERSION already installed"; else run_bg compose build_compose; fi
  [[ -z ${PIDS[buildx]:-} ]] || wait_bg buildx
  [[ -z ${PIDS[compose]:-} ]] || wait_bg compose
  buildx_ok || die "docker buildx version does not report $BUILDX_VERSION: $(docker buildx version 2>&1)"
  compose_ok || die "docker compose version does not report $COMPOSE_VERSION: $(docker compose version 2>&1)"
}

START=$SECONDS
# The plugin builds take longest: start them first, apt runs meanwhile.
plugins_step &
PLUGINS_PID=$!
apt_step
wait "$PLUGINS_PID" || die "plugin step failed"
log "$(docker buildx version)"
log "$(docker compose version)"
log "$(chromium --version 2>/dev/null || echo 'chromium: not runnable')"
log "all tools ready in $((SECONDS - START))s"
