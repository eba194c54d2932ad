#!/bin/bash
# The Proxmox VE plugin (contrib/pve) with the real blkclone: its Perl
# tests (prove) against a tgt target on 127.0.0.1 (one of its targets
# through the gate, tests/lib/gate.sh, so a cancel strikes mid-copy),
# files on ext4 and on a reflink-capable XFS; then the Cinder drop-in commands exactly as
# doc/cinder.md prints them, on files and loop devices.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/tgt-target.sh"
. "$(dirname "$0")/../lib/gate.sh"
need_root
command -v tgtd >/dev/null || { echo "SKIP: tgtd not installed (apt-get install tgt)"; exit 77; }
command -v prove >/dev/null || { echo "SKIP: prove not installed (perl)"; exit 77; }
CLEANUP_HOOKS="tgt_stop pve_umount"
pve_umount() { [ -n "${XFS_MNT:-}" ] && umount "$XFS_MNT" 2>/dev/null; return 0; }

# --- tgt: a LUN pool (1: VM 100's disk, 2: 8 MiB, 3: 16 MiB holding a
# pattern that refused copies must leave alone, 4: 32 MiB) and a CHAP target
make_sparse "$T/lun1.img" 16 12 256 11
make_sparse "$T/lun2.img" 8 4 128 12
head -c $((16 << 20)) /dev/zero | tr '\0' '\245' >"$T/lun3.img"
make_sparse "$T/lun4.img" 32 4 128 13
cp --sparse=always "$T/lun1.img" "$T/chap1.img"
TGT_LOG=$T/tgtd.log tgt_start || { fail "tgtd did not start"; finish; exit 1; }
IQN=iqn.2026-11.test:pve
IQN_CHAP=iqn.2026-11.test:pve-chap
tgt_target 1 "$IQN" || fail "target 1"
for l in 1 2 3 4; do tgt_lun 1 "$l" "$T/lun$l.img" || fail "LUN $l"; done
tgt_target 2 "$IQN_CHAP" && tgt_lun 2 1 "$T/chap1.img" && tgt_chap 2 pveuser pve-chap-secret-1 ||
	fail "CHAP target"
# a pair whose reads can be held: a cancel through free_image mid-copy
IQN_GATE=iqn.2026-11.test:pve-gate
make_sparse "$T/gsrc.img" 16 24 256 14
truncate -s 16M "$T/gdst.img"
gate_mount || { fail "gatefs: the cancel case needs it"; finish; exit 1; }
tgt_target 3 "$IQN_GATE" && tgt_lun 3 1 "$GATE_MNT/gsrc.img" && tgt_lun 3 2 "$GATE_MNT/gdst.img" ||
	fail "gated target"
# a read held at the gate must not time out and be retried meanwhile
export BLKCLONE_ISCSI_TIMEOUT=3600

# --- an XFS with reflink, where an offloaded copy (reflink) really happens
if command -v mkfs.xfs >/dev/null; then
	truncate -s 320M "$T/xfs.img"
	if mkfs.xfs -q -m reflink=1 "$T/xfs.img" && mkdir -p "$T/xfs" &&
	   timeout 30 mount -o loop "$T/xfs.img" "$T/xfs"; then
		XFS_MNT=$T/xfs
	else
		note "could not mount an XFS image: the reflink case is skipped"
	fi
else
	note "mkfs.xfs missing (tests/install-deps.sh installs xfsprogs): the reflink case is skipped"
fi

note "prove: contrib/pve/t against 127.0.0.1:$TGT_PORT"
# PVE_STORAGE_SRC (and PVE_COMMON_SRC, PVE_CLUSTER_SRC) pass through:
# the same tests against real PVE sources (doc/proxmox.md)
[ -n "${PVE_STORAGE_SRC:-}" ] && note "prove: with the real PVE modules of $PVE_STORAGE_SRC (contrib/pve/t/lib/PVEEnv.pm)"
(cd "$TOP_SRCDIR/contrib/pve" &&
 BLKCLONE=$BLKCLONE FAKE_BLKCLONE_BIN=$TOP_SRCDIR/contrib/pve/t/bin/fake-blkclone \
 BLKCLONE_PVE_PORTAL=127.0.0.1:$TGT_PORT BLKCLONE_PVE_TARGET=$IQN BLKCLONE_PVE_LUN_DIR=$T \
 BLKCLONE_PVE_CHAP_TARGET=$IQN_CHAP BLKCLONE_PVE_CHAP_USER=pveuser \
 BLKCLONE_PVE_CHAP_SECRET=pve-chap-secret-1 \
 BLKCLONE_PVE_GATE_TARGET=$IQN_GATE BLKCLONE_PVE_GATE_MNT=$GATE_MNT \
 BLKCLONE_PVE_PLAIN_DIR=$T BLKCLONE_PVE_REFLINK_DIR=${XFS_MNT:-} TMPDIR=$T \
 timeout 300 prove -v -I t/lib -I . t/) >"$T/prove.out" 2>&1
