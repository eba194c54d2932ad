#!/bin/bash
# EXTENDED COPY against LIO (the real copy manager), from this host over
# iSCSI to the test VM: an in-array clone moves no data through the host
# and is byte-equal; a LU LIO cannot reach from the session (another portal
# group of the same target) is refused up front -- exit 3 with the
# destination untouched under require, a host copy under auto, and the
# refusal remembered; a block size mismatch is refused by the planner; a
# copy manager failing part-way (destination out of space) exits 1 naming
# where it stopped.  The same clone as a job is bulk and completes.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/vm.sh"
vm_require
vm_lock
export BLKCLONE_STATE_DIR=$T/state
S=$VM_U/3 DST=$VM_U/4 C=$VM_U/2 FULL=$VM_U/5 A=$VM_U/0 D=$VM_U2/0
MiB=1048576
jqt() { jq -e "$@" >/dev/null; }

# The scenario list the simulator's LIO personality is checked against
# (tests/sim/test-scenarios-sim.sh): real LIO must answer it the same way.
"$TOP_BUILDDIR/tests/sim/scsi-scenario" lio "$DST" "$TOP_SRCDIR/tests/scenarios/common.scn" >"$T/scn" 2>&1
rc=$?; check "LIO answers the shared SCSI scenarios as the simulator does ($(grep -c '^ok' "$T/scn") ok; $(grep '^not ok' "$T/scn" | head -n 3 | tr '\n' ' '))" test $rc = 0

# Source data, kept small: the emulated network does ~20 MiB/s.
make_sparse "$T/src.img" 64 12 1024 5
"$BLKCLONE" copy --offload=never "$T/src.img" "$S" >/dev/null 2>"$T/err" ||
	{ fail "load the source LU: $(cat "$T/err")"; finish; exit 1; }
dd if=/dev/urandom of="$T/old.img" bs=1M count=64 status=none
for u in "$DST" "$D"; do
	"$BLKCLONE" copy --offload=never "$T/old.img" "$u" >/dev/null 2>"$T/err" ||
		fail "load old data onto $u: $(cat "$T/err")"
done
# The oracle is LIO's backing file, read in the guest: never blkclone
# reading its own output.  S is backstore s, DST t, D d (tests/vm/init).
lu_sum() {	# lu_sum NAME: sha256 of the first 64 MiB of backstore NAME
	vm_exec "set -o pipefail; head -c $((64 * MiB)) /backing/$1.img | sha256sum | cut -d' ' -f1"
}
src_sum=$(head -c $((64 * MiB)) "$T/src.img" | sha256sum | cut -d' ' -f1)
check "the source LU holds the source image (backing file)" test "$(lu_sum s)" = "$src_sum"

# --- probe: the evidence, and the plan's honesty about allocation
"$BLKCLONE" probe --json "$S" "$DST" >"$T/probe.json" 2>"$T/err"
rc=$?; check "probe of two LIO LUs exits 0" test $rc = 0
check "xcopy supported on LIO (3PC + RECEIVE COPY RESULTS 02/E4)" \
	jqt '.volumes[0].capabilities.xcopy_lid1.state == "supported"' "$T/probe.json"
check "copy domain is the target name" \
	jqt --arg d "iscsi:$VM_IQN" '.volumes[0].copy_domain == $d and .volumes[1].copy_domain == $d' "$T/probe.json"
check "the plan chooses EXTENDED COPY" jqt '.plan.method == "xcopy-lid1"' "$T/probe.json"
check "the plan says LIO's copy allocates the whole destination" \
	jqt '.plan.note | test("fully allocated")' "$T/probe.json"
check "limits from RECEIVE COPY OPERATING PARAMETERS" \
	jqt '.volumes[0].limits.xcopy_lid1.max_segment_descriptors == 1' "$T/probe.json"

# --- in-array clone, nothing through the host
expect_exit 0 "LUN to LUN with --offload=require" \
	"$BLKCLONE" copy --offload=require --json "$S" "$DST"
cp "$T/out" "$T/copy.json"
check "method is xcopy-lid1" jqt '.method == "xcopy-lid1"' "$T/copy.json"
check "offloaded_bytes is the whole LU ($((64 * MiB)))" jqt ".offloaded_bytes == $((64 * MiB))" "$T/copy.json"
check "no data read or written by the host" jqt '.read_bytes == 0 and .written_bytes == 0' "$T/copy.json"
check "destination equals the source byte for byte (LIO's backing file)" test "$(lu_sum t)" = "$src_sum"

