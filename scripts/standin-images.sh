#!/usr/bin/env bash
# Builds local stand-ins for the public images apps/Dockerfile and
# docker-compose.yml name by default (golang, distroless static, postgres,
# jaeger, goaws), for machines whose Docker engine cannot reach any registry. Each
# image is assembled from files on this Debian host, from Debian packages or
# from a Go module, and loaded with `docker import`, so nothing is pulled from
# a registry.
#
#   scripts/standin-images.sh [--force]
#
# Writes out/standin.env (GO_IMAGE, RUNTIME_IMAGE, POSTGRES_IMAGE,
# JAEGER_IMAGE, BROKER_IMAGE), which scripts/stack.sh sources, and prints the
# same as export lines. Needs root (files in the images get uid
# 65532/999/10001), busybox-static, ca-certificates and tzdata
# (scripts/install-tools.sh), deb.debian.org for the PostgreSQL packages (see
# PG_SUITE) and the Go module proxy for Jaeger and goaws (see
# JAEGER_MODULE_VERSION, GOAWS_VERSION).
#
# The Jaeger stand-in serves the complete HTTP API on :16686 (/api/traces/{id},
# /api/services, ...) but only a placeholder page where the UI goes: the UI's
# assets are built from npm packages and are not in the Go module. The public
# image jaegertracing/jaeger has the full UI.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD

FORCE=0
case "${1:-}" in
  --force) FORCE=1 ;;
  "") ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

