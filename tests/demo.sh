#!/bin/bash
# The main job, end to end, on a fresh Debian 12 machine (as root):
# install what is missing, build, make a thin volume with data, probe it,
# clone it, and show the report.  Leaves nothing behind.
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
loops=""
trap 'for l in $loops; do losetup -d $l 2>/dev/null; done; rm -rf "$W"' EXIT

echo "== a 1 GiB thin image with 64 MiB of data in scattered extents"
truncate -s 1G "$W/source.img"
for i in $(seq 0 31); do
	dd if=/dev/urandom of="$W/source.img" bs=1M count=2 seek=$((i * 32 + i % 7)) \
	   conv=notrunc status=none
done
du -h --apparent-size "$W/source.img"; du -h "$W/source.img"

echo; echo "== blkclone probe source.img"
"$B" probe "$W/source.img"

echo; echo "== blkclone map source.img (first extents)"
"$B" map "$W/source.img" | head -n 8

echo; echo "== a destination: a loop device over an image full of old data"
dd if=/dev/urandom of="$W/dest.img" bs=1M count=1024 status=none
dest=$(losetup -f --show "$W/dest.img"); loops="$dest"
src=$(losetup -f --show -r "$W/source.img"); loops="$loops $src"
"$B" probe "$src" "$dest" | sed -n '/^Plan/,$p'

echo; echo "== blkclone copy --verify --progress $src $dest"
"$B" copy --verify --progress "$src" "$dest"
cmp "$src" "$dest" && echo "cmp: identical"
echo "destination backing file now holds: $(du -h "$W/dest.img" | cut -f1) (source: $(du -h "$W/source.img" | cut -f1))"

echo; echo "== blkclone copy --json source.img clone.img"
"$B" copy --json "$W/source.img" "$W/clone.img"
