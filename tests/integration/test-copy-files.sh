#!/bin/bash
# Host copy between image files: identical bytes, destination as thin as
# the source, old destination data fully replaced, honest byte counts.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/gate.sh"

make_sparse "$T/src.img" 256 60 1024 7
src_alloc=$(alloc_bytes "$T/src.img")
note "source: 256 MiB, $src_alloc bytes allocated"

# 1. Into a new file: created by us, so every hole is skipped.
"$BLKCLONE" copy --json "$T/src.img" "$T/new.img" >"$T/j1" 2>"$T/e1"
rc=$?; check "copy to a new file exits 0" test $rc = 0
check "new file is identical" cmp -s "$T/src.img" "$T/new.img"
note "allocated: source $src_alloc, copy $(alloc_bytes "$T/new.img")"
check "new file is no more allocated than the source" \
	test "$(alloc_bytes "$T/new.img")" -le "$src_alloc"
check "method is host" test "$(json_get "$T/j1" method)" = host
read_b=$(json_get "$T/j1" read_bytes)
check "read only the allocated data ($read_b <= $src_alloc)" test "$read_b" -le "$src_alloc"
check "read something" test "$read_b" -gt 0
check "no zeroing needed for a created file" test "$(json_get "$T/j1" zeroed_bytes)" = 0
check "skipped + read covers the volume" \
	test $(( $(json_get "$T/j1" skipped_bytes) + read_b )) = $((256 << 20))
check "fallback is null" grep -q '"fallback": null' "$T/j1"

# 2. Onto an existing file full of old data: nothing old may survive, and
#    the holes are punched, so it ends as thin as the source.
dd if=/dev/urandom of="$T/old.img" bs=1M count=256 status=none
"$BLKCLONE" copy --json "$T/src.img" "$T/old.img" >"$T/j2" 2>"$T/e2"
rc=$?; check "copy onto old data exits 0" test $rc = 0
check "old data fully overwritten" cmp -s "$T/src.img" "$T/old.img"
note "allocated: source $src_alloc, old $(alloc_bytes "$T/old.img")"
check "destination thinned to the source's allocation" \
	test "$(alloc_bytes "$T/old.img")" -le "$src_alloc"
check "holes were zeroed, not skipped" test "$(json_get "$T/j2" zeroed_bytes)" -gt 0

# 3. A destination larger than the source: the tail is left alone.
truncate -s 300M "$T/big.img"
printf 'TAILDATA' | dd of="$T/big.img" bs=1 seek=$((290 << 20)) conv=notrunc status=none
bcrun 0 /dev/null "$T/err" copy "$T/src.img" "$T/big.img"
check "first 256 MiB identical" cmp -s -n $((256 << 20)) "$T/src.img" "$T/big.img"
check "beyond the source size untouched" \
	test "$(dd if="$T/big.img" bs=1 skip=$((290 << 20)) count=8 status=none)" = TAILDATA

# 4. --dest-zeroed on a sparse destination skips all holes.
truncate -s 256M "$T/zeroed.img"
bcrun 0 "$T/j4" "$T/err" copy --json --dest-zeroed "$T/src.img" "$T/zeroed.img"
check "dest-zeroed copy identical" cmp -s "$T/src.img" "$T/zeroed.img"
check "dest-zeroed: nothing zeroed" test "$(json_get "$T/j4" zeroed_bytes)" = 0

# 5. An existing sparse destination without --dest-zeroed: the holes are
#    proven zero by the destination's own map, so they are skipped too.
truncate -s 256M "$T/sparse-dst.img"
bcrun 0 "$T/j5" "$T/err" copy --json "$T/src.img" "$T/sparse-dst.img"
check "sparse destination identical" cmp -s "$T/src.img" "$T/sparse-dst.img"
check "sparse destination: holes proven by its map, nothing zeroed" \
	test "$(json_get "$T/j5" zeroed_bytes)" = 0

# 6. Zero-filled data in the source is not written: the copy is thinner.
dd if=/dev/zero of="$T/zeros.img" bs=1M count=16 status=none
printf 'x' | dd of="$T/zeros.img" bs=1 seek=$((8 << 20)) conv=notrunc status=none
bcrun 0 "$T/j6" "$T/err" copy --json "$T/zeros.img" "$T/zeros-copy.img"
check "zero-filled source copied identically" cmp -s "$T/zeros.img" "$T/zeros-copy.img"
check "only the non-zero block written" test "$(json_get "$T/j6" written_bytes)" = 4096
check "zero-filled source becomes thin" test "$(alloc_bytes "$T/zeros-copy.img")" -le 8192

# 7. A size that is not a multiple of 512 copies file to file.
head -c 1000 /dev/urandom >"$T/odd.img"
bcrun 0 /dev/null "$T/err" copy "$T/odd.img" "$T/odd-copy.img"
check "1000-byte file copied" cmp -s "$T/odd.img" "$T/odd-copy.img"

