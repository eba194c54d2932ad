# Sourced by tests that need the test VM (tests/vm/vm.sh).  tests/run-all.sh
# boots it once for all of them and exports BLKCLONE_VM_DIR; without a
# running VM these tests report SKIP with the reason -- never a pass.
VM_SH=$TOP_SRCDIR/tests/vm/vm.sh

vm_require() {
	local dir=${BLKCLONE_VM_DIR:-}
	if [ -z "$dir" ]; then
		echo "SKIP: no test VM (BLKCLONE_VM_DIR is unset; tests/run-all.sh boots one, or: tests/vm/vm.sh start build/blkclone)"
		exit 77
	fi
	if ! BLKCLONE_VM_DIR=$dir "$VM_SH" status || [ ! -f "$dir/vm.env" ]; then
		echo "SKIP: the test VM in $dir is not running${BLKCLONE_VM_WHY:+ ($BLKCLONE_VM_WHY)}"
		exit 77
	fi
	# shellcheck disable=SC1091
	. "$dir/vm.env"
	export BLKCLONE_VM_DIR=$dir
	VM_IQN=$BLKCLONE_VM_IQN
	VM_U="iscsi://127.0.0.1:$BLKCLONE_VM_ISCSI_PORT/$VM_IQN"
	VM_U2="iscsi://127.0.0.1:$BLKCLONE_VM_ISCSI_PORT2/$VM_IQN"
}

# One VM, shared LUs: tests that use it run one at a time (make check -j).
vm_lock() {
	exec 9>"$BLKCLONE_VM_DIR/lock"
	flock 9
}

vm_exec() { "$VM_SH" exec "$@"; }
