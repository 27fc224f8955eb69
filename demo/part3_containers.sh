#!/usr/bin/env bash
# Part 3: the seed's Lab Part 3 ("Observed container layer growth") with layerfs for docker:
# run -d, ps -s, exec dd, ps -s, diff, inspect --format, rm -f, as written; then the
# seed's lesson "Container layer is ephemeral — use volumes for persistent data" and
# `system df`. Containers run with runc on a kernel overlay of the image's layers.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/_lib.sh"
need_root
need_layerfs
command -v runc >/dev/null || fail "runc is not installed (apt-get install runc)"
[[ -x /bin/busybox ]] || fail "busybox-static is not installed (apt-get install busybox-static)"
demo_dir part3
export LAYERFS_ROOT="$_DEMO_DIR/store"
# containers first (they hold mounts and processes), then the scratch dir
trap 'layerfs rm -f test-overlay db >/dev/null 2>&1 || true; _demo_cleanup' EXIT
cd "$_DEMO_DIR"

banner "Part 3: container layer growth (the seed's Lab Part 3)"
say "No registry here: a busybox root file system (Debian's busybox-static) imported and"
say "tagged alpine, so that the seed's commands run as written. Store: \$LAYERFS_ROOT=$LAYERFS_ROOT"
mkdir -p rootfs/{bin,dev,etc,home,proc,root,sys,tmp,usr,var}
cp /bin/busybox rootfs/bin/busybox
for applet in $(/bin/busybox --list); do
    [[ -e rootfs/bin/$applet ]] || ln -s busybox "rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' >rootfs/etc/passwd
printf 'root:x:0:\n' >rootfs/etc/group
touch rootfs/etc/hosts rootfs/etc/hostname rootfs/etc/resolv.conf
step "layerfs import rootfs alpine:latest"
step "layerfs images alpine"
expect_line '^alpine +latest ' "the image is in the store"

say "1. Start container"
step "layerfs run -d --name test-overlay alpine sleep 3600"
expect_line '^[0-9a-f]{64}$' "the container's ID"
say "2. Check initial size"
step "layerfs ps -s --filter name=test-overlay"
seed "(SIZE: the writable layer; virtual = image + writable layer, docker's definition)"
expect_line 'test-overlay +0B \(virtual [0-9.]+[kM]B\)$' "SIZE is 0B: the container layer is empty"
say "3. Write to container"
step "layerfs exec test-overlay sh -c 'dd if=/dev/zero of=/bigfile bs=1M count=50'"
say "4. Check size again"
step "layerfs ps -s --filter name=test-overlay"
seed "SIZE should show ~50MB now"
expect_line 'test-overlay +52\.4MB \(virtual [0-9.]+MB\)$' "SIZE is 52.4MB (50 MiB) in the writable layer"
say "5. See what changed"
step "layerfs diff test-overlay"
seed "Shows: A /bigfile"
expect_line '^A /bigfile$' "A /bigfile"
[[ "$OUT" == "A /bigfile" ]] || fail "diff shows more than A /bigfile"
say "6. Find container layer"
step "CONTAINER_ID=\$(layerfs inspect test-overlay --format '{{.Id}}'); echo \$CONTAINER_ID"
CONTAINER_ID=$OUT
step "ls $LAYERFS_ROOT/containers/ | grep -i ${CONTAINER_ID:0:12} || echo \"Layer is at: \$(layerfs inspect test-overlay --format '{{.GraphDriver.Data.UpperDir}}')\""
expect_line "^${CONTAINER_ID}\$" "the container's dir in the store, named by its ID"
step "echo \"Layer is at: \$(layerfs inspect test-overlay --format '{{.GraphDriver.Data.UpperDir}}')\""
UPPER=${OUT#Layer is at: }
step "ls -l $UPPER"
expect_line ' 52428800 .* bigfile$' "the 50 MiB file is in the upper dir, nowhere else"
step "layerfs inspect test-overlay --format '{{.GraphDriver.Data.LowerDir}}'"
expect_line "^$LAYERFS_ROOT/layers/[0-9a-f]{64}/diff\$" "the image's layer, shared read-only"
say "7. Cleanup"
step "layerfs rm -f test-overlay"
step "layerfs ps -a --filter name=test-overlay"
expect_no_line 'test-overlay' "gone"
step "test -e $UPPER && echo 'still there' || echo 'writable layer deleted'"
expect_line '^writable layer deleted$' "rm deletes the writable layer"

banner "Container layer is ephemeral — use volumes for persistent data"
say "A database writing into the container layer: lost when the container is replaced"
step "layerfs run --name db alpine sh -c 'mkdir -p /var/lib/db; echo customer-1 >> /var/lib/db/records'"
step "layerfs rm db"
step "layerfs run --rm alpine sh -c 'cat /var/lib/db/records 2>/dev/null || echo EMPTY'"
expect_line '^EMPTY$' "a new container starts from the image: the records are gone"
say "The same with a named volume (bind-mounted past the union file system)"
step "layerfs run --rm -v dbdata:/var/lib/db alpine sh -c 'echo customer-1 >> /var/lib/db/records'"
step "layerfs run --rm -v dbdata:/var/lib/db alpine cat /var/lib/db/records"
expect_line '^customer-1$' "the records survive in the volume"
step "layerfs volume inspect dbdata --format '{{.Mountpoint}}'"
expect_line "^$LAYERFS_ROOT/volumes/dbdata/_data\$" "a plain directory of the store"
step "layerfs system df"
expect_line '^Local Volumes +1 +0 ' "one local volume, no container uses it"
step "layerfs system prune -a --volumes -f"
expect_line '^Total reclaimed space: ' "what system df called reclaimable"
step "layerfs fsck"
expect_line 'clean' "the store is consistent"
