#!/bin/bash
# The test VM itself, before any test relies on it: LIO answers over iSCSI
# through the port forward with what the other VM tests assume (3PC,
# RECEIVE COPY RESULTS, block sizes, sizes, distinct NAA designators, the
# second portal group); inside the guest the tcm_loop disks, NVMe
# namespaces with the copy limits QEMU was given, device-mapper, the
# blkclone binaries, and the command channel's own contract (output byte
# for byte, exit status, multi-line scripts).
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/vm.sh"
vm_require
vm_lock
jqt() { jq -e "$@" >/dev/null; }
GiB=1073741824 MiB=1048576

# --- from the host, over iSCSI
if command -v iscsi-inq >/dev/null; then
	iscsi-inq "$(vm_url 0)" >"$T/inq" 2>&1
	check "iscsi-inq on LUN 0 shows 3PC=1" grep -q '^3PC:1' "$T/inq"
	check "LIO answers (vendor LIO-ORG)" grep -q '^Vendor:LIO-ORG' "$T/inq"
	rc16() {	# rc16 URL: "BLOCKS BLOCKSIZE" from iscsi-readcapacity16
		iscsi-readcapacity16 "$1" 2>/dev/null | awk -F: '
			/^RETURNED LOGICAL BLOCK ADDRESS/ { n = $2 + 1 }
			/^LOGICAL BLOCK LENGTH IN BYTES/ { bs = $2 }
			END { print n, bs }'
	}
	check "LUN 0 (A): 1 GiB of 512-byte blocks" test "$(rc16 "$(vm_url 0)")" = "$((GiB / 512)) 512"
	check "LUN 1 (B): 1 GiB of 512-byte blocks" test "$(rc16 "$(vm_url 1)")" = "$((GiB / 512)) 512"
	check "LUN 2 (C): 64 MiB of 4096-byte blocks" test "$(rc16 "$(vm_url 2)")" = "$((64 * MiB / 4096)) 4096"
	check "LUN 5 (FULL): 1 GiB of 512-byte blocks" test "$(rc16 "$(vm_url 5)")" = "$((GiB / 512)) 512"
	check "tpgt_2 LUN 0 (D) on the second port: 64 MiB" \
		test "$(rc16 "$(vm_url 0 "$BLKCLONE_VM_ISCSI_PORT2")")" = "$((64 * MiB / 512)) 512"
	iscsi-readcapacity16 "$(vm_url 0)" >"$T/rc16" 2>&1
	check "LBPME and LBPRZ set (emulate_tpu, unmap_zeroes_data)" grep -q 'LBPME:1 LBPRZ:1' "$T/rc16"
else
	note "libiscsi-bin not installed: iscsi-inq checks left out"
fi
"$BLKCLONE" probe --json "$(vm_url 0)" "$(vm_url 1)" >"$T/probe.json" 2>"$T/err"
rc=$?	# before the $(...) below, which would set $? itself
check "blkclone probe of LUNs 0 and 1 exits 0 ($(head -c 300 "$T/err"))" test $rc = 0
check "blkclone sees EXTENDED COPY supported" \
	jqt '.volumes[0].capabilities.xcopy_lid1.state == "supported"' "$T/probe.json"
check "the two LUs have different NAA designators (serials differ in hex digits)" \
	jqt '([.volumes[0].designators[] | select(.type == "naa") | .hex] | first) !=
	     ([.volumes[1].designators[] | select(.type == "naa") | .hex] | first)' "$T/probe.json"

# --- the command channel
vm_exec 'echo out; echo err >&2; exit 7' >"$T/x" 2>&1
check "vm_exec returns the guest's exit status (7)" test $? = 7
check "and its stdout and stderr" test "$(cat "$T/x")" = "$(printf 'out\nerr')"
vm_exec 'printf "no newline"' >"$T/x"
check "output without a final newline arrives as it was" test "$(od -An -c "$T/x" | tr -d ' \n')" = "nonewline"
vm_exec 'printf "two\n\n"' >"$T/x"
check "trailing empty lines too" test "$(wc -c <"$T/x")" = 5
vm_exec 'true' >"$T/x"
check "no output is no output" test ! -s "$T/x"
vm_exec 'for i in 1 2; do
	echo "line $i"
