#!/usr/bin/env bash
# Runs every Go fuzz target of every module in go.work, one at a time, each
# for FUZZTIME (default 30s):
#   scripts/fuzz.sh                 # all targets
#   FUZZTIME=5m scripts/fuzz.sh     # longer
#   scripts/fuzz.sh Cursor          # only targets whose name matches the regexp
# A failing input is saved by `go test` under the package's
# testdata/fuzz/<Target>/ (commit it: it becomes a regression test). The
# script carries on with the other targets and exits 1 if any failed.
set -uo pipefail

fuzztime="${FUZZTIME:-30s}"
filter="${1:-.}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root" || exit 1

mapfile -t modules < <(go list -m -f '{{.Dir}}')
failed=()
ran=0
for mod in "${modules[@]}"; do
  # Files declaring fuzz targets, outside testdata and vendor.
  while IFS= read -r file; do
    pkg="./$(realpath --relative-to="$mod" "$(dirname "$file")")"
    while IFS= read -r target; do
      [[ "$target" =~ $filter ]] || continue
      ran=$((ran + 1))
      echo "=== fuzz ${mod#"$root"/} $pkg $target ($fuzztime)"
      if ! (cd "$mod" && go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"); then
        failed+=("${mod#"$root"/} $pkg $target")
      fi
    done < <(grep -hoE '^func (Fuzz[A-Za-z0-9_]*)\(' "$file" | sed -E 's/^func (Fuzz[A-Za-z0-9_]*)\(/\1/')
  done < <(grep -rlE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' "$mod" | grep -v -e '/testdata/' -e '/vendor/' | sort)
done

echo
if [ "$ran" -eq 0 ]; then
  echo "fuzz: no target matched '$filter'" >&2
  exit 1
fi
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: ${#failed[@]} of $ran targets failed:" >&2
  printf '  %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "fuzz: $ran targets, no failure in $fuzztime each"
