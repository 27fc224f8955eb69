#!/usr/bin/env bash
# Part 2: the seed's Lab Part 2 ("Examined Docker image layers") with layerfs for docker:
# pull alpine:3.18, history, inspect | jq '.[0].RootFS.Layers', info | grep "Docker Root
# Dir", ls of the layer dirs, as written; then the seed's "Storage driver" and
# "Debugging storage issues" commands: info | grep "Storage Driver" (and podman's
# graphDriverName), history --no-trunc, system df -v, builder prune.
# No internet: Debian's docker-registry serves on 127.0.0.1 (its own config and storage in
# the demo's scratch dir), holding a busybox-based image pushed there as alpine:3.18.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/_lib.sh"
need_root
need_layerfs
# the demo cd's to its scratch dir: a relative PATH entry (PATH=.venv/bin:$PATH) must not break
PATH="$(cd "$(dirname "$(command -v layerfs)")" && pwd):$PATH"
command -v docker-registry >/dev/null || fail "docker-registry is not installed (apt-get install docker-registry)"
command -v jq >/dev/null || fail "jq is not installed (apt-get install jq)"
[[ -x /bin/busybox ]] || fail "busybox-static is not installed (apt-get install busybox-static)"
demo_dir part2
export LAYERFS_ROOT="$_DEMO_DIR/store"
REGISTRY_PID=""
stop_registry() {
    if [[ -n "$REGISTRY_PID" ]]; then
        kill "$REGISTRY_PID" 2>/dev/null || true
        wait "$REGISTRY_PID" 2>/dev/null || true
        REGISTRY_PID=""
    fi
}
trap 'layerfs rm -f dbg >/dev/null 2>&1 || true; stop_registry; _demo_cleanup' EXIT
cd "$_DEMO_DIR"

banner "Part 2: image layers (the seed's Lab Part 2)"
say "No internet: a registry on loopback (Debian's docker-registry, own config and storage)"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
REG="127.0.0.1:$PORT"
mkdir -p registry
cat >registry/config.yml <<EOF
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $_DEMO_DIR/registry/data}}
http: {addr: $REG}
EOF
docker-registry serve "$_DEMO_DIR/registry/config.yml" >registry/log 2>&1 &
REGISTRY_PID=$!
python3 - "$REG" <<'PY' || fail "the registry did not answer on $REG: $(cat registry/log)"
import sys, time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen(f"http://{sys.argv[1]}/v2/", timeout=1)
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
ok "registry on $REG (pid $REGISTRY_PID)"

say "An alpine-like image made here: busybox-static's root file system ADDed FROM scratch,"
say "CMD [\"/bin/sh\"] (alpine's two history steps), pushed as $REG/alpine:3.18"
mkdir -p ctx/rootfs/{bin,dev,etc,home,proc,root,sys,tmp,usr,var}
cp /bin/busybox ctx/rootfs/bin/busybox
for applet in $(/bin/busybox --list); do
    [[ -e ctx/rootfs/bin/$applet ]] || ln -s busybox "ctx/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' >ctx/rootfs/etc/passwd
printf 'root:x:0:\n' >ctx/rootfs/etc/group
printf 'FROM scratch\nADD rootfs/ /\nCMD ["/bin/sh"]\n' >ctx/Dockerfile
step "layerfs build -t $REG/alpine:3.18 ctx"
step "layerfs push $REG/alpine:3.18 --tls-verify=false -q"
expect_line '^sha256:[0-9a-f]{64}$' "pushed: the manifest digest"
say "Removed locally (image and build cache), so that the pull below downloads it"
step "layerfs rmi $REG/alpine:3.18"
step "layerfs builder prune -a -f"
step "ls $LAYERFS_ROOT/layers/ | wc -l"
expect_line '^0$' "no layer left in the store"

say "1. Pull an image"
step "layerfs pull $REG/alpine:3.18 --tls-verify=false && layerfs tag $REG/alpine:3.18 alpine:3.18"
expect_line '^sha256:[0-9a-f]{64}$' "the image ID"
IMAGE_ID=$(grep -Eo '^sha256:[0-9a-f]{64}$' <<<"$OUT" | tail -1)
step "layerfs images alpine"
expect_line '^alpine +3\.18 ' "alpine:3.18 is in the store"

say "2. View layers"
step "layerfs history alpine:3.18"
seed "(one row per Dockerfile step, newest first; metadata-only steps are 0B)"
expect_line '^[0-9a-f]{12} .*CMD \["/bin/sh"\] +0B ' "CMD made no layer: 0B"
expect_line '^[0-9a-f]{12} .*ADD rootfs/ / .* [0-9.]+MB ' "ADD made the one layer"