# 8. --verify and progress lines in the form Proxmox parses.
"$BLKCLONE" copy --verify --progress "$T/src.img" "$T/v.img" >"$T/o8" 2>"$T/e8"
rc=$?; check "verified copy exits 0" test $rc = 0
check "progress lines (NN.NN/100%)" grep -Eq '^ *\([0-9]+\.[0-9]{2}/100%\)$' "$T/e8"
check "progress ends at 100%" grep -q '(100.00/100%)' "$T/e8"
check "text report says verified" grep -q verified "$T/o8"

# 9. Without --progress a copy prints only the result.
bcrun 0 "$T/o9" "$T/e9" copy "$T/src.img" "$T/quiet.img"
check "no progress without --progress" test ! -s "$T/e9"

# 10. map agrees with SEEK_DATA: mapped bytes = what the file holds.
bcrun 0 "$T/m" "$T/err" map --json "$T/src.img"
mapped=$(sed -n 's/.*"mapped_bytes": \([0-9]*\).*/\1/p' "$T/m")
check "map: mapped bytes ($mapped) equal the allocation ($src_alloc)" test "$mapped" = "$src_alloc"

# 11. --offload=require between files without reflink: exit 3, and the
#     destination we would have created does not exist afterwards.
fs=$(stat -f -c %T "$T")
if [ "$fs" != btrfs ] && [ "$fs" != xfs ]; then
	expect_exit 3 "offload required on $fs" "$BLKCLONE" copy --offload=require "$T/src.img" "$T/req.img"
	expect_msg "offload required but unavailable" "require names the reason"
	check "no destination file left behind" test ! -e "$T/req.img"
fi

# 12. --resume-from: a destination whose first half is done and whose
#     second half holds garbage ends identical, reading only the rest.
half=$((128 << 20))
{ head -c $half "$T/src.img"; head -c $half /dev/urandom; } >"$T/resume.img"
"$BLKCLONE" copy --json --resume-from=$((half / 512)) "$T/src.img" "$T/resume.img" >"$T/j12" 2>"$T/e12"
rc=$?; check "resumed copy exits 0 ($(cat "$T/e12"))" test $rc = 0
check "resumed copy identical" cmp -s "$T/src.img" "$T/resume.img"
check "resume read only the second half's data" \
	test "$(json_get "$T/j12" read_bytes)" -lt "$src_alloc"
expect_exit 2 "--resume-from beyond the end" "$BLKCLONE" copy --resume-from=999999999 "$T/src.img" "$T/resume.img"
expect_exit 2 "--resume-from not a number" "$BLKCLONE" copy --resume-from=12x "$T/src.img" "$T/resume.img"

# 13. SIGINT stops a copy, names where, and the named LBA resumes it.
#     The source is read through the gate (tests/lib/gate.sh): reads past
#     its middle are held until the signal is sent, so the signal always
#     lands mid-copy.
make_sparse "$T/big-src.img" 512 100 4096 5
dd if=/dev/urandom of="$T/big-src.img" bs=1M seek=511 count=1 conv=notrunc status=none
gate_mount || exit 1
gate_arm big-src.img read $((256 << 20))
"$BLKCLONE" copy "$GATE_MNT/big-src.img" "$T/int.img" >/dev/null 2>"$T/e13" &
pid=$!
gate_wait_held 300 $pid || exit 1
held_at=$(gate_low)
kill -INT $pid
# the gate opens once the stop was heard: a signal handled late
# (valgrind's pace) must not find the copy already past the held reads
wait_for "$T/e13" 'stop asked for: stopping at the next safe point' 300 ||
	fail "blkclone never said it heard SIGINT"
gate_open
wait $pid
rc=$?
check "interrupted copy exits 1 ($(head -c 300 "$T/e13"))" test $rc = 1
check "interruption names the LBA to resume from" grep -q -- '--resume-from=' "$T/e13"
lba=$(sed -n 's/.*--resume-from=\([0-9]*\).*/\1/p' "$T/e13")
# the held reads complete once the gate opens, so the copy may end a
# little past them, never at the end
check "the copy stopped before the end (resume at byte $(( ${lba:-0} * 512 )), held at $held_at)" \
	test "$(( ${lba:-999999999} * 512 ))" -lt $((512 << 20))
check "everything below the resume LBA is copied" \
	cmp -s -n $(( ${lba:-0} * 512 )) "$T/big-src.img" "$T/int.img"
"$BLKCLONE" copy --resume-from="${lba:-0}" "$T/big-src.img" "$T/int.img" >/dev/null 2>"$T/e13r"
rc=$?
check "resume after SIGINT exits 0 ($(cat "$T/e13r"))" test $rc = 0
check "copy resumed after SIGINT is identical" cmp -s "$T/big-src.img" "$T/int.img"