# --- the same clone as a job: bulk (LIO reads the source until it ends),
# started, waited for, reported like the copy, byte-equal
"$BLKCLONE" copy --offload=never "$T/old.img" "$DST" >/dev/null 2>"$T/err" ||
	fail "reload old data onto $DST: $(cat "$T/err")"
check "the job's destination holds old data again" test "$(lu_sum t)" != "$src_sum"
check "probe says EXTENDED COPY gives a bulk point in time" \
	jqt '.plan.consistency == "bulk" and (.plan.consistency_reason | length > 0)' "$T/probe.json"
expect_exit 0 "job start, LUN to LUN with --offload=require" \
	"$BLKCLONE" job start --offload=require --json "$S" "$DST"
cp "$T/out" "$T/job.json"
check "the job's pair is xcopy-lid1 and bulk" \
	jqt '.pairs[0].method == "xcopy-lid1" and .pairs[0].consistency == "bulk" and .consistency == "bulk"' "$T/job.json"
jid=$(jq -r .id "$T/job.json")
expect_exit 0 "job wait exits as the copy would" "$BLKCLONE" job wait "$jid"
"$BLKCLONE" job status --json "$jid" >"$T/jst.json" 2>"$T/err"
rc=$?; check "job status exits 0 ($(cat "$T/err"))" test $rc = 0
check "the job is complete at 100%, offloaded, nothing through the host" \
	jqt ".state == \"complete\" and .progress == 100 and .pairs[0].report.offloaded_bytes == $((64 * MiB)) and .pairs[0].report.read_bytes == 0" "$T/jst.json"
check "the job's destination equals the source (LIO's backing file)" test "$(lu_sum t)" = "$src_sum"
expect_exit 0 "job forget" "$BLKCLONE" job forget "$jid"

# --- a LU of the same target in another portal group: LIO refuses
d_before=$(lu_sum d)
check "the other portal group's LU holds old data" test "$d_before" != "$src_sum"
expect_exit 3 "refused pair under --offload=require" \
	"$BLKCLONE" copy --offload=require "$S" "$D"
expect_msg "COPY ABORTED|Copy Aborted" "the error names COPY ABORTED"
expect_msg "0d/02" "with its ASC/ASCQ"
expect_msg "destination is untouched" "and says the destination is untouched"
check "the destination really is untouched (LIO's backing file)" test "$(lu_sum d)" = "$d_before"
check "the refusal is remembered" grep -q "xcopy-lid1" "$T/state/refusals"
"$BLKCLONE" probe --json "$S" "$D" >"$T/probe2.json" 2>"$T/err"
rc=$?; check "probe of the refused pair exits 0 ($(cat "$T/err"))" test $rc = 0
check "probe shows the remembered refusal" \
	jqt '.plan.method == "host" and (.plan.steps[0].reason | test("refused by the target"))' "$T/probe2.json"
rm -rf "$T/state"
expect_exit 0 "refused pair under auto: host copy" "$BLKCLONE" copy --json "$S" "$D"
cp "$T/out" "$T/auto.json"
check "the fallback is reported with its reason" \
	jqt '.fallback.method == "xcopy-lid1" and (.fallback.reason | test("0d/02"))' "$T/auto.json"
check "nothing was offloaded" jqt '.offloaded_bytes == 0 and .method == "host"' "$T/auto.json"
check "the host copy is byte-equal (LIO's backing file)" test "$(lu_sum d)" = "$src_sum"

# --- different block sizes: EXTENDED COPY is not even tried
expect_exit 3 "512 -> 4096-byte LU under require" \
	"$BLKCLONE" copy --offload=require "$S" "$C"
expect_msg "equal block sizes" "the reason is the block size"

# --- the copy manager fails part-way (the destination's backing store
# is 16 MiB of a 1 GiB LU): exit 1, where it stopped, how to continue
expect_exit 1 "copy manager failing part-way under require" \
	"$BLKCLONE" copy --offload=require "$A" "$FULL"
expect_msg "EXTENDED COPY\\(LID1\\) at LBA [0-9]+" "the error names the command and the LBA"
expect_msg "resume-from=[0-9]+" "and how to continue"
finish