say "3. Inspect layer IDs"
step "layerfs inspect alpine:3.18 | jq '.[0].RootFS.Layers'"
expect_line '^  "sha256:[0-9a-f]{64}"$' "the layer's diff_id (the digest of its uncompressed tar)"
DIFF_ID=$(grep -Eo 'sha256:[0-9a-f]{64}' <<<"$OUT")
[[ $(wc -l <<<"$DIFF_ID") -eq 1 ]] || fail "expected one layer, got: $DIFF_ID"

say "4. Find storage location"
step "layerfs info | grep \"Docker Root Dir\""
expect_line "^ Docker Root Dir: $LAYERFS_ROOT\$" "the store's root"

say "5. List overlay directories"
step "ls $LAYERFS_ROOT/layers/ | head -10"
seed "(/var/lib/docker/overlay2/: each directory is a layer)"
expect_names "${DIFF_ID#sha256:}"
ok "named by chain id (a base layer's chain id is its diff_id)"
step "ls $LAYERFS_ROOT/layers/${DIFF_ID#sha256:}/ && ls $LAYERFS_ROOT/layers/${DIFF_ID#sha256:}/diff/"
seed "diff/ contains actual layer contents"
expect_line '^diff$' "diff/ holds the layer"
expect_line '^bin$' "the image's root file system, unpacked"

banner "Storage drivers (the seed's \"Check your storage driver\")"
step "layerfs info | grep \"Storage Driver\""
expect_line '^ Storage Driver: (overlay|fuse-overlay)$' "kernel overlay (or the FUSE driver where mounting overlay is not permitted)"
step "layerfs info | grep -A3 \"Storage Driver\""
expect_line '^  Supports d_type: true$' "d_type, which overlay needs"
step "layerfs info --format yaml | grep graphDriverName"
seed "(podman info | grep graphDriverName)"
expect_line '^  graphDriverName: overlay$' "podman's form"

banner "Debugging storage (the seed's \"Debugging storage issues\" commands)"
say "A container writing a 5 MiB log into its writable layer"
step "layerfs run -d --name dbg alpine:3.18 sleep 3600"
step "layerfs exec dbg sh -c 'mkdir -p /var/log && dd if=/dev/zero of=/var/log/app.log bs=1M count=5'"
step "layerfs ps -s --filter name=dbg"
expect_line 'dbg +5\.24MB \(virtual [0-9.]+MB\)$' "SIZE: the writable layer (5 MiB)"
set +o pipefail  # du's status (some names of the host's /* are not in the container) is not the pipe's
step "layerfs exec dbg du -sh /* 2>/dev/null | sort -h | tail -10"
set -o pipefail
seed "Find large files in container (the host's shell expands /*, as in the seed)"
expect_line '^5\.[0-9]M[[:space:]]+/var$' "the big one is under /var"
step "layerfs diff dbg"
expect_line '^A /var/log/app.log$' "A /var/log/app.log"
step "layerfs history --no-trunc alpine:3.18"
expect_line "^$IMAGE_ID " "full image ID"
expect_line "^${DIFF_ID} " "full chain id of the layer the ADD made"
step "layerfs system df -v"
expect_line '^Images +1 +1 ' "one image, used by a container"
expect_line '^Containers +1 +1 ' "one running container"
expect_line '^Images space usage:$' "per image (-v)"
expect_line "^${IMAGE_ID:7:12} " "alpine:3.18's row"
expect_line '^dbg +alpine:3.18 +[0-9.]+MB +running$' "the container's row"
step "layerfs rm -f dbg"

say "A build on top leaves cache behind; rmi the image and the cache is what remains"
printf 'FROM alpine:3.18\nCOPY note.txt /\n' >ctx/Dockerfile.note
echo "built on alpine" >ctx/note.txt
step "layerfs build -f ctx/Dockerfile.note -t noted ctx && layerfs rmi noted"
step "layerfs system df"
expect_line '^Build Cache +[0-9]+ +0 +[0-9.]+kB ' "the COPY's layer, kept only by the build cache"
CACHE=$(awk '/^Build Cache/ {print $5}' <<<"$OUT")
step "layerfs builder prune -f"
seed "docker builder prune # Clear build cache"
expect_line "^Total reclaimed space: $CACHE\$" "frees what system df called the build cache ($CACHE)"
step "layerfs system df"
expect_line '^Build Cache +[0-9]+ +0 +0B ' "nothing left to reclaim"
step "layerfs fsck"
expect_line 'clean' "the store is consistent"
stop_registry
printf '\n%sPart 2 showed every step the seed describes.%s\n' "$_G$_B" "$_N"
