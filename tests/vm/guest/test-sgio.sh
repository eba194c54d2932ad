#!/bin/sh
# Runs inside the test VM (busybox sh): blkclone over SG_IO on LIO's LUs
# through tcm_loop.  EXTENDED COPY LU to LU and LV to LV (dm-linear windows
# on one LU and across LUs), page cache flushed before and dropped after a
# copy made behind the kernel's back, overlap and block-size refusals, a
# copy manager failing part-way.  Every clone is compared with O_DIRECT
# reads.  $BC is the blkclone binary to test.
. /guest/lib.sh

A=$(lu A) B=$(lu B) C=$(lu C) S=$(lu S) T=$(lu T) FULL=$(lu FULL)
echo "# $BC; LUs A=$A B=$B C=$C S=$S T=$T FULL=$FULL"
[ -b "$S" ] && [ -b "$T" ] || { echo "not ok - tcm_loop LUs missing"; exit 1; }

# --- LU to LU, with the source written through the page cache just
# before (blkclone must flush it) and stale destination pages cached
dd if=/dev/urandom of="$S" bs=1M count=64 2>/dev/null	# buffered, not synced
# Destination pages cached, and kept: the kernel drops a block device's
# cache at its last close, so another opener (a VM, a mount) holds it.
exec 5<"$T"
cat "$T" >/dev/null
"$BC" probe "$S" "$T" >/tmp/probe 2>&1
check "probe over SG_IO sees the copy domain" has "copy domain:  scsi:" /tmp/probe
check "probe plans EXTENDED COPY" has "^Plan: xcopy-lid1" /tmp/probe
expect_exit 0 "LU to LU over SG_IO, --offload=require" "$BC" copy --offload=require --json "$S" "$T"
check "offloaded the whole LU" has '"offloaded_bytes": 67108864' /tmp/out
check "no data through the host" sh -c 'grep -q "\"read_bytes\": 0," /tmp/out && grep -q "\"written_bytes\": 0," /tmp/out'
check "destination equals the source (O_DIRECT)" test "$(sum "$S")" = "$(sum "$T")"
check "the page cache shows the new data too" cmp -s "$S" "$T"
exec 5<&-

# --- LVs: dm-linear windows on one LU, and across two LUs
dmsetup remove_all 2>/dev/null
echo "0 65536 linear $A 2048" | dmsetup create bc_lv1 &&
echo "0 65536 linear $A 131072" | dmsetup create bc_lv2 &&
echo "0 65536 linear $A 20000" | dmsetup create bc_lv3 &&
echo "0 65536 linear $B 4096" | dmsetup create bc_lv4 &&
dmsetup mknodes
check "four dm-linear LVs made" test -b /dev/mapper/bc_lv4
dd if=/dev/urandom of=/dev/mapper/bc_lv1 bs=1M count=32 oflag=direct 2>/dev/null
dd if=/dev/urandom of=/dev/mapper/bc_lv2 bs=1M count=32 oflag=direct 2>/dev/null	# old data
dd if=/dev/urandom of=/dev/mapper/bc_lv4 bs=1M count=32 oflag=direct 2>/dev/null
# what lies around the destination windows (bc_lv2: A from 64 MiB,
# bc_lv4: B from 2 MiB, 32 MiB each), before, between and after them
a_around=$(outside "$A" 64 32) b_around=$(outside "$B" 2 32)
"$BC" probe /dev/mapper/bc_lv1 /dev/mapper/bc_lv2 >/tmp/probe 2>&1
check "probe resolves the LV to its LU" has "stacked on:   dm-[0-9]* (linear) > ${A#/dev/}" /tmp/probe
expect_exit 0 "LV to LV on one LU, --offload=require" \
	"$BC" copy --offload=require --json /dev/mapper/bc_lv1 /dev/mapper/bc_lv2
check "LV clone offloaded 32 MiB" has '"offloaded_bytes": 33554432' /tmp/out
check "LV clone read nothing through the host" has '"read_bytes": 0,' /tmp/out
check "LV clone is byte-equal" test "$(sum /dev/mapper/bc_lv1)" = "$(sum /dev/mapper/bc_lv2)"
check "LU A around the destination LV is untouched" test "$(outside "$A" 64 32)" = "$a_around"
expect_exit 0 "LV to LV across two LUs of one target" \
	"$BC" copy --offload=require --json /dev/mapper/bc_lv1 /dev/mapper/bc_lv4
check "cross-LU LV clone is byte-equal" test "$(sum /dev/mapper/bc_lv1)" = "$(sum /dev/mapper/bc_lv4)"
check "LU B around the destination LV is untouched" test "$(outside "$B" 2 32)" = "$b_around"
expect_exit 2 "overlapping LVs on one LU are refused" \
	"$BC" copy /dev/mapper/bc_lv1 /dev/mapper/bc_lv3
check "the refusal says they overlap" has "overlap" /tmp/err
dmsetup remove_all

