#!/bin/bash
# The Proxmox VE shared-LVM plugin (contrib/pve, BlkcloneLVMPlugin): its
# Perl tests in contrib/pve/t/lvm/ (vm.t: tests/vm/test-vm-pve-lvm.sh):
# the copy-offload contract and the lock discipline against PVE's LVM plugin and a stand-in blkclone,
# loading beside other plugins, and the real blkclone's jobs and zeroing
# on loop devices at the paths the plugin names.  PVE_STORAGE_SRC (and
# PVE_COMMON_SRC, PVE_CLUSTER_SRC) pass through: the same tests against
# the real PVE modules (doc/proxmox-lvm.md).
. "$(dirname "$0")/../lib/common.sh"
need_root
command -v prove >/dev/null || { echo "SKIP: prove not installed (perl)"; exit 77; }
[ -n "${PVE_STORAGE_SRC:-}" ] && note "prove: with the real PVE modules of $PVE_STORAGE_SRC"
(cd "$TOP_SRCDIR/contrib/pve" &&
 BLKCLONE=$BLKCLONE FAKE_BLKCLONE_JOBS_BIN=$TOP_SRCDIR/contrib/pve/t/bin/fake-blkclone-jobs TMPDIR=$T \
 timeout 300 prove -v -I t/lib -I . t/lvm/contract.t t/lvm/guestcmd.t t/lvm/load.t \
	t/lvm/lock.t t/lvm/real-blkclone.t) >"$T/prove.out" 2>&1
rc=$?
grep -E '^t/|not ok|# skip|SKIP|^Files=|^Result|^#   Failed|Dubious' "$T/prove.out" | sed 's/^/#   /'
note "prove: $(grep -Ec '^ *ok [0-9]' "$T/prove.out") assertions passed"
check "prove: all LVM plugin tests pass" test "$rc" = 0
check "prove ran the five test files" grep -q '^Files=5,' "$T/prove.out"
check "the real-blkclone file ran (not skipped)" bash -c "! grep -q '^t/lvm/real-blkclone.t .. skipped' '$T/prove.out'"
finish