# 14. An image file blkclone creates is readable by its owner only, or
#     stricter where the source is: 0600 & the source's mode (stat is the
#     judge).  A common umask (022) would let 0644 through.
saved_umask=$(umask)
umask 022
for m in 600 644 640 400 444 660; do
	cp "$T/odd.img" "$T/mode-src-$m.img"
	chmod "$m" "$T/mode-src-$m.img"
	"$BLKCLONE" copy "$T/mode-src-$m.img" "$T/mode-$m.img" >/dev/null 2>"$T/e14"
	rc=$?; check "copy from a $m source exits 0 ($(cat "$T/e14"))" test $rc = 0
	want=$(printf '%o' $((0$m & 0600)))
	got=$(stat -c %a "$T/mode-$m.img")
	check "a $m source makes a $want file (got $got)" test "$got" = "$want"
	check "the copy from the $m source is identical" cmp -s "$T/odd.img" "$T/mode-$m.img"
done
# a block device's node (0660 root:disk): the file is 0600
truncate -s 1M "$T/mode-blk.img"
MB=$(make_loop "$T/mode-blk.img")
"$BLKCLONE" copy "$MB" "$T/mode-fromblk.img" >/dev/null 2>"$T/e14"
rc=$?; check "copy from $MB (mode $(stat -c %a "$MB")) exits 0 ($(cat "$T/e14"))" test $rc = 0
got=$(stat -c %a "$T/mode-fromblk.img")
check "a file made from a block device is 600 (got $got)" test "$got" = 600
umask "$saved_umask"

# 15. --timeout bounds the whole copy: held at the gate until its time is
#     surely over (a read cannot be interrupted, so the copy stops at its
#     next step), it exits 1 naming the timeout and the LBA to resume from,
#     with everything below that LBA copied.  The gate holds the first
#     read: a deadline is a clock, and on a loaded machine a copy could
#     spend its second before reaching a later read.  If even the start
#     took the whole second, the copy never reaches the gate; it must then
#     stop the same way (exit 1, the timeout, an LBA), having read nothing.
gate_arm big-src.img read 0
"$BLKCLONE" copy --timeout=1 "$GATE_MNT/big-src.img" "$T/to.img" >/dev/null 2>"$T/e15" &
pid=$!
for i in $(seq 6000); do	# until a read is held or the copy ended
	[ "$(gate_held)" -gt 0 ] 2>/dev/null && break
	kill -0 $pid 2>/dev/null || break
	sleep 0.05
done
if [ "$(gate_held)" -gt 0 ] 2>/dev/null; then
	sleep 2		# past the 1 s: the held read keeps the copy from ending meanwhile
else
	check "a copy that ended before the gate read nothing" test "$(gate_total)" = 0
fi
gate_open
wait $pid
rc=$?
check "a copy past its --timeout exits 1 ($(head -c 300 "$T/e15"))" test $rc = 1
check "it says the timeout ran out" grep -q -- "--timeout=1 s ran out" "$T/e15"
lba=$(sed -n 's/.*--resume-from=\([0-9]*\).*/\1/p' "$T/e15")
check "it names the LBA to resume from ($lba)" test -n "$lba"
check "everything below that LBA is copied" \
	cmp -s -n $(( ${lba:-0} * 512 )) "$T/big-src.img" "$T/to.img"
expect_exit 0 "a copy well within its --timeout" \
	"$BLKCLONE" copy --timeout=3600 --resume-from="${lba:-0}" "$T/big-src.img" "$T/to.img"
check "and it is identical" cmp -s "$T/big-src.img" "$T/to.img"

# 16. --io-depth, --chunk and --write-behind fix the host copy's I/O shape:
#     the report says it ran with exactly them (and no more workers than
#     the depth), it flushed as often as the write-behind says, and the
#     copy is identical.  40 MiB of data, then a hole.
dd if=/dev/urandom of="$T/io-src.img" bs=1M count=40 status=none
truncate -s 64M "$T/io-src.img"
bcrun 0 "$T/io.json" "$T/e16" copy --json --io-depth=3 --chunk=256K \
	--write-behind=8M "$T/io-src.img" "$T/io-dst.img"
check "the copy ran with the shape given: depth 3, 3 workers, 256 KiB, 8 MiB" \
	test "$(jq -c '.host_io | [.depth, .workers, .chunk_bytes, .write_behind_bytes]' "$T/io.json")" = "[3,3,262144,8388608]"
fl=$(jq '.host_io.flushes' "$T/io.json")
check "40 MiB written, a flush asked every 8 MiB: 4 or 5 before the last ($fl)" \
	test "$fl" -ge 4 -a "$fl" -le 5
check "and the copy is identical" cmp -s "$T/io-src.img" "$T/io-dst.img"
bcrun 0 "$T/io2.json" "$T/e16b" copy --json "$T/io-src.img" "$T/io-dst2.img"
check "without them the controller chooses: 4 workers, 1 MiB" \
	test "$(jq -c '.host_io | [.workers, .chunk_bytes]' "$T/io2.json")" = "[4,1048576]"

finish
