#!/usr/bin/env bash
# Part 4: the seed's Dockerfile lab with `layerfs build` (Dockerfile.bad vs Dockerfile.good,
# images, history), then the seed's "Wrong COPY order" mistake with `--explain`.
# The base is a local alpine-like image made here: busybox-static, its applets, and a tiny
# shell `apk` (update writes a 600 KiB index into /var/cache/apk, add writes a file), so the
# Dockerfiles are the seed's as written. Nothing is downloaded.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/_lib.sh"
need_root
need_layerfs
demo_dir part4
cd "$_DEMO_DIR"
export LAYERFS_ROOT="$_DEMO_DIR/store"
say "Working in $_DEMO_DIR with the store $LAYERFS_ROOT (the seed's /tmp/dockerfile-test)"

banner "Part 4: an alpine-like base image, made here"
mkdir -p rootfs/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,var/cache/apk,dev,proc,sys,run}
cp /bin/busybox rootfs/bin/busybox
for applet in $(/bin/busybox --list-full); do
    [[ -e rootfs/$applet ]] || ln -s /bin/busybox "rootfs/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' > rootfs/etc/passwd
printf 'root:x:0:\n' > rootfs/etc/group
: > rootfs/etc/hosts; : > rootfs/etc/hostname; : > rootfs/etc/resolv.conf
cat > rootfs/sbin/apk <<'APK'
#!/bin/sh
# a stand-in for alpine's apk: `update` fetches an index, `add PKG` installs a file
case "$1" in
update) mkdir -p /var/cache/apk && dd if=/dev/urandom of=/var/cache/apk/APKINDEX.tar.gz \
            bs=1k count=600 2>/dev/null && echo "fetched index (600 KiB)" ;;
add) shift; for p in "$@"; do printf '#!/bin/sh\necho %s\n' "$p" > "/usr/bin/$p"
        chmod +x "/usr/bin/$p"; dd if=/dev/urandom of="/var/cache/apk/$p.apk" bs=1k \
        count=200 2>/dev/null; echo "OK: installed $p"; done ;;
*) echo "apk: $1: not in this stand-in" >&2; exit 1 ;;
esac
APK
chmod 0755 rootfs/sbin/apk
step "layerfs import -q rootfs alpine:3.18"
step "layerfs images alpine"
expect_line "^alpine +3\.18 " "the base image alpine:3.18 is in the store"

banner "Part 4: Dockerfile.bad vs Dockerfile.good (the seed's lab as written)"
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
say "Build and check size"
step "layerfs build -f Dockerfile.bad -t bad-layers ."
expect_line "Successfully tagged bad-layers:latest"
step "layerfs images bad-layers"
say "Build and compare"
step "layerfs build -f Dockerfile.good -t good-layers ."
expect_line "Successfully tagged good-layers:latest"
step "layerfs images | grep layers"
seed "good-layers should be smaller"
verify_json "layerfs images --json" \
    "[r['Size'] for r in j if r['Repository']=='good-layers'][0] + 500000 < [r['Size'] for r in j if r['Repository']=='bad-layers'][0]" \
    "good-layers is smaller than bad-layers (the cache lives on in bad's layers)"
say "Compare layers"
step "layerfs history bad-layers"
expect_line "rm -rf /var/cache/apk" "bad-layers: the rm is a layer of its own"
verify_json "layerfs history --json bad-layers" "len(j) == 4" \
    "bad-layers: 3 RUN layers on the base layer"
step "layerfs history good-layers"
verify_json "layerfs history --json good-layers" "len(j) == 2" "good-layers: one RUN layer"

banner "Part 4: the cache and the seed's 'Wrong COPY order' mistake"
cd "$_DEMO_DIR" && mkdir copy-order && cd copy-order
printf 'flask==3.0\n' > requirements.txt
printf "print('v1')\n" > app.py
cat > Dockerfile.bad << 'EOF'
FROM alpine:3.18
WORKDIR /app
COPY . .
RUN apk add pip-packages
CMD ["python", "app.py"]
EOF
cat > Dockerfile.good << 'EOF'
FROM alpine:3.18
WORKDIR /app
COPY requirements.txt .
RUN apk add pip-packages
COPY . .
CMD ["python", "app.py"]
EOF
step "layerfs build -q -f Dockerfile.good -t app:good . && layerfs build -q -f Dockerfile.bad -t app:bad ."
say "Change one application file, then rebuild both with --explain"
step "echo \"print('v2')\" > app.py"
step "layerfs build --explain -f Dockerfile.good -t app:good ."
expect_line "miss: file /app/app.py changed \(content\)" "the COPY . step missed: app.py changed"
verify_json "layerfs build --explain --json -f Dockerfile.good ." \
    "[s['status'] for s in j['steps']] == ['HIT','HIT','HIT','HIT','HIT','HIT']" \
    "built again unchanged: every step HIT"
step "echo \"print('v3')\" > app.py"
verify_json "layerfs build --explain --json -f Dockerfile.good -t app:good ." \
    "[s['status'] for s in j['steps']] == ['HIT','HIT','HIT','HIT','MISS','MISS']" \
    "good order: the package step (RUN apk add) stays cached; only COPY . on runs"
verify_json "layerfs build --explain --json -f Dockerfile.bad -t app:bad ." \
    "[s['status'] for s in j['steps']] == ['HIT','HIT','MISS','MISS','MISS'] and j['steps'][3]['reason'] == 'parent step missed'" \
    "bad order: COPY . misses, so the package step runs again (parent step missed)"
seed "Copy dependencies first: put frequently changing content last for cache efficiency"

banner "Part 4: the seed's 'Not using .dockerignore' mistake"
say "A 5 MB log file lands in the COPY . layer; .dockerignore keeps it out of the context"
step "dd if=/dev/urandom of=debug.log bs=1M count=5 2>/dev/null && layerfs build -q -f Dockerfile.good -t app:noignore ."
verify_json "layerfs history --json app:noignore" \
    "[e['size'] for e in j if e['created_by'].startswith('COPY . .')][0] > 5000000" \
    "without .dockerignore the COPY . layer holds the 5 MB log"
step "echo '*.log' > .dockerignore"
step "layerfs build --explain -f Dockerfile.good -t app:ignore ."
expect_line "miss: file /app/\.dockerignore added; file /app/debug\.log removed" \
    "the COPY . step says what changed in the context"
verify_json "layerfs history --json app:ignore" \
    "[e['size'] for e in j if e['created_by'].startswith('COPY . .')][0] < 100000" \
    "with .dockerignore the layer is small again"
step "echo more >> debug.log"
verify_json "layerfs build --explain --json -f Dockerfile.good ." \
    "all(s['status'] == 'HIT' for s in j['steps'])" \
    "changing an ignored file keeps every step cached"
seed "Not using .dockerignore: large context, slow builds - exclude unnecessary files"
