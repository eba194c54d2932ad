#!/bin/bash
# SCSI over libiscsi against a real tgt target on 127.0.0.1: probe
# cross-checked with libiscsi-bin's tools, map against the backing files'
# SEEK_DATA/SEEK_HOLE, LUN-to-LUN and LUN/file copies byte-equal and thin.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/tgt-target.sh"
. "$(dirname "$0")/../lib/gate.sh"
need_root
command -v tgtd >/dev/null || { echo "SKIP: tgt not installed"; exit 77; }
CLEANUP_HOOKS="tgt_stop $CLEANUP_HOOKS"

IQN=iqn.2026-11.test.blkclone:t1
make_sparse "$T/src.img" 256 30 2048 21
src_alloc=$(alloc_bytes "$T/src.img")
dd if=/dev/urandom of="$T/old.img" bs=1M count=256 status=none	# old data
truncate -s 256M "$T/thick.img"
truncate -s 256M "$T/b4k.img"
truncate -s 128M "$T/small.img"
dd if=/dev/urandom of="$T/queue.img" bs=1M count=16 status=none
gate_mount || exit 1
tgt_start || exit 1
tgt_target 1 "$IQN"
tgt_lun 1 10 "$GATE_MNT/queue.img"
tgt_lun 1 1 "$T/src.img"
tgt_lun 1 2 "$T/old.img"
tgt_lun 1 3 "$T/thick.img" 512 thick
tgt_lun 1 4 "$T/b4k.img" 4096
tgt_lun 1 5 "$T/small.img"
truncate -s 64M "$T/scenario.img"
tgt_lun 1 9 "$T/scenario.img"
U=iscsi://127.0.0.1:$TGT_PORT/$IQN
note "tgt on port $TGT_PORT; source allocation $src_alloc"

# --- the scenario list the simulator is also checked against
"$TOP_BUILDDIR/tests/sim/scsi-scenario" tgt "$U/9" "$TOP_SRCDIR/tests/scenarios/common.scn" >"$T/scn" 2>&1
rc=$?; check "tgt answers the shared SCSI scenarios as written ($(grep -c '^ok' "$T/scn") ok; $(grep '^not ok' "$T/scn" | head -n 3 | tr '\n' ' '))" test $rc = 0

# --- the session's queue: many commands out at once, async and threaded.
#     The tool reads 64 KiB at LBA i * 977 for each of its Q commands; the
#     last two are held at the backing file until it has counted what is
#     in flight: however fast tgt answers, those two cannot have come back
#     before that count.  (Two, not all: each held read takes one of
#     gatefs's FUSE threads, and the gate itself needs one to open.)
queue_run() {	# queue_run Q [VAR=VALUE...]: the tool on LUN 10; rc in $rc
	local q=$1; shift
	gate_arm queue.img read $(( (q - 3) * 977 * 512 + (64 << 10) ))
	env "$@" "$TOP_BUILDDIR/tests/tools/iscsi-queue" "$U/10" >"$T/q" 2>&1 &
	local pid=$!
	wait_for "$T/q" '^# in flight' 300 || note "harness: the queue tool never said what it had in flight"
	gate_open
	wait $pid
	rc=$?
}
queue_run 16
note "$(grep "^#" "$T/q")"; check "iSCSI queue: submit/poll and threaded execute ($(grep -c '^ok' "$T/q") ok; $(grep '^not ok' "$T/q" | tr '\n' ' '))" test $rc = 0
check "the default queue depth is 16, the deepest" grep -q '^# [0-9]* completed, 16 queued' "$T/q"
queue_run 4 BLKCLONE_ISCSI_QUEUE_DEPTH=4
note "$(grep "^#" "$T/q")"; check "iSCSI queue lowered to 4 by BLKCLONE_ISCSI_QUEUE_DEPTH ($(grep -c '^ok' "$T/q") ok; $(grep '^not ok' "$T/q" | tr '\n' ' '))" \
	sh -c "test $rc = 0 && grep -q '^# [0-9]* completed, 4 queued' '$T/q'"

# --- probe, cross-checked with libiscsi-bin in the same run
"$BLKCLONE" probe --json "$U/1" >"$T/p1" 2>"$T/e"
rc=$?; check "probe exits 0 ($(cat "$T/e"))" test $rc = 0
rc16=$(iscsi-readcapacity16 "$U/1")
check "block size agrees with iscsi-readcapacity16" \
	test "$(jq '.volumes[0].logical_block_size' "$T/p1")" = "$(echo "$rc16" | sed -n 's/^LOGICAL BLOCK LENGTH IN BYTES:\([0-9]*\).*/\1/p')"
blocks=$(( $(echo "$rc16" | sed -n 's/^RETURNED LOGICAL BLOCK ADDRESS:\([0-9]*\).*/\1/p') + 1 ))
check "size agrees with iscsi-readcapacity16 ($blocks blocks)" \
	test "$(jq '.volumes[0].size_bytes' "$T/p1")" = $((blocks * 512))