GO_ROOT=$(go env GOROOT)
GO_VERSION=$(go env GOVERSION)           # e.g. go1.26.8
GO_MINOR=$(echo "${GO_VERSION#go}" | cut -d. -f1,2)
# PostgreSQL 17, as in Compose and RDS. Debian 12 ships only 15 and
# apt.postgresql.org is not reachable here, so the image is assembled from
# Debian 13's packages, libc included: it never loads a host library. They
# are fetched with a private apt configuration; the host's sources, package
# lists and installed packages are left alone.
PG_MAJOR=17
PG_SUITE=trixie
PG_MIRROR=${PG_MIRROR:-http://deb.debian.org/debian}
# The server, the client tools the entrypoint and healthcheck use, and the
# shared libraries they load (the check in build_postgres names any missing).
# libllvm19 is left out: without it the server just runs without JIT.
PG_PACKAGES=(
  "postgresql-$PG_MAJOR" "postgresql-client-$PG_MAJOR" libpq5 libc6 libgcc-s1 libstdc++6
  libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libcom-err2 libkeyutils1
  libldap2 libsasl2-2 libgnutls30t64 libp11-kit0 libidn2-0 libunistring5 libtasn1-6
  libnettle8t64 libhogweed6t64 libgmp10 libffi8 libicu76 libxml2 liblzma5 libxslt1.1
  libgcrypt20 libgpg-error0 libssl3t64 libpam0g libaudit1 libcap-ng0 libcap2 libselinux1
  libpcre2-8-0 libsystemd0 libuuid1 liblz4-1 libzstd1 zlib1g libxxhash0
  libreadline8t64 libtinfo6 libncursesw6 libedit2 libbsd0 libmd0
)
PG_DEBS=$ROOT/.cache/standin-postgres-$PG_SUITE
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
PG_SHARE=/usr/share/postgresql/$PG_MAJOR

# Jaeger v2 is the module's cmd/jaeger: module v1.76.0 is Jaeger v2.13.0, the
# release the public image's tag in docker-compose.yml names (build_jaeger
# checks the module's CHANGELOG pairs the two). The binary is cached by both
# versions and the Go toolchain that built it.
JAEGER_MODULE=github.com/jaegertracing/jaeger
JAEGER_MODULE_VERSION=v1.76.0
JAEGER_VERSION=2.13.0
JAEGER_CACHE=$ROOT/.cache/standin-jaeger-$JAEGER_MODULE_VERSION
# The public image's user, entrypoint and listen host, so compose runs both alike.
JAEGER_UID=10001
JAEGER_BIN=/cmd/jaeger/jaeger-linux

# goaws, the SNS/SQS broker: the module's app/cmd at the release the public
# image admiralpiett/goaws is tagged with, built like that release
# (CGO_ENABLED=0) and laid out like its image (/goaws, the module's sample
# config in /app/conf), on the runtime stand-in.
GOAWS_MODULE=github.com/Admiral-Piett/goaws
GOAWS_VERSION=v0.5.4
GOAWS_CACHE=$ROOT/.cache/standin-goaws-$GOAWS_VERSION

GO_IMAGE=fargateshop-standin/golang:$GO_MINOR
RUNTIME_IMAGE=fargateshop-standin/static:nonroot
POSTGRES_IMAGE=fargateshop-standin/postgres:$PG_MAJOR
JAEGER_IMAGE=fargateshop-standin/jaeger:$JAEGER_VERSION
BROKER_IMAGE=fargateshop-standin/goaws:$GOAWS_VERSION
# Images built FROM a stand-in inherit this label, which marks them as not for release.
STANDIN_LABEL='fargateshop.standin="assembled from host files by scripts/standin-images.sh; not for release"'

log() { printf '==> %s\n' "$*"; }
die() { printf 'standin-images: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root: the images need files owned by uid 65532, 999 and $JAEGER_UID"
for f in /bin/busybox /etc/ssl/certs/ca-certificates.crt /usr/share/zoneinfo/UTC /usr/lib/locale/C.utf8; do
  [[ -e $f ]] || die "$f is missing; run scripts/install-tools.sh first"
done
/bin/busybox --list | grep -qx sh || die "/bin/busybox has no sh applet (want Debian's busybox-static)"
if [[ $(ldd /bin/busybox 2>&1 || true) != *"not a dynamic executable"* ]]; then
  die "/bin/busybox is dynamically linked; install busybox-static"
fi

WORK=$(mktemp -d /tmp/standin.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

exists() { docker image inspect "$1" >/dev/null 2>&1; }

# want NAME: true when NAME must be (re)built.
want() {
  if [[ $FORCE == 0 ]] && exists "$1"; then
    log "$1 already present (use --force to rebuild)"
    return 1
  fi
  return 0
}

# busybox_into DIR: a static busybox with a link per applet, as a shell and coreutils.
busybox_into() {
  local dir=$1 applet
  mkdir -p "$dir/bin" "$dir/usr/bin"
  cp /bin/busybox "$dir/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [[ $applet == busybox ]] || ln -sf busybox "$dir/bin/$applet"
  done
  ln -sf /bin/env "$dir/usr/bin/env"
}

# base_into DIR: directories and files every image gets.
base_into() {
  local dir=$1
  mkdir -p "$dir/etc/ssl/certs" "$dir/tmp" "$dir/root" "$dir/usr/share"
  chmod 1777 "$dir/tmp"
  chmod 0700 "$dir/root"
  cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/"
  # Zone data without the leap-second variants.
  tar -C /usr/share -c --exclude=zoneinfo/right zoneinfo | tar -C "$dir/usr/share" -x
  printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' >"$dir/etc/nsswitch.conf"
}

# import DIR NAME CHANGES...: load a root file system as an image.
import() {
  local dir=$1 name=$2; shift 2
  local args=() c old
  for c in "$@" "LABEL $STANDIN_LABEL"; do args+=(--change "$c"); done
  old=$(docker image inspect -f '{{.Id}}' "$name" 2>/dev/null || true)
  tar -C "$dir" --numeric-owner -c . | docker import "${args[@]}" - "$name" >/dev/null
  # The replaced image (--force) goes too, unless something still uses it.
  [[ -z $old ]] || docker image rm "$old" >/dev/null 2>&1 || true
  log "built $name ($(docker image inspect -f '{{.Size}}' "$name" | awk '{printf "%.1f MB", $1/1e6}'))"
}

build_go() {
  local dir=$WORK/go
  log "building $GO_IMAGE from $GO_ROOT ($GO_VERSION)"
  busybox_into "$dir"
  base_into "$dir"
  mkdir -p "$dir/go/bin" "$dir/go/src" "$dir/usr/local"
  chmod -R 1777 "$dir/go"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$dir/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
  # The toolchain goes straight from the host into the tar stream; its tests
  # and API lists are not needed to build.
  tar -C "$GO_ROOT/.." --numeric-owner --owner=0 --group=0 \
    --exclude="$(basename "$GO_ROOT")/test" --exclude="$(basename "$GO_ROOT")/api" \
    -c "$(basename "$GO_ROOT")" | tar -C "$dir/usr/local" -x
  [[ $(basename "$GO_ROOT") == go ]] || mv "$dir/usr/local/$(basename "$GO_ROOT")" "$dir/usr/local/go"
  import "$dir" "$GO_IMAGE" \
    "ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    "ENV GOLANG_VERSION=${GO_VERSION#go}" \
    "ENV GOPATH=/go" \
    "ENV GOTOOLCHAIN=local" \
    "ENV HOME=/root" \
    "WORKDIR /go" \
    'CMD ["/bin/sh"]'
}

build_runtime() {
  local dir=$WORK/static
  log "building $RUNTIME_IMAGE (no shell, uid 65532)"
  base_into "$dir"
  rm -rf "$dir/root"
  mkdir -p "$dir/root" "$dir/home/nonroot" "$dir/usr/local/bin" "$dir/var"
  chmod 0700 "$dir/root"
  chown 65532:65532 "$dir/home/nonroot"
  chmod 0700 "$dir/home/nonroot"
  ln -sfn /tmp "$dir/var/tmp"
  cat >"$dir/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
  cat >"$dir/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
nonroot:x:65532:
EOF
  import "$dir" "$RUNTIME_IMAGE" \
    "ENV PATH=/usr/local/bin:/usr/bin:/bin" \
    "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt" \
    "USER 65532:65532" \
    "WORKDIR /home/nonroot"
}

# postgres_entrypoint prints the image's entrypoint: the part of the official
# image's docker-entrypoint.sh that compose relies on, for busybox sh.
postgres_entrypoint() {
  cat <<'EOF'
#!/bin/sh
set -eu
PGDATA=${PGDATA:-/var/lib/postgresql/data}

# Options only: run them with the server, as the official image does.
case "${1:-}" in -*) set -- postgres "$@" ;; esac

if [ "${1:-}" = postgres ] && [ "$(id -u)" = 0 ]; then
  # Start as root only to fix the ownership of mounted volumes, then drop to
  # postgres. busybox su replaces itself with the shell, which execs this script.
  # Options before "--": su would take a server option such as -c as its own.
  mkdir -p "$PGDATA" /var/run/postgresql
  chown postgres:postgres "$PGDATA" /var/run/postgresql
  chmod 0700 "$PGDATA"
  chmod 3777 /var/run/postgresql
  # shellcheck disable=SC2016 # expanded by the shell su starts
  exec su -p -s /bin/sh -c 'exec "$0" "$@"' -- postgres "$0" "$@"
fi

if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  POSTGRES_USER=${POSTGRES_USER:-postgres}
  POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "stand-in postgres: POSTGRES_PASSWORD must be set" >&2
    exit 1
  fi
  echo "stand-in postgres: initialising $PGDATA for user $POSTGRES_USER"
  # The password goes through a pipe, never a file or the command line.
  # POSTGRES_INITDB_ARGS is split into words on purpose.
  # shellcheck disable=SC2086
  printf '%s\n' "$POSTGRES_PASSWORD" |
    initdb -D "$PGDATA" --username="$POSTGRES_USER" --pwfile=/dev/stdin \
      --auth-local=trust --auth-host=scram-sha-256 ${POSTGRES_INITDB_ARGS:-} >/dev/null
  printf '\n# network clients authenticate with a password\nhost all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"

  # A temporary server on the socket only, so nothing connects over TCP
  # before the database exists.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w -s start
  if [ "$POSTGRES_DB" != postgres ]; then
    # Through stdin: psql -c does not substitute :"db".
    echo 'CREATE DATABASE :"db";' |
      psql -v ON_ERROR_STOP=1 -q --username "$POSTGRES_USER" --dbname postgres --set db="$POSTGRES_DB"
  fi
  for f in /docker-entrypoint-initdb.d/*; do
    # shellcheck disable=SC1090
    case "$f" in
      *.sh) echo "running $f"; . "$f" ;;
      *.sql) echo "running $f"; psql -v ON_ERROR_STOP=1 -q --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -f "$f" ;;
    esac
  done
  pg_ctl -D "$PGDATA" -m fast -w -s stop
  echo "stand-in postgres: initialisation done"
fi

# exec: the server is PID 1 and gets SIGINT/SIGTERM from docker stop itself.
exec "$@"
EOF
}

# fetch_pg_debs: download PG_PACKAGES from PG_SUITE into PG_DEBS, once.
fetch_pg_debs() {
  # The marker lists what was fetched, so a changed PG_PACKAGES fetches again.
  if [[ -f $PG_DEBS/complete && $(<"$PG_DEBS/complete") == "${PG_PACKAGES[*]}" ]]; then
    return
  fi
  local apt=$WORK/apt
  mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$PG_DEBS"
  printf 'deb %s %s main\n' "$PG_MIRROR" "$PG_SUITE" >"$apt/sources.list"
  local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o APT::Sandbox::User=root)
  log "fetching postgresql-$PG_MAJOR and its libraries from Debian $PG_SUITE ($PG_MIRROR)"
  apt-get -q "${opts[@]}" update >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; die "apt-get update for $PG_SUITE failed"; }
  (cd "$PG_DEBS" && apt-get -q "${opts[@]}" download "${PG_PACKAGES[@]}") >>"$WORK/apt.log" 2>&1 ||
    { tail -20 "$WORK/apt.log" >&2; die "downloading the $PG_SUITE packages failed"; }
  printf '%s' "${PG_PACKAGES[*]}" >"$PG_DEBS/complete"
}

build_postgres() {
  local dir=$WORK/postgres f missing
  fetch_pg_debs
  busybox_into "$dir"
  base_into "$dir"
  for f in "$PG_DEBS"/*.deb; do dpkg -x "$f" "$dir"; done
  # What usrmerge would link, and what the image does not need.
  ln -sfn usr/lib "$dir/lib"
  ln -sfn usr/lib64 "$dir/lib64"
  rm -rf "$dir/usr/share/doc" "$dir/usr/share/man" "$dir/usr/share/locale" \
    "$dir/usr/lib/postgresql/$PG_MAJOR/lib/llvmjit"* "$dir/usr/lib/postgresql/$PG_MAJOR/lib/bitcode"
  missing=$(for f in "$dir$PG_BIN"/* "$dir/usr/lib/postgresql/$PG_MAJOR/lib"/*.so; do
    chroot "$dir" /usr/lib64/ld-linux-x86-64.so.2 --list "${f#"$dir"}" 2>/dev/null | grep 'not found' | sed "s|^|${f#"$dir"}: |"
  done || true)
  [[ -z $missing ]] || die "libraries missing from PG_PACKAGES:"$'\n'"$missing"
  log "building $POSTGRES_IMAGE from Debian $PG_SUITE's postgresql-$PG_MAJOR ($(chroot "$dir" "$PG_BIN/postgres" --version))"
  mkdir -p "$dir/usr/lib/locale"
  cp -a /usr/lib/locale/C.utf8 "$dir/usr/lib/locale/"
  # Like the official image: listen on every interface unless told otherwise.
  sed -i "s/^#listen_addresses = 'localhost'/listen_addresses = '*'/" "$dir$PG_SHARE/postgresql.conf.sample"
  grep -q "^listen_addresses = '\*'" "$dir$PG_SHARE/postgresql.conf.sample" || die "could not set listen_addresses in the sample config"

  cat >"$dir/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
postgres:x:999:999:PostgreSQL administrator:/var/lib/postgresql:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
  printf 'root:x:0:\npostgres:x:999:\nnogroup:x:65534:\n' >"$dir/etc/group"
  printf '/bin/sh\n' >"$dir/etc/shells"
  mkdir -p "$dir/var/lib/postgresql/data" "$dir/var/run/postgresql" "$dir/docker-entrypoint-initdb.d" "$dir/usr/local/bin"
  ln -sfn /var/run "$dir/run"
  chown -R 999:999 "$dir/var/lib/postgresql" "$dir/var/run/postgresql"
  chmod 0700 "$dir/var/lib/postgresql/data"
  chmod 3777 "$dir/var/run/postgresql"
  postgres_entrypoint >"$dir/usr/local/bin/docker-entrypoint.sh"
  chmod 0755 "$dir/usr/local/bin/docker-entrypoint.sh"
  import "$dir" "$POSTGRES_IMAGE" \
    "ENV PATH=$PG_BIN:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    "ENV PG_MAJOR=$PG_MAJOR" \
    "ENV PGDATA=/var/lib/postgresql/data" \
    "ENV LANG=C.UTF-8" \
    "VOLUME /var/lib/postgresql/data" \
    "EXPOSE 5432" \
    'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    'CMD ["postgres"]'
  # docker import cannot set STOPSIGNAL; SIGINT is a fast shutdown, as in the official image.
  local imported
  imported=$(docker image inspect -f '{{.Id}}' "$POSTGRES_IMAGE")
  printf 'FROM %s\nSTOPSIGNAL SIGINT\n' "$POSTGRES_IMAGE" | docker build -q -t "$POSTGRES_IMAGE" - >/dev/null
  docker image rm "$imported" >/dev/null 2>&1 || true
}

# build_jaeger_binary: JAEGER_CACHE/jaeger, compiled from the module unless
# the cached one came from the same versions and toolchain.
build_jaeger_binary() {
  local mod=$JAEGER_CACHE/module start=$SECONDS stamp
  mkdir -p "$mod"
  # The toolchain the module's own go.mod selects, which is not always the
  # repository's (go.work names its own).
  stamp="$JAEGER_MODULE@$JAEGER_MODULE_VERSION v$JAEGER_VERSION $(cd "$mod" && GOWORK=off GOFLAGS='' go env GOVERSION) CGO_ENABLED=0 -trimpath -s -w"
  if [[ -x $JAEGER_CACHE/jaeger && -f $JAEGER_CACHE/complete && $(<"$JAEGER_CACHE/complete") == "$stamp" ]]; then
    log "jaeger $JAEGER_VERSION: cached binary $JAEGER_CACHE/jaeger"
    return
  fi
  rm -f "$JAEGER_CACHE/complete"
  log "building jaeger $JAEGER_VERSION from $JAEGER_MODULE@$JAEGER_MODULE_VERSION (minutes with a cold Go build cache)"
  (
    cd "$mod"
    # A module of its own: not the repository's workspace, not its flags.
    export GOWORK=off GOFLAGS='' CGO_ENABLED=0
    [[ -f go.mod ]] || go mod init local/jaeger-standin >/dev/null 2>&1
    go get -tool "$JAEGER_MODULE/cmd/jaeger@$JAEGER_MODULE_VERSION" >"$JAEGER_CACHE/build.log" 2>&1
    src=$(go list -m -f '{{.Dir}}' "$JAEGER_MODULE")
    grep -q "^v${JAEGER_MODULE_VERSION#v} / v$JAEGER_VERSION " "$src/CHANGELOG.md" ||
      die "$JAEGER_MODULE $JAEGER_MODULE_VERSION is not Jaeger v$JAEGER_VERSION (its CHANGELOG.md pairs it with another)"
    # The version the binary reports (jaeger version) and the UI shows.
    go build -trimpath -ldflags "-s -w -X $JAEGER_MODULE/internal/version.latestVersion=v$JAEGER_VERSION" \
      -o "$JAEGER_CACHE/jaeger" "$JAEGER_MODULE/cmd/jaeger" >>"$JAEGER_CACHE/build.log" 2>&1
  ) || { tail -30 "$JAEGER_CACHE/build.log" >&2; die "building jaeger failed (log: $JAEGER_CACHE/build.log)"; }
  printf '%s' "$stamp" >"$JAEGER_CACHE/complete"
  log "built jaeger in $((SECONDS - start))s ($(du -m "$JAEGER_CACHE/jaeger" | cut -f1) MB)"
}

build_jaeger() {
  build_jaeger_binary
  # Assigned after the build, and checked: every path below is under it,
  # and an empty one would write the host's /etc/passwd and /etc/group.
  local dir=$WORK/jaeger
  [[ -n $WORK && $dir == "$WORK"/jaeger ]] || die "no work directory for the jaeger image"
  log "building $JAEGER_IMAGE (Jaeger v$JAEGER_VERSION: HTTP API complete, placeholder UI)"
  base_into "$dir"
  # busybox for its wget alone: the health check probes Jaeger's health check
  # extension with it, as it does with the public (Alpine) image's. No shell.
  mkdir -p "$dir/bin" "$dir/usr/bin" "$dir${JAEGER_BIN%/*}"
  cp /bin/busybox "$dir/bin/busybox"
  ln -s /bin/busybox "$dir/usr/bin/wget"
  install -m 0755 "$JAEGER_CACHE/jaeger" "$dir$JAEGER_BIN"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\njaeger:x:%s:%s:jaeger:/tmp:/sbin/nologin\n' \
    "$JAEGER_UID" "$JAEGER_UID" >"$dir/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\njaeger:x:%s:\n' "$JAEGER_UID" >"$dir/etc/group"
  import "$dir" "$JAEGER_IMAGE" \
    "ENV PATH=/usr/bin:/bin" \
    "ENV JAEGER_LISTEN_HOST=0.0.0.0" \
    "EXPOSE 4317 4318 8889 13133 16686" \
    "USER $JAEGER_UID" \
    "ENTRYPOINT [\"$JAEGER_BIN\"]"
  docker run --rm "$JAEGER_IMAGE" version >"$WORK/jaeger-version" 2>&1 ||
    { cat "$WORK/jaeger-version" >&2; die "$JAEGER_IMAGE does not run"; }
  grep -q "\"gitVersion\":\"v$JAEGER_VERSION\"" "$WORK/jaeger-version" ||
    die "$JAEGER_IMAGE reports $(cat "$WORK/jaeger-version"), want v$JAEGER_VERSION"
}

# build_goaws_binary: GOAWS_CACHE/goaws, compiled from the module unless the
# cached one came from the same version and toolchain.
build_goaws_binary() {
  local mod=$GOAWS_CACHE/module stamp
  mkdir -p "$mod"
  stamp="$GOAWS_MODULE@$GOAWS_VERSION $(cd "$mod" && GOWORK=off GOFLAGS='' go env GOVERSION) CGO_ENABLED=0 -trimpath -s -w"
  if [[ -x $GOAWS_CACHE/goaws && -f $GOAWS_CACHE/complete && $(<"$GOAWS_CACHE/complete") == "$stamp" ]]; then
    log "goaws $GOAWS_VERSION: cached binary $GOAWS_CACHE/goaws"
    return
  fi
  rm -f "$GOAWS_CACHE/complete"
  log "building goaws $GOAWS_VERSION from $GOAWS_MODULE"
  (
    cd "$mod"
    # A module of its own, so goaws's dependencies resolve as in its release.
    local go=(env GOWORK=off GOFLAGS= CGO_ENABLED=0 go)
    [[ -f go.mod ]] || "${go[@]}" mod init local/goaws-standin >/dev/null 2>&1
    "${go[@]}" get -tool "$GOAWS_MODULE/app/cmd@$GOAWS_VERSION" >"$GOAWS_CACHE/build.log" 2>&1
    "${go[@]}" build -trimpath -ldflags "-s -w" -o "$GOAWS_CACHE/goaws" "$GOAWS_MODULE/app/cmd" >>"$GOAWS_CACHE/build.log" 2>&1
    cp "$("${go[@]}" list -m -f '{{.Dir}}' "$GOAWS_MODULE")/app/conf/goaws.yaml" "$GOAWS_CACHE/goaws.yaml"
  ) || { tail -30 "$GOAWS_CACHE/build.log" >&2; die "building goaws failed (log: $GOAWS_CACHE/build.log)"; }
  printf '%s' "$stamp" >"$GOAWS_CACHE/complete"
}

# build_goaws: the binary on the runtime stand-in (uid 65532, no shell), with
# busybox for its wget alone: Compose's health check asks goaws's /health
# with it, as it does with the public (Alpine) image's.
build_goaws() {
  build_goaws_binary
  local dir=$WORK/goaws
  [[ -n $WORK && $dir == "$WORK"/goaws ]] || die "no work directory for the goaws image"
  log "building $BROKER_IMAGE (goaws $GOAWS_VERSION on $RUNTIME_IMAGE)"
  mkdir -p "$dir/bin"
  install -m 0755 "$GOAWS_CACHE/goaws" "$dir/goaws"
  install -m 0644 "$GOAWS_CACHE/goaws.yaml" "$dir/goaws.yaml"
  install -m 0755 /bin/busybox "$dir/bin/busybox"
  ln -s busybox "$dir/bin/wget"
  # COPY, not RUN: the runtime stand-in's user (65532) may not write /bin.
  docker build -q -t "$BROKER_IMAGE" -f - "$dir" >/dev/null <<DOCKERFILE
FROM $RUNTIME_IMAGE
COPY bin/ /bin/
COPY goaws /goaws
COPY goaws.yaml /app/conf/goaws.yaml
WORKDIR /
EXPOSE 4100
ENTRYPOINT ["/goaws"]
DOCKERFILE
  # The image's own health check command, against its sample config.
  docker run --rm --entrypoint /bin/wget "$BROKER_IMAGE" --help >/dev/null 2>&1 ||
    die "$BROKER_IMAGE has no working wget for the health check"
  log "built $BROKER_IMAGE ($(docker image inspect -f '{{.Size}}' "$BROKER_IMAGE" | awk '{printf "%.1f MB", $1/1e6}'))"
}

want "$GO_IMAGE" && build_go
want "$RUNTIME_IMAGE" && build_runtime
want "$POSTGRES_IMAGE" && build_postgres
want "$JAEGER_IMAGE" && build_jaeger
want "$BROKER_IMAGE" && build_goaws

mkdir -p "$ROOT/out"
cat >"$ROOT/out/standin.env" <<EOF
# Written by scripts/standin-images.sh; sourced by scripts/stack.sh.
export GO_IMAGE=$GO_IMAGE
export RUNTIME_IMAGE=$RUNTIME_IMAGE
export POSTGRES_IMAGE=$POSTGRES_IMAGE
export JAEGER_IMAGE=$JAEGER_IMAGE
export BROKER_IMAGE=$BROKER_IMAGE
EOF
log "wrote out/standin.env:"
grep '^export' "$ROOT/out/standin.env"

# Compose reads .env by itself, so after this plain `docker compose up --build`
# uses the stand-ins too. Other lines a user keeps in .env stay as they are.
envfile="$ROOT/.env"
touch "$envfile"
sed -i '/^\(GO_IMAGE\|RUNTIME_IMAGE\|POSTGRES_IMAGE\|JAEGER_IMAGE\|BROKER_IMAGE\)=/d' "$envfile"
printf 'GO_IMAGE=%s\nRUNTIME_IMAGE=%s\nPOSTGRES_IMAGE=%s\nJAEGER_IMAGE=%s\nBROKER_IMAGE=%s\n' \
  "$GO_IMAGE" "$RUNTIME_IMAGE" "$POSTGRES_IMAGE" "$JAEGER_IMAGE" "$BROKER_IMAGE" >>"$envfile"
log "named the stand-ins in .env for docker compose"
