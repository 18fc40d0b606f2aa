#!/usr/bin/env bash
# Turns `make plan`'s text into Markdown for a CI job summary or a pull
# request comment: the monthly total as a heading, the cost lines and the
# usage assumed in a collapsed block, the diagram as Mermaid (GitHub draws
# it), resources and security controls collapsed.
#   make plan STACK=dev >out/plan-dev.txt && scripts/plan-markdown.sh out/plan-dev.txt
set -euo pipefail

plan=${1:?usage: $0 PLAN_TEXT_FILE}
[[ -s $plan ]] || { echo "plan-markdown: $plan is empty or missing" >&2; exit 1; }

# section TITLE: the lines under "== TITLE... ==" up to the next heading.
section() {
  awk -v title="== $1" '
    /^== / { inside = index($0, title) == 1; next }
    inside' "$plan"
}

first=$(head -n1 "$plan")
cost=$(grep -m1 '^== Monthly cost: ' "$plan" | sed 's/^== \(.*\) ==$/\1/') ||
  { echo "plan-markdown: no '== Monthly cost' heading in $plan" >&2; exit 1; }
controls=$(grep -m1 '^== Security controls' "$plan" | sed 's/^== \(.*\) ==$/\1/') || controls="Security controls"
resources=$(grep -m1 '^== Resources: ' "$plan" | sed 's/^== \(.*\) ==$/\1/') || resources="Resources"

fence='```'
cat <<EOF
### ${cost}

${first}

<details><summary>Cost line by line and the usage assumed</summary>

${fence}text
$(section "Monthly cost")
${fence}
</details>

<details><summary>Diagram</summary>

${fence}mermaid
$(section "Diagram")
${fence}
</details>

<details><summary>${resources}</summary>

${fence}text
$(section "Resources")
${fence}
</details>

<details><summary>${controls}</summary>

${fence}text
$(section "Security controls")
${fence}
</details>
EOF
