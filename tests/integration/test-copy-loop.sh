#!/bin/bash
# Host copy with real block devices (loop): O_DIRECT I/O, the loop
# device's backing file as extent map, thin destinations, mixed block sizes.
. "$(dirname "$0")/../lib/common.sh"
need_root

make_sparse "$T/src.img" 192 40 2048 11
src_alloc=$(alloc_bytes "$T/src.img")
SRC=$(make_loop "$T/src.img") || { echo "losetup failed"; exit 1; }

# A destination loop device full of old data, on a sparse-capable file.
dd if=/dev/urandom of="$T/dst.img" bs=1M count=192 status=none
DST=$(make_loop "$T/dst.img")
note "src $SRC ($src_alloc bytes allocated), dst $DST"

"$BLKCLONE" copy --json "$SRC" "$DST" >"$T/j1" 2>"$T/e1"
rc=$?; check "loop to loop exits 0 ($(cat "$T/e1"))" test $rc = 0
check "loop to loop identical" cmp -s "$SRC" "$DST"
check "backing files identical" cmp -s "$T/src.img" "$T/dst.img"
rb=$(json_get "$T/j1" read_bytes)
check "read only what the backing file holds ($rb <= $src_alloc)" test "$rb" -le "$src_alloc"
note "destination allocation after copy: $(alloc_bytes "$T/dst.img")"
check "destination thinned to the source's allocation" \
	test "$(alloc_bytes "$T/dst.img")" -le "$src_alloc"

# probe: a loop device maps through its backing file.
bcrun 0 "$T/p" "$T/err" probe --json "$SRC"
check "probe: map source is the backing file" grep -q '"map_source": "backing_file"' "$T/p"
check "probe: block backend" grep -q '"backend": "block"' "$T/p"

# map equals the backing file's allocation
bcrun 0 "$T/m" "$T/err" map --json "$SRC"
mapped=$(sed -n 's/.*"mapped_bytes": \([0-9]*\).*/\1/p' "$T/m")
check "map of the loop device = backing allocation ($mapped)" test "$mapped" = "$src_alloc"

# file -> loop with a 4096-byte logical block size
truncate -s 192M "$T/d4k.img"
D4K=$(make_loop -b 4096 "$T/d4k.img")
"$BLKCLONE" copy --verify "$T/src.img" "$D4K" >/dev/null 2>"$T/e3"
rc=$?; check "file to 4096-byte loop exits 0 ($(cat "$T/e3"))" test $rc = 0
check "file to 4096-byte loop identical" cmp -s "$T/src.img" "$D4K"

# loop (4096) -> new file
bcrun 0 /dev/null "$T/err" copy "$D4K" "$T/back.img"
check "4096-byte loop to file identical" cmp -s "$T/src.img" "$T/back.img"
check "file from loop is thin" test "$(alloc_bytes "$T/back.img")" -le "$src_alloc"

# A block device with no map (here: a loop device whose backing file was
# deleted): zero detection reads everything and still writes only data.
cp --sparse=always "$T/src.img" "$T/nomap.img"
NOMAP=$(make_loop "$T/nomap.img")
rm "$T/nomap.img"
bcrun 0 "$T/p2" "$T/err" probe --json "$NOMAP"
check "deleted backing file: no map" grep -q '"map_source": "none"' "$T/p2"
bcrun 0 "$T/j4" "$T/err" copy --json "$NOMAP" "$T/fromnomap.img"
check "no-map device copied identically" cmp -s "$T/src.img" "$T/fromnomap.img"
check "no-map device: read everything" test "$(json_get "$T/j4" read_bytes)" = $((192 << 20))
check "no-map device: wrote only non-zero data" \
	test "$(json_get "$T/j4" written_bytes)" -le "$src_alloc"
check "no-map copy is thin" test "$(alloc_bytes "$T/fromnomap.img")" -le "$src_alloc"

# Another program holds the destination open and has written to it
# through the page cache (no O_DIRECT) where the source has a hole and the
# destination's backing file still has one: those dirty pages must reach
# the device before the copy looks at its map, or the copy skips the
# "hole" and the pages land over the clone at the next flush.
truncate -s 64M "$T/dsrc.img"
dd if=/dev/urandom of="$T/dsrc.img" bs=1M count=1 conv=notrunc status=none
dd if=/dev/urandom of="$T/dsrc.img" bs=1M seek=32 count=1 conv=notrunc status=none
DSRC=$(make_loop "$T/dsrc.img")
truncate -s 64M "$T/ddst.img"
DDST=$(make_loop "$T/ddst.img")
exec 9<>"$DDST"			# the other opener keeps the device open
head -c 65536 /dev/urandom >"$T/dirty"
dd if="$T/dirty" of="$DDST" bs=65536 seek=128 conv=notrunc status=none	# at 8 MiB
check "the other opener's data is cached, not yet in the backing file" \
	cmp -s -n 65536 -i 0:$((8 << 20)) /dev/zero "$T/ddst.img"
"$BLKCLONE" copy --json "$DSRC" "$DDST" >"$T/j5" 2>"$T/e5"
rc=$?; check "copy over a destination with dirty cached pages exits 0 ($(cat "$T/e5"))" test $rc = 0
exec 9>&-
check "the destination equals the source (device)" cmp -s "$DSRC" "$DDST"
check "the destination equals the source (backing file)" cmp -s "$T/dsrc.img" "$T/ddst.img"

# zero: a whole device reads zeros afterwards, and stays thin.
"$BLKCLONE" zero --json "$DST" >"$T/z" 2>"$T/ez"
rc=$?; check "zero exits 0" test $rc = 0
check "zeroed device reads zeros" cmp -s -n $((192 << 20)) "$DST" /dev/zero
check "zeroed backing file is thin" test "$(alloc_bytes "$T/dst.img")" -le 65536

finish