check "LBPME and LBPRZ reported by both" sh -c "echo '$rc16' | grep -q 'LBPME:1 LBPRZ:1' && jq -e '.volumes[0].capabilities.zero_init.state == \"supported\"' '$T/p1' >/dev/null"
inq=$(iscsi-inq "$U/1")
check "vendor agrees with iscsi-inq" \
	sh -c "echo '$inq' | grep -q \"Vendor:$(jq -r '.volumes[0].vendor' "$T/p1")\""
check "extent map is GET LBA STATUS" test "$(jq -r '.volumes[0].map_source' "$T/p1")" = get_lba_status
check "tgt has no EXTENDED COPY (3PC=0)" \
	test "$(jq -r '.volumes[0].capabilities.xcopy_lid1.state' "$T/p1")" = unsupported
# REPORT SUPPORTED OPERATION CODES: evidence, cross-checked with the reply
# captured from this tgt version (fixtures/scsi/tgt/rsoc-all.hex)
fix_n=$(( $(grep -v '^#' "$TOP_SRCDIR/fixtures/scsi/tgt/rsoc-all.hex" | head -n 1 | awk '{print "0x" $3 $4}') / 8 ))
check "RSOC answered with $fix_n commands, as captured" \
	test "$(jq -c '.volumes[0].reported_opcodes | [.state, .commands]' "$T/p1")" = "[\"supported\",$fix_n]"
check "RSOC lists UNMAP, WRITE SAME(16), GET LBA STATUS; not EXTENDED COPY or token copy" \
	test "$(jq -c '.volumes[0].reported_opcodes | [.unmap, .write_same_16, .get_lba_status, .extended_copy, .populate_token]' "$T/p1")" = '[true,true,true,false,false]'
check "UNMAP reason notes RSOC's agreement" \
	sh -c "jq -e '.volumes[0].capabilities.unmap.reason | test(\"RSOC lists 0x42 too\")' '$T/p1' >/dev/null"
check "UNMAP limits: none reported by tgt (FFFFFFFFh), granularity 0" \
	test "$(jq -c '.volumes[0].limits.unmap | [.max_lba_count, .max_descriptors, .granularity]' "$T/p1")" = '[4294967295,4294967295,0]'
bcrun 0 "$T/p1.txt" "$T/err" probe "$U/1"
check "probe text shows RSOC and the UNMAP limits" \
	sh -c "grep -q 'RSOC: *all-commands form lists $fix_n commands' '$T/p1.txt' && grep -q 'blocks unlimited, descriptors unlimited per UNMAP; granularity not reported' '$T/p1.txt'"
check "Cinder sparse_copy_volume true on a thin LBPRZ LUN" \
	test "$(jq '.volumes[0].sparse_copy_volume' "$T/p1")" = true
check "location names portal, IQN and LUN" \
	test "$(jq -r '.volumes[0].location' "$T/p1")" = "iscsi:127.0.0.1:$TGT_PORT/$IQN/1"
check "an NAA designator" test "$(jq '[.volumes[0].designators[] | select(.type == "naa")] | length' "$T/p1")" -ge 1
bcrun 0 "$T/p3" "$T/err" probe --json "$U/3"
check "thick LUN: no zero-init guarantee" \
	test "$(jq -r '.volumes[0].capabilities.zero_init.state' "$T/p3")" = unsupported
check "thick LUN: not sparse_copy_volume" test "$(jq '.volumes[0].sparse_copy_volume' "$T/p3")" = false
bcrun 0 "$T/p4" "$T/err" probe "$U/4"
check "4096-byte LUN probed" grep -q "blocks of 4096 bytes" "$T/p4"
bcrun 0 "$T/pp" "$T/err" probe --json "$U/1" "$U/2"
check "pair plan: host (no copy offload on tgt)" test "$(jq -r .plan.method "$T/pp")" = host

# --- map against the backing file
bcrun 0 "$T/m1" "$T/err" map --json "$U/1"
check "map: mapped bytes = backing allocation" \
	test "$(jq .totals.mapped_bytes "$T/m1")" = "$src_alloc"
check "map: extents tile the LUN" test "$(jq '[.extents[].length] | add' "$T/m1")" = $((256 << 20))
off=$(jq '[.extents[] | select(.state == "mapped")][0].offset' "$T/m1")
seek_data=$(python3 -c "import os,sys;f=os.open(sys.argv[1],os.O_RDONLY);print(os.lseek(f,0,os.SEEK_DATA))" "$T/src.img")
check "map: first data extent starts where SEEK_DATA says ($off, $seek_data)" \
	test -n "$seek_data" -a "$off" = "$seek_data"

