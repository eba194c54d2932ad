#!/bin/bash
# The source's holes onto a real tgt destination that is not known zero:
# which commands the destination LU gets, seen through the CDB relay
# (tests/lib/cdb-trace.sh); the test asserts on that list and on the
# backing files (cmp, allocated bytes), never on what blkclone says of
# itself alone.
#
# A hole is settled without asking the destination's map where an earlier
# answer covers it (src/core/holes.h): tgt answers GET LBA STATUS
# with SEEK_DATA/SEEK_HOLE on its backing file, which on tmpfs walks every
# page to the next hole, so one query per hole onto old data made a copy
# twice as slow as qemu-img.  One I/O thread (BLKCLONE_ISCSI_QUEUE_DEPTH=1)
# for exact counts: with four, several holes may be asked about before the
# first answer is back.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/tgt-target.sh"
. "$(dirname "$0")/../lib/cdb-trace.sh"
need_root
trace_need
CLEANUP_HOOKS="tgt_stop $CLEANUP_HOOKS"
export BLKCLONE_STATE_DIR=$T/state

IQN=iqn.2026-12.test.blkclone:holes
# 8 data extents of 1 MiB at every 8 MiB: 8 holes of 7 MiB (14336 blocks,
# one WRITE SAME each), the last one to the end
truncate -s 64M "$T/src.img"
for i in $(seq 0 7); do
	dd if=/dev/urandom of="$T/src.img" bs=1M count=1 seek=$((i * 8)) conv=notrunc status=none
done
dd if=/dev/urandom of="$T/old.img" bs=1M count=64 status=none
cp "$T/old.img" "$T/dst.img"
tgt_start || exit 1
tgt_target 1 "$IQN"
tgt_lun 1 1 "$T/src.img"
tgt_lun 1 2 "$T/dst.img"

trace_start "$IQN"
# the bytes of FILE in data segments (SEEK_DATA/SEEK_HOLE: not stat's
# block count, which holds the file system's extent tree blocks too)
alloc() {
	python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY); end = os.fstat(fd).st_size; pos = n = 0
while pos < end:
    try:
        d = os.lseek(fd, pos, os.SEEK_DATA)
    except OSError:
        break
    h = os.lseek(fd, d, os.SEEK_HOLE); n += h - d; pos = h
print(n)' "$1"
}
MiB=1048576

# settled WHAT QUERIES WRITE_SAMES: after the copy just run, the
# destination is byte-equal to the source (cmp of the backing files), LUN
# 2 got QUERIES GET LBA STATUS and WRITE_SAMES WRITE SAME(16), every one
# with UNMAP, and its backing file holds the 8 MiB of data only
settled() {
	local n a
	check "$1: the copy is byte-equal to the source (cmp of the backing files)" cmp -s "$T/src.img" "$T/dst.img"
	n=$(count 2 9e12)
	check "$1: LUN 2 got $2 GET LBA STATUS, got $n" test "$n" = "$2"
	n=$(count 2 93)
	check "$1: LUN 2 got $3 WRITE SAME(16), got $n" test "$n" = "$3"
	n=$(count 2 9308)
	check "$1: every WRITE SAME(16) had UNMAP set ($n of $3)" test "$n" = "$3"
	a=$(alloc "$T/dst.img")
	check "$1: the destination's backing file holds the 8 MiB of data only ($a bytes allocated)" \
		test "$a" = $((8 * MiB))
}

# Every copy's probe sends one GET LBA STATUS to each LU (does it work?);
# the settles' queries come on top.
#
# --- onto old data: the first hole asks to the end of the LU; the answer
# (mapped to the end) settles the other seven unasked
: >"$T/log"
BLKCLONE_ISCSI_QUEUE_DEPTH=1 bcrun 0 "$T/out" "$T/err" copy --json "$U/1" "$U/2"
settled "old data (1 + 1 queries, a WRITE SAME per hole)" 2 8
check "old data: --json says 56 MiB zeroed, none skipped ($(jq -c '{zeroed_bytes, skipped_bytes}' "$T/out"))" \
	sh -c "jq -e '.zeroed_bytes == $((56 * MiB)) and .skipped_bytes == 0' '$T/out' >/dev/null"

# --- onto the now thin copy: one answer (15 extents) covers every hole,
# none zeroed
: >"$T/log"
BLKCLONE_ISCSI_QUEUE_DEPTH=1 bcrun 0 "$T/out" "$T/err" copy --json "$U/1" "$U/2"
settled "thin (1 + 1 queries, no WRITE SAME)" 2 0
check "thin: --json says 56 MiB skipped ($(jq -c '{zeroed_bytes, skipped_bytes}' "$T/out"))" \
	sh -c "jq -e '.zeroed_bytes == 0 and .skipped_bytes == $((56 * MiB))' '$T/out' >/dev/null"

# --- old data in the first half only: one answer, mapped to 32 MiB and
# deallocated after: holes 0-3 zeroed, 4-7 skipped
: >"$T/log"
truncate -s 0 "$T/dst.img"
truncate -s 64M "$T/dst.img"
dd if="$T/old.img" of="$T/dst.img" bs=1M count=32 conv=notrunc status=none
BLKCLONE_ISCSI_QUEUE_DEPTH=1 bcrun 0 "$T/out" "$T/err" copy --json "$U/1" "$U/2"
settled "half old (1 + 1 queries, 4 WRITE SAME)" 2 4

# --- the default depth (16 I/O threads), onto old data again: the counts may
# vary, what is left may not
: >"$T/log"
cp "$T/old.img" "$T/dst.img"
bcrun 0 "$T/out" "$T/err" copy --json "$U/1" "$U/2"
check "default depth, old data: byte-equal" cmp -s "$T/src.img" "$T/dst.img"
a=$(alloc "$T/dst.img")
check "default depth, old data: the destination holds the 8 MiB of data only ($a bytes allocated)" \
	test "$a" = $((8 * MiB))
note "default depth, old data: LUN 2 got $(count 2 9e12) GET LBA STATUS and $(count 2 9308) WRITE SAME(16)"
finish
