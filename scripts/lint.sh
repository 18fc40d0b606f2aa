#!/usr/bin/env bash
# Lints every module given as an argument (the Makefile passes all of go.work):
# gofmt, go vet, staticcheck, and govulncheck against a vulnerability database
# built from the golang.org/x/vulndb module, because the vulnerability service
# itself may be unreachable (it is on registry-only networks) while the Go
# module proxy is not. Then shellcheck over scripts/ and .ci/run, and
# actionlint over .github/workflows (it runs shellcheck on their run: steps).
set -euo pipefail

STATICCHECK_VERSION=v0.8.2
GOVULNCHECK_VERSION=v1.9.0
ACTIONLINT_VERSION=v1.7.12
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/.cache/bin"
mkdir -p "$bin"
export GOBIN="$bin"

if ! "$bin/staticcheck" -version 2>/dev/null | grep -q "${STATICCHECK_VERSION#v}"; then
  echo "lint: installing staticcheck $STATICCHECK_VERSION"
  go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
if ! "$bin/govulncheck" -version 2>/dev/null | grep -q "$GOVULNCHECK_VERSION"; then
  echo "lint: installing govulncheck $GOVULNCHECK_VERSION"
  go install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION"
fi

if ! "$bin/actionlint" -version 2>/dev/null | grep -qx "$ACTIONLINT_VERSION"; then
  echo "lint: installing actionlint $ACTIONLINT_VERSION"
  go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
fi

db="$root/.cache/vulndb-$VULNDB_VERSION"
if [ ! -f "$db/index/db.json" ]; then
  echo "lint: building the vulnerability database from golang.org/x/vulndb@$VULNDB_VERSION"
  [ -x "$bin/indexdb" ] || go install "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION"
  src="$(go mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  rm -rf "$db.tmp" && "$bin/indexdb" -vulns "$src/data/osv" -out "$db.tmp" && mv "$db.tmp" "$db"
fi

command -v shellcheck >/dev/null ||
  { echo "lint: shellcheck is missing; install it with scripts/install-tools.sh (Debian package shellcheck)" >&2; exit 1; }

status=0
unformatted="$(gofmt -l "$@")"
if [ -n "$unformatted" ]; then
  echo "lint: gofmt wants changes in:"; echo "$unformatted"; status=1
fi
for mod in "$@"; do
  echo "lint: $mod"
  (cd "$mod" && go vet ./... && "$bin/staticcheck" ./... && "$bin/govulncheck" -db "file://$db" ./...) || status=1
done
echo "lint: shellcheck"
# -x follows the files a script sources, where shellcheck can find them.
(cd "$root" && shellcheck -x scripts/*.sh .ci/run) || status=1
echo "lint: actionlint"
# Without arguments actionlint finds .github/workflows from the current
# directory; shellcheck on PATH makes it check every run: script too.
(cd "$root" && "$bin/actionlint") || status=1
# A tag can be moved to other code; a commit cannot. actionlint does not
# ask for this, so every uses: must name a full commit and the tag it was.
echo "lint: actions pinned by commit"
unpinned=$(cd "$root" && { grep -nE '^[[:space:]-]*uses:' .github/workflows/*.yml |
  grep -vE 'uses: [^@ ]+@[0-9a-f]{40} # v[0-9]+\.[0-9]+\.[0-9]+$' || true; })
if [ -n "$unpinned" ]; then
  echo "lint: pin these by full commit SHA with a '# vX.Y.Z' comment:"; echo "$unpinned"; status=1
fi
exit $status
