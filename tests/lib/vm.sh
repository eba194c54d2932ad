# Sourced by tests that need the test VM (tests/vm/vm.sh), after
# tests/lib/common.sh.  tests/run-all.sh boots the VM once for all of them
# and exports BLKCLONE_VM_DIR; without a running VM these tests FAIL with
# the reason (SKIP only where QEMU is not installed, outside CI) -- never
# a pass.
#
#   vm_require            SKIP (exit 77) unless the VM runs; reads vm.env
#   vm_lock               one VM test at a time (make check -j)
#   vm_exec CMD...        run CMD in the guest: its output, its exit status
#   vm_url LUN [PORT]     iscsi://127.0.0.1:PORT/IQN/LUN (PORT: tpgt_1's)
# After vm_require: VM_IQN, VM_U (tpgt_1 URL prefix), VM_U2 (tpgt_2's),
# and the BLKCLONE_VM_* variables of vm.env.
VM_SH=$TOP_SRCDIR/tests/vm/vm.sh

# A VM test that cannot run: SKIP only where QEMU cannot run at all (not
# installed) and this is not CI; with CI=true, or QEMU installed, a missing
# VM result is a failure, unless the user sets BLKCLONE_ALLOW_SKIP=1.
vm_missing() {	# REASON
	if [ "${BLKCLONE_ALLOW_SKIP:-0}" != 1 ] &&
	   { [ "${CI:-}" = true ] || command -v qemu-system-x86_64 >/dev/null; }; then
		echo "FAIL: $1 (QEMU is installed or CI=true: a VM test may not skip; BLKCLONE_ALLOW_SKIP=1 allows it)"
		exit 1
	fi
	echo "SKIP: $1"
	exit 77
}

vm_require() {
	local dir=${BLKCLONE_VM_DIR:-}
	if [ -z "$dir" ]; then
		vm_missing "test VM not started (BLKCLONE_VM_DIR is unset); tests/run-all.sh starts it, or by hand: tests/vm/vm.sh start build/blkclone, then export BLKCLONE_VM_DIR=\$PWD/vm"
	fi
	if ! BLKCLONE_VM_DIR=$dir "$VM_SH" status >/dev/null 2>&1 || [ ! -f "$dir/vm.env" ]; then
		vm_missing "test VM not running (BLKCLONE_VM_DIR=$dir has no running qemu${BLKCLONE_VM_WHY:+: $BLKCLONE_VM_WHY}); tests/run-all.sh starts it"
	fi
	# shellcheck disable=SC1091
	. "$dir/vm.env"
	export BLKCLONE_VM_DIR=$dir
	VM_IQN=$BLKCLONE_VM_IQN
	VM_U="iscsi://127.0.0.1:$BLKCLONE_VM_ISCSI_PORT/$VM_IQN"
	VM_U2="iscsi://127.0.0.1:$BLKCLONE_VM_ISCSI_PORT2/$VM_IQN"
}

# One VM, shared LUs: tests that use it run one at a time (make check -j).
# The lock is fd 9's; it goes when the test's shell exits.
vm_lock() {
	exec 9>"$BLKCLONE_VM_DIR/lock"
	flock 9
}

vm_exec() { "$VM_SH" exec "$@"; }

vm_url() { echo "iscsi://127.0.0.1:${2:-$BLKCLONE_VM_ISCSI_PORT}/$BLKCLONE_VM_IQN/$1"; }