# --- LUN to LUN onto old data: identical, nothing old left, thin again
"$BLKCLONE" copy --json "$U/1" "$U/2" >"$T/c12" 2>"$T/e"
rc=$?; check "LUN to LUN exits 0 ($(cat "$T/e"))" test $rc = 0
check "LUN to LUN identical (backing files)" cmp -s "$T/src.img" "$T/old.img"
check "destination as thin as the source" test "$(alloc_bytes "$T/old.img")" -le "$src_alloc"
check "read only allocated data" test "$(jq .read_bytes "$T/c12")" -le "$src_alloc"
check "holes zeroed in the array (WRITE SAME+UNMAP), not written" \
	test "$(jq .written_bytes "$T/c12")" -le "$src_alloc"
check "tgt reports no optimal transfer length: 1 MiB reads, 16 workers (the default depth)" \
	test "$(jq -c '[.host_io.chunk_bytes, .host_io.workers]' "$T/c12")" = "[1048576,16]"

# --- onto a thick LUN, and LUN <-> file
bcrun 0 /dev/null "$T/e" copy --verify "$U/1" "$U/3"
check "LUN to thick LUN identical ($(cat "$T/e"))" cmp -s "$T/src.img" "$T/thick.img"
# write-behind: 200 MiB of data written, SYNCHRONIZE CACHE on the way.
# The first goes after 128 MiB; how many follow depends on how fast
# that one was (iotune.h halves the write-behind after a flush that took
# almost no time: 64, then 32 MiB), so 1 to 3 -- their exact order on
# the wire is test-iscsi-flush.sh's
dd if=/dev/urandom of="$T/full.img" bs=1M count=200 status=none
"$BLKCLONE" copy --json "$T/full.img" "$U/3" >"$T/cf" 2>"$T/e"
rc=$?; check "200 MiB file onto the thick LUN ($(cat "$T/e"))" \
	sh -c "test $rc = 0 && cmp -s -n 200M '$T/full.img' '$T/thick.img'"
wbf=$(jq .host_io.flushes "$T/cf")
check "200 MiB written, 1 to 3 write-behind flushes on the way ($wbf), and the last" \
	test "$(jq -c '[.written_bytes, .host_io.flushes >= 1, .host_io.flushes <= 3, .flush.count == .host_io.flushes + 1]' "$T/cf")" = "[$((200 << 20)),true,true,true]"
rm -f "$T/full.img"
bcrun 0 /dev/null "$T/err" copy "$U/1" "$T/tofile.img"
check "LUN to new file identical" cmp -s "$T/src.img" "$T/tofile.img"
check "file from LUN thin" test "$(alloc_bytes "$T/tofile.img")" -le "$src_alloc"
bcrun 0 /dev/null "$T/e" copy --verify "$T/tofile.img" "$U/4"
check "file to 4096-byte LUN identical ($(cat "$T/e"))" cmp -s "$T/src.img" "$T/b4k.img"

# --- refusals, with the destination untouched
before=$(md5sum <"$T/small.img")
expect_exit 2 "LUN onto a smaller LUN" "$BLKCLONE" copy "$U/1" "$U/5"
expect_msg "smaller than the source" "size refusal names the reason"
expect_exit 2 "same LUN" "$BLKCLONE" copy "$U/1" "$U/1"
expect_msg "same volume" "same LUN named"
check "small LUN untouched" test "$(md5sum <"$T/small.img")" = "$before"
expect_exit 2 "password in the URL" "$BLKCLONE" probe "iscsi://u:secret@127.0.0.1:$TGT_PORT/$IQN/1"
expect_msg "BLKCLONE_ISCSI_PASSWORD" "password refusal says where secrets go"
check "the secret is not echoed" sh -c "! grep -q secret '$T/err'"
bcrun 2 "$T/j" "$T/j.err" copy --json "iscsi://u:secret@127.0.0.1:$TGT_PORT/$IQN/1" "$T/never.img"
cat "$T/j.err" >>"$T/j"
check "the secret is not in the JSON or messages" sh -c "! grep -q secret '$T/j'"
expect_exit 2 "bad LUN number" "$BLKCLONE" probe "$U/x"
expect_exit 1 "nothing listening" "$BLKCLONE" probe "iscsi://127.0.0.1:1/$IQN/1"
expect_msg "127.0.0.1:1.*iSCSI login" "connection failure names the portal"
expect_exit 3 "offload required on tgt" "$BLKCLONE" copy --offload=require "$U/1" "$U/2"

# --- map scales: 256 GiB thin LUN with 96 MiB of data
truncate -s 256G "$T/huge.img"
for i in $(seq 0 47); do
	dd if=/dev/urandom of="$T/huge.img" bs=1M count=2 seek=$((i * 5000 + 7)) conv=notrunc status=none
done
tgt_lun 1 6 "$T/huge.img"
t0=$(date +%s.%N)
bcrun 0 "$T/m6" "$T/err" map --json "$U/6"
t1=$(date +%s.%N)
note "map of a 256 GiB thin LUN: $(echo "$t1 - $t0" | bc) s, $(jq '.extents | length' "$T/m6") extents"
check "256 GiB map: 96 MiB mapped" test "$(jq .totals.mapped_bytes "$T/m6")" = $((96 << 20))

finish