rc=$?
# the verdict per file, every failure and every skip; the rest is in prove -v
grep -E '^t/|not ok|# skip|SKIP|^Files=|^Result|^#   Failed|Dubious' "$T/prove.out" | sed 's/^/#   /'
note "prove: $(grep -Ec '^ *ok [0-9]' "$T/prove.out") assertions passed"
check "prove: all plugin tests pass" test "$rc" = 0
check "prove ran the eight test files" grep -q '^Files=8,' "$T/prove.out"
tgt_stop

# --- Cinder: the two commands of doc/cinder.md, taken from the document
doc=$TOP_SRCDIR/doc/cinder.md
cmd_zeroed=$(sed -n 's/^blkclone copy \(.*\) SRC DST *# sparse=True$/\1/p' "$doc")
cmd_plain=$(sed -n 's/^blkclone copy \(.*\) SRC DST *# sparse=False$/\1/p' "$doc")
check "doc/cinder.md has both drop-in commands" test -n "$cmd_zeroed" -a -n "$cmd_plain"
note "sparse=True:  blkclone copy $cmd_zeroed SRC DST"
note "sparse=False: blkclone copy $cmd_plain SRC DST"

make_sparse "$T/c-src.img" 64 16 512 21
src_alloc=$(alloc_bytes "$T/c-src.img")
# slack: the data extents may straddle filesystem blocks differently
thin() { [ "$(alloc_bytes "$1")" -le $((src_alloc + 1048576)) ]; }

# sparse=True: a destination that reads zeros (a new thin volume)
truncate -s 64M "$T/c-fresh.img"
# shellcheck disable=SC2086
expect_exit 0 "files, sparse=True command" "$BLKCLONE" copy $cmd_zeroed "$T/c-src.img" "$T/c-fresh.img"
check "files, sparse=True: bytes equal" cmp -s "$T/c-src.img" "$T/c-fresh.img"
check "files, sparse=True: destination as thin as the source" thin "$T/c-fresh.img"
check "files, sparse=True: holes skipped, not written" \
	test "$(json_get "$T/out" skipped_bytes)" -gt 0 -a "$(json_get "$T/out" zeroed_bytes)" = 0

# sparse=False: a destination full of old data, no proof of zeros
head -c $((64 << 20)) /dev/urandom >"$T/c-old.img"
# shellcheck disable=SC2086
expect_exit 0 "files, sparse=False command" "$BLKCLONE" copy $cmd_plain "$T/c-src.img" "$T/c-old.img"
check "files, sparse=False: bytes equal (old data gone)" cmp -s "$T/c-src.img" "$T/c-old.img"
check "files, sparse=False: holes zeroed by punching, destination thin" thin "$T/c-old.img"

# the same on loop devices (Cinder's LVM/iSCSI volumes are block devices)
ls_=$(make_loop "$T/c-src.img")
head -c $((64 << 20)) /dev/urandom >"$T/c-lold.img"
ld=$(make_loop "$T/c-lold.img")
# shellcheck disable=SC2086
expect_exit 0 "loop devices, sparse=False command" "$BLKCLONE" copy $cmd_plain "$ls_" "$ld"
check "loop devices, sparse=False: bytes equal" cmp -s "$T/c-src.img" "$ld"
check "loop devices, sparse=False: backing file thin" thin "$T/c-lold.img"
bcrun 0 "$T/probe.json" "$T/err" probe --json "$ld"
# a loop device over a file on a filesystem that punches holes: discarded
# blocks read zero, so Cinder may copy sparsely onto it
check "probe reports the loop destination as sparse_copy_volume: true" \
	test "$(jq '.volumes[0].sparse_copy_volume' "$T/probe.json")" = true

# --dest-zeroed is trusted: on a destination that does not read zeros it
# leaves old data in the holes, which is why the doc ties it to the
# capability
head -c $((64 << 20)) /dev/urandom >"$T/c-lie.img"
# shellcheck disable=SC2086
bcrun 0 /dev/null "$T/err" copy $cmd_zeroed "$T/c-src.img" "$T/c-lie.img"
check "a false --dest-zeroed leaves old data (documented)" \
	bash -c "! cmp -s '$T/c-src.img' '$T/c-lie.img'"

finish
