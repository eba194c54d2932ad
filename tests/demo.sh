#!/bin/bash
# The main job, end to end, on a fresh Debian 12 machine (as root):
# install what is missing, build, start a tgt iSCSI target on 127.0.0.1
# with a thin LUN holding scattered data and a LUN full of old data, probe
# both, plan, clone LUN to LUN, check the result, and stop the target.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
sh tests/install-deps.sh
if [ ! -x build/blkclone ]; then
	autoreconf -fi
	mkdir -p build
	(cd build && ../configure -q && make -s -j"$(nproc)")
fi
B=$top/build/blkclone
W=$(mktemp -d /tmp/blkclone-demo.XXXXXX)
. tests/lib/tgt-target.sh
trap 'tgt_stop; rm -rf "$W"' EXIT

echo "== two 1 GiB LUNs on a loopback tgt target"
truncate -s 1G "$W/source.img"
for i in $(seq 0 31); do	# 64 MiB of data in scattered extents
	dd if=/dev/urandom of="$W/source.img" bs=1M count=2 seek=$((i * 32 + i % 7)) \
	   conv=notrunc status=none
done
dd if=/dev/urandom of="$W/dest.img" bs=1M count=1024 status=none	# old data
tgt_start
tgt_target 1 iqn.2026-11.demo.blkclone:array
tgt_lun 1 1 "$W/source.img"
tgt_lun 1 2 "$W/dest.img"
SRC=iscsi://127.0.0.1:$TGT_PORT/iqn.2026-11.demo.blkclone:array/1
DST=iscsi://127.0.0.1:$TGT_PORT/iqn.2026-11.demo.blkclone:array/2
echo "source LUN backing file holds $(du -h "$W/source.img" | cut -f1), destination $(du -h "$W/dest.img" | cut -f1)"

echo; echo "== blkclone probe $SRC $DST"
"$B" probe "$SRC" "$DST"

echo; echo "== blkclone map $SRC (first extents)"
"$B" map "$SRC" | head -n 6

echo; echo "== blkclone copy --verify --progress $SRC $DST"
"$B" copy --verify --progress "$SRC" "$DST"
cmp "$W/source.img" "$W/dest.img" && echo "cmp of the backing files: identical"
echo "destination backing file now holds $(du -h "$W/dest.img" | cut -f1) (source: $(du -h "$W/source.img" | cut -f1))"

echo; echo "== blkclone copy --json $SRC clone.img"
"$B" copy --json "$SRC" "$W/clone.img"
