#!/usr/bin/env bash
# Part 1a: the seed's manual overlay lab and Lab Part 1 with the library (UnionView).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/_lib.sh"
need_layerfs
demo_dir part1a
python3 "$here/part1_library.py" "$_DEMO_DIR"
