# Helpers sourced by every demo/part*.sh. Each step prints the command, runs it, prints
# its output and checks it against what the seed says it shows; a mismatch stops the demo
# with "DEMO FAILED" and exit status 1.
# shellcheck shell=bash

if [[ -t 1 ]]; then
    _B=$'\e[1m' _G=$'\e[32m' _R=$'\e[31m' _C=$'\e[36m' _N=$'\e[0m'
else
    _B="" _G="" _R="" _C="" _N=""
fi

OUT=""  # the output of the last step

fail() {
    printf '%sDEMO FAILED%s: %s\n' "$_R$_B" "$_N" "$*" >&2
    exit 1
}

banner() {
    printf '\n%s==== %s ====%s\n' "$_B" "$*" "$_N"
}

say() {  # narration
    printf '\n%s# %s%s\n' "$_C" "$*" "$_N"
}

# step 'COMMAND': print it, eval it in this shell, keep its output in $OUT and print it.
step() {
    printf '%s$ %s%s\n' "$_B" "$1" "$_N"
    local rc=0
    OUT=$(eval "$1" 2>&1) || rc=$?
    [[ -n "$OUT" ]] && printf '%s\n' "$OUT" | sed 's/^/    /'
    [[ $rc -eq 0 ]] || fail "exit status $rc from: $1"
    return 0
}

# seed 'WHAT THE SEED SAYS': print the seed's expectation for the last step.
seed() {
    printf '    %sseed:%s %s\n' "$_C" "$_N" "$*"
}

ok() {
    printf '    %s✓ %s%s\n' "$_G" "$*" "$_N"
}

# expect_names 'a b c': $OUT, split on white space, is exactly these names (any order).
expect_names() {
    local - got want
    set -f  # the words are names, not patterns
    got=$(printf '%s\n' $OUT | sort | tr '\n' ' ' | sed 's/ $//')
    want=$(printf '%s\n' $1 | sort | tr '\n' ' ' | sed 's/ $//')
    [[ "$got" == "$want" ]] || fail "expected the names [$want], got [$got]"
    ok "shows: ${want:-nothing}"
}

# expect_line 'ERE': some line of $OUT matches the extended regular expression.
expect_line() {
    grep -Eq -- "$1" <<<"$OUT" || fail "no line of the output matches /$1/"
    ok "${2:-matches /$1/}"
}

# expect_no_line 'ERE': no line of $OUT matches.
expect_no_line() {
    if grep -Eq -- "$1" <<<"$OUT"; then fail "a line of the output matches /$1/"; fi
    ok "${2:-no line matches /$1/}"
}

# verify_json 'COMMAND' 'PYTHON EXPR' 'DESCRIPTION': run COMMAND quietly (its --json
# form of the step just shown), parse its output and check that EXPR over `j` is true.
verify_json() {
    local out
    out=$(eval "$1" 2>&1) || fail "exit status $? from: $1"$'\n'"$out"
    OUT_JSON="$out" python3 - "$2" <<'PY' || fail "check failed on the JSON of: $1: $2"
import json, os, sys
j = json.loads(os.environ["OUT_JSON"])
sys.exit(0 if eval(sys.argv[1], {"j": j}) else 1)
PY
    ok "${3:-$2}  (checked: $1)"
}

need_root() {
    [[ $(id -u) -eq 0 ]] || fail "run the demo as root (make demo): the kernel driver mounts"
}

need_layerfs() {
    command -v layerfs >/dev/null || fail "layerfs is not on PATH (run through: make demo)"
    python3 -c 'import layerfs' 2>/dev/null || fail "python3 cannot import layerfs (make demo)"
}

# demo_dir NAME: a fresh scratch dir for one part, removed (after unmounting whatever is
# still mounted under it) when the part exits, whether it succeeded or not.
demo_dir() {
    _DEMO_DIR=$(mktemp -d "${TMPDIR:-/tmp}/layerfs-demo-$1.XXXXXX")
    trap '_demo_cleanup' EXIT
}

_demo_cleanup() {
    local m
    [[ -n "${_DEMO_DIR:-}" && -d "$_DEMO_DIR" ]] || return 0
    # Unmount deepest first; lazily if busy.
    while read -r m; do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done < <(awk -v d="$_DEMO_DIR" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r)
    rm -rf "$_DEMO_DIR"
}