# --- a sparse source onto a dirty LV on a LU (host copy over SG_IO and
# O_DIRECT): the holes are made zero by the LU (WRITE SAME), only data is
# written; and zero of an LV
echo "0 65536 linear $A 262144" | dmsetup create bc_h1 && dmsetup mknodes
dd if=/dev/urandom of=/dev/mapper/bc_h1 bs=1M count=32 oflag=direct 2>/dev/null
h_around=$(outside "$A" 128 32)
sparse_file /tmp/sp.img 32
expect_exit 0 "sparse file onto a dirty LV over SG_IO" "$BC" copy --json /tmp/sp.img /dev/mapper/bc_h1
check "holes over SG_IO: byte-equal" test "$(sum /dev/mapper/bc_h1)" = "$(sum_file /tmp/sp.img)"
check "holes over SG_IO: only the 3 MiB of data written" has '"written_bytes": 3145728,' /tmp/out
check "holes over SG_IO: 29 MiB zeroed by the LU" has '"zeroed_bytes": 30408704,' /tmp/out
check "holes over SG_IO: the LU around the LV is untouched" test "$(outside "$A" 128 32)" = "$h_around"
dd if=/dev/urandom of=/dev/mapper/bc_h1 bs=1M count=32 oflag=direct 2>/dev/null
dd if=/dev/zero of=/tmp/zero32 bs=1M count=32 2>/dev/null
expect_exit 0 "zero of an LV over SG_IO" "$BC" zero --json /dev/mapper/bc_h1
check "zero over SG_IO: the LV reads zero" test "$(sum /dev/mapper/bc_h1)" = "$(sum_file /tmp/zero32)"
check "zero over SG_IO: zeroed_bytes is the LV" has '"zeroed_bytes": 33554432,' /tmp/out
check "zero over SG_IO: the LU around the LV is untouched" test "$(outside "$A" 128 32)" = "$h_around"
dmsetup remove_all

# --- partitions: an MBR with two partitions on T, written byte by byte
mbr_entry() {	# mbr_entry START SECTORS: one primary Linux partition, LBA only
	printf '\000\376\377\377\203\376\377\377'
	for v in "$1" "$2"; do
		printf "\\$(printf %03o $((v & 255)))\\$(printf %03o $((v >> 8 & 255)))"
		printf "\\$(printf %03o $((v >> 16 & 255)))\\$(printf %03o $((v >> 24 & 255)))"
	done
}
dd if=/dev/zero of="$T" bs=512 count=1 oflag=direct 2>/dev/null
{ mbr_entry 2048 32768; mbr_entry 40960 32768; } | dd of="$T" bs=1 seek=446 conv=notrunc 2>/dev/null
printf '\125\252' | dd of="$T" bs=1 seek=510 conv=notrunc 2>/dev/null
sync; blockdev --rereadpt "$T"
check "two partitions on $T" test -b "${T}1" -a -b "${T}2"
dd if=/dev/urandom of="${T}1" bs=1M count=16 oflag=direct 2>/dev/null
dd if=/dev/urandom of="${T}2" bs=1M count=16 oflag=direct 2>/dev/null	# old data
dd if=/dev/urandom of="$T" bs=1M seek=36 count=28 oflag=direct 2>/dev/null	# after it
t_around=$(outside "$T" 20 16)	# T2: from 20 MiB, 16 MiB
expect_exit 0 "partition to partition, --offload=require" \
	"$BC" copy --offload=require --json "${T}1" "${T}2"
check "partition clone offloaded 16 MiB" has '"offloaded_bytes": 16777216' /tmp/out
check "partition clone is byte-equal" test "$(sum "${T}1")" = "$(sum "${T}2")"
check "the LU around the destination partition is untouched" test "$(outside "$T" 20 16)" = "$t_around"
check "the partition table survived" test "$(dd if="$T" bs=1 skip=510 count=2 2>/dev/null | od -An -tx1 | tr -d ' ')" = 55aa

# --- block sizes differ: no EXTENDED COPY; auto copies on the host
dd if=/dev/urandom of="$S" bs=1M count=64 oflag=direct 2>/dev/null
expect_exit 3 "512 -> 4096-byte LU with --offload=require" "$BC" copy --offload=require "$S" "$C"
check "the reason is the block size" has "equal block sizes" /tmp/err
expect_exit 0 "512 -> 4096-byte LU with auto (host copy)" "$BC" copy "$S" "$C"
check "host copy across block sizes is byte-equal" test "$(sum "$S")" = "$(sum_n "$C" 64)"

# --- the copy manager fails part-way (FULL's store is 16 MiB)
dd if=/dev/urandom of="$A" bs=1M count=64 oflag=direct 2>/dev/null
expect_exit 1 "copy manager failing part-way, --offload=require" \
	"$BC" copy --offload=require "$A" "$FULL"
check "the error names EXTENDED COPY and an LBA" has "EXTENDED COPY(LID1) at LBA" /tmp/err
check "and says how to continue" has "resume-from=" /tmp/err

finish
