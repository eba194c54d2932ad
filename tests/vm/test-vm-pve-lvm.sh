#!/bin/bash
# The Proxmox VE shared-LVM plugin on LIO in the test VM
# (contrib/pve/t/lvm/vm.t): PVE's code and the plugin on this host, lvm2
# and blkclone in the guest through the VM's command channel; a VG on a
# LU, PVE's own lvcreate for the disks, full clones of two disks in one
# job by EXTENDED COPY with nothing through the initiator, bytes equal,
# and saferemove zeroing the freed LV by the LU's WRITE SAME.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/vm.sh"
vm_require
vm_lock
command -v prove >/dev/null || { echo "SKIP: prove not installed (perl)"; exit 77; }
(cd "$TOP_SRCDIR/contrib/pve" &&
 BLKCLONE_VM_DIR=$BLKCLONE_VM_DIR TOP_SRCDIR=$TOP_SRCDIR TMPDIR=$T \
 timeout 600 prove -v -I t/lib -I . t/lvm/vm.t) >"$T/prove.out" 2>&1
rc=$?
grep -E '^t/|^ *(not )?ok|^# [a-z]+: [0-9]+ s|^# the VG goes|skipped|^Files=|^Result|^#   Failed|Dubious' "$T/prove.out" | sed 's/^/#   /'
if grep -q '^t/lvm/vm.t .. skipped' "$T/prove.out"; then
	echo "SKIP: $(sed -n 's/^t\/lvm\/vm.t .. skipped: //p' "$T/prove.out")"
	exit 77
fi
check "prove: the LVM plugin on LIO in the VM" test "$rc" = 0
finish
