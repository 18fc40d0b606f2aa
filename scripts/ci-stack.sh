#!/usr/bin/env bash
# Prints what the preview and deploy workflows need to know about a stack,
# as GITHUB_OUTPUT lines, from where each is declared:
#   pulumi=<CLI version>  the Pulumi SDK's version in infra/go.mod
#   region=<AWS region>   aws:region in Pulumi.<stack>.yaml
#   scripts/ci-stack.sh dev >>"$GITHUB_OUTPUT"
set -euo pipefail
cd "$(dirname "$0")/.."

stack=${1:?usage: $0 STACK}
file=Pulumi.$stack.yaml
if [[ ! -f $file ]]; then
  if [[ $stack == prod ]]; then
    echo "ci-stack: $file is missing: copy docs/Pulumi.prod.example.yaml to it, set its certificate and commit it (docs/ci.md)" >&2
  else
    echo "ci-stack: $file is missing" >&2
  fi
  exit 1
fi
region=$(sed -n 's/^  aws:region: *//p' "$file")
[[ -n $region ]] || { echo "ci-stack: $file sets no aws:region" >&2; exit 1; }
pulumi=$(cd infra && go list -m -f '{{.Version}}' github.com/pulumi/pulumi/sdk/v3)
echo "pulumi=${pulumi#v}"
echo "region=$region"
