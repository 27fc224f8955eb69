#!/usr/bin/env bash
# make demo: run the seed's labs on layerfs, every demo/part*.sh in order.
# Needs root and `layerfs` + python3 with layerfs on PATH:
#     PATH=.venv/bin:$PATH bash demo/run.sh
# Exits non-zero at the first step that does not show what the seed says.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
shopt -s nullglob
parts=("$here"/part*.sh)
[[ ${#parts[@]} -gt 0 ]] || { echo "demo: no demo/part*.sh" >&2; exit 1; }
for part in "${parts[@]}"; do
    bash "$part"
done
source "$here/_lib.sh"
printf '\n%sdemo: all %d parts showed what the seed says.%s\n' "$_G$_B" "${#parts[@]}" "$_N"
