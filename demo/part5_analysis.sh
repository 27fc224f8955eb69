#!/usr/bin/env bash
# Part 5: where the bytes go, and why. The lab images of Part 4 (bad-layers vs
# good-layers, built again here on the same alpine-like base: Part 4's store is gone)
# through `layerfs history`, `dive`, `diff` and `lint --image`, whose cost of the bad
# Dockerfile is the size difference of the two images; then the seed's COPY-order and
# .dockerignore mistakes with their costs, and the HTML report (its path is printed;
# it is kept after the demo, in $LAYERFS_DEMO_REPORT_DIR, default ${TMPDIR:-/tmp}).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/_lib.sh"
need_root
need_layerfs
demo_dir part5
cd "$_DEMO_DIR"
export LAYERFS_ROOT="$_DEMO_DIR/store"
report_dir=${LAYERFS_DEMO_REPORT_DIR:-${TMPDIR:-/tmp}}
say "Working in $_DEMO_DIR with the store $LAYERFS_ROOT"

banner "Part 5: the lab images again (Part 4's alpine-like base and Dockerfiles)"
# The alpine-like base is made by Part 4's own lines (from its `mkdir -p rootfs/...` to
# `chmod 0755 rootfs/sbin/apk`: busybox, its applets and the `apk` stand-in whose update
# fetches a 600 KiB index and whose add writes a 200 KiB package), so both parts agree.
base_steps=$(sed -n '/^mkdir -p rootfs\//,/^chmod 0755 rootfs\/sbin\/apk$/p' "$here/part4_build.sh")
[[ "$base_steps" == *"chmod 0755 rootfs/sbin/apk" ]] ||
    fail "demo/part4_build.sh no longer makes the base image with the lines Part 5 reuses"
eval "$base_steps"
mkdir dockerfile-test && cd dockerfile-test
cat > Dockerfile.bad << 'EOF'
FROM alpine:3.18
RUN apk update
RUN apk add curl
RUN rm -rf /var/cache/apk/*
EOF
cat > Dockerfile.good << 'EOF'
FROM alpine:3.18
RUN apk update && apk add curl && rm -rf /var/cache/apk/*
EOF
step "layerfs import -q ../rootfs alpine:3.18 && layerfs build -q -f Dockerfile.bad -t bad-layers . && layerfs build -q -f Dockerfile.good -t good-layers ."
step "layerfs images | grep layers"
size_of() { layerfs images --json | python3 -c \
    "import json,sys; print([r['Size'] for r in json.load(sys.stdin) if r['Repository']==sys.argv[1]][0])" "$1"; }
bad_size=$(size_of bad-layers) good_size=$(size_of good-layers)
say "bad-layers is $bad_size bytes, good-layers $good_size: $((bad_size - good_size)) bytes more. Where do they go?"

banner "Part 5: history: which instruction made which layer"
step "layerfs history bad-layers"
expect_line "RUN /bin/sh -c apk update .* 61[0-9]kB " "the apk update layer holds the 600 KiB index"
expect_line "RUN /bin/sh -c rm -rf /var/cache/apk/.* [0-9.]+kB " \
    "the rm layer holds only whiteouts (tar headers): it hides, it frees nothing"

banner "Part 5: dive: where the bytes go, and what is wasted"
step "layerfs dive bad-layers"
expect_line "^Potential wasted space: 819kB \(819200 bytes\)" "819200 bytes wasted: the index and the package"
expect_line "APKINDEX.tar.gz: 614,400 bytes wasted: layer 1 \(RUN .*apk update.*\) wrote 614,400 bytes that layer 3 \(RUN .*rm -rf .*\) deleted" \
    "each waste item says which layer wrote it and which one hid it"
verify_json "layerfs dive --json good-layers" "j['wasted_bytes'] == 0 and j['efficiency'] == 1.0" \
    "good-layers wastes nothing (efficiency 100 %)"
step "layerfs dive --ci --minimumWastedBytes 0 bad-layers || echo \"exit status \$?\""
expect_line "^Result: FAIL" "dive --ci fails bad-layers (efficiency below 90 %) ..."
expect_line "^exit status 1" "... with exit status 1, for CI"

banner "Part 5: diff: the two images show the same files"
step "layerfs diff bad-layers good-layers"
expect_line "total 0B \(0 bytes\) from bad-layers to good-layers" \
    "no visible file differs: all of bad-layers' extra bytes are hidden ones"

banner "Part 5: lint: the mistake, its cost measured on the image, the fix"
step "layerfs lint Dockerfile.bad --image bad-layers"
expect_line "^Dockerfile.bad:2-4: split-update-install" "lines 2-4: update, install and clean apart"
expect_line "cost: 819kB \(819,200 bytes\) in the image" "the cost: the bytes of /var/cache/apk in the layers"
expect_line "^    RUN apk update && apk add curl && rm -rf /var/cache/apk/\*$" "the fix is Dockerfile.good's line"
verify_json "layerfs lint --json Dockerfile.bad --image bad-layers" \
    "0 <= $((bad_size - good_size)) - j['image_bytes'] <= 16384" \
    "the cost is the size difference of the two images, within the tar metadata ($((bad_size - good_size)) bytes)"
step "layerfs lint Dockerfile.good --image good-layers"
expect_line "^0 findings" "Dockerfile.good is clean"
seed "rm in separate layer: files still in earlier layer - delete in same layer"

banner "Part 5: lint: the COPY order and .dockerignore mistakes, costed"
cd "$_DEMO_DIR" && mkdir copy-order && cd copy-order
printf 'flask==3.0\n' > requirements.txt
printf "print('v1')\n" > app.py
dd if=/dev/urandom of=debug.log bs=1M count=6 2>/dev/null
cat > Dockerfile << 'EOF'
FROM alpine:3.18
WORKDIR /app
COPY . .
RUN apk add pip-packages
CMD ["python", "app.py"]
EOF
step "layerfs build -q -t app:bad ."
step "layerfs lint Dockerfile --image app:bad"
expect_line "^Dockerfile:3-4: copy-before-install" "COPY . before the install: the install reruns on any change"
expect_line "cost: 205kB \(204,828 bytes\) rebuilt on every context change" \
    "the cost: the install layer, rebuilt after every edit"
expect_line "^Dockerfile:3: no-dockerignore" "no .dockerignore, and a 6 MB context"
expect_line "cost: 6.29MB \(6,291,456 bytes\) in the image" "the cost: debug.log, copied into the image"
seed "Copy dependencies first; exclude unnecessary files with .dockerignore"

banner "Part 5: the HTML report"
mkdir -p "$report_dir"
report="$report_dir/layerfs-report-bad-layers.html"
step "layerfs report bad-layers -o '$report' --dockerfile '$_DEMO_DIR/dockerfile-test/Dockerfile.bad'"
expect_line "^/.*layerfs-report-bad-layers\.html$" "the report is written"
grep -q '<svg id="layer-chart"' "$report" || fail "the report has no chart"
ok "one self-contained page: chart, waste, lint findings, per-layer changes"
printf '\n%sThe HTML report: %s%s\n' "$_B" "$report" "$_N"
printf '\n%sPart 5 showed every step the seed describes.%s\n' "$_G$_B" "$_N"