done; exit 3' >"$T/x"
check "a multi-line script runs whole (exit 3)" test $? = 3
check "and prints both lines" test "$(cat "$T/x")" = "$(printf 'line 1\nline 2')"
vm_exec 'head -c 4194304 /dev/urandom >/tmp/smoke.bin; cat /tmp/smoke.bin' >"$T/bin"
check "4 MiB of binary output arrive byte for byte" \
	test "$(md5sum <"$T/bin")" = "$(vm_exec 'md5sum </tmp/smoke.bin; rm /tmp/smoke.bin')"
vm_exec 'sleep 300 & echo started' >"$T/x"
check "a command leaving a process behind still ends" test "$(cat "$T/x")" = started
EXEC_TIMEOUT=2 vm_exec 'sleep 30; echo not reached' >"$T/x" 2>&1
check "EXEC_TIMEOUT kills a command over its limit (exit 137)" test $? = 137
check "and says so" grep -q "time limit of 2 s" "$T/x"

# --- inside the guest
vm_exec 'cat /run/vm-luns' >"$T/luns"
note "guest LUs: $(tr '\n' ' ' <"$T/luns")"
for n in A B C S T FULL D; do
	check "tcm_loop disk $n is a block device" vm_exec "test -b \"\$(awk '\$1 == \"$n\" { print \$2 }' /run/vm-luns)\""
done
check "/dev/block/MAJ:MIN links exist (sg_xcopy needs them)" vm_exec 'test -b "/dev/block/$(cat /sys/block/sda/dev)"'
vm_exec 'sg_inq "$(awk "\$1 == \"A\" { print \$2 }" /run/vm-luns)"' >"$T/sginq" 2>&1
check "sg_inq over tcm_loop: 3PC=1" grep -q '3PC=1' "$T/sginq"
check "no UNIT ATTENTION left for the first command (sg_turs)" \
	vm_exec 'sg_turs "$(awk "\$1 == \"B\" { print \$2 }" /run/vm-luns)"'
check "FULL's backing store is a 16 MiB tmpfs (writes fail part-way)" \
	vm_exec 'test "$(df -k /backing-full | awk "NR == 2 { print \$2 }")" = 16384'
vm_exec 'nvme id-ns /dev/nvme0n1' >"$T/idns" 2>&1
idns() { awk -v k="$1" '$1 == k { print $3 }' "$T/idns"; }
check "NVMe namespace 1: mssrl 128" test "$(idns mssrl)" = 128
check "NVMe namespace 1: mcl 1024" test "$(idns mcl)" = 1024
check "NVMe namespace 1: msrc 7 (8 ranges)" test "$(idns msrc)" = 7
check "NVMe namespace 1: DLFEAT reads deallocated blocks as zeros" \
	test $(($(idns dlfeat) & 7)) = 1
check "NVMe namespace 2 exists" vm_exec 'test -b /dev/nvme0n2'
vm_exec 'b=$(awk "\$1 == \"B\" { print \$2 }" /run/vm-luns)
	dmsetup remove bc_smoke 2>/dev/null
	echo "0 2048 linear $b 4096" | dmsetup create bc_smoke || exit 1
	dmsetup mknodes bc_smoke
	test -b /dev/mapper/bc_smoke || exit 2
	test "$(blockdev --getsz /dev/mapper/bc_smoke)" = 2048 || exit 3
	dmsetup remove bc_smoke' >"$T/dm" 2>&1
rc=$?
check "dmsetup: a linear table on B made and removed (exit $rc $(tr '\n' ' ' <"$T/dm"))" test $rc = 0
vm_exec '/usr/sbin/blkclone --version' >"$T/ver" 2>&1
rc=$?
check "the guest's /usr/sbin/blkclone runs ($(head -n1 "$T/ver"))" test $rc = 0
if vm_exec 'test -x /usr/sbin/blkclone-san'; then
	vm_exec '/usr/sbin/blkclone-san --version' >"$T/ver" 2>&1
	rc=$?; check "the guest's /usr/sbin/blkclone-san (sanitizers) runs" test $rc = 0
fi
finish
