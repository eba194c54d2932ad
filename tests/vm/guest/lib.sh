# Sourced by the guest test scripts (busybox sh): assertions and helpers.
BC=${BC:-/usr/sbin/blkclone}
PASSES=0 FAILS=0
pass() { PASSES=$((PASSES + 1)); echo "ok - $*"; }
fail() { FAILS=$((FAILS + 1)); echo "not ok - $*"; }
check() { what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
lu() { awk -v n="$1" '$1 == n { print $2 }' /run/vm-luns; }
set -o pipefail
# the bytes a device holds, read around the page cache; a read that fails
# gives a value no other call gives, so two unreadable devices never
# compare equal
sum() { sum_range "$1" 0 ""; }
sum_n() { sum_range "$1" 0 "$2"; }
# sum_range DEV SKIP_MIB [COUNT_MIB]: sha256 of that range of DEV
sum_range() {
	_s=$(dd if="$1" bs=1M skip="$2" ${3:+count=$3} iflag=direct 2>/dev/null | sha256sum) &&
		echo "${_s%% *}" || echo "unreadable:$1:$2:${3:-}:$$:$(cat /proc/sys/kernel/random/uuid)"
}
# a file's bytes (tmpfs has no O_DIRECT)
sum_file() { _s=$(sha256sum <"$1") && echo "${_s%% *}" || echo "unreadable:$1:$$"; }
# sparse_file PATH MIB: a file of MIB MiB with data at MiB 3-4 and 20 only
sparse_file() {
	rm -f "$1" && truncate -s "$2"M "$1" &&
	dd if=/dev/urandom of="$1" bs=1M seek=3 count=2 conv=notrunc 2>/dev/null &&
	dd if=/dev/urandom of="$1" bs=1M seek=20 count=1 conv=notrunc 2>/dev/null
}
# outside DEV START_MIB LEN_MIB: the bytes of DEV around a window (a
# destination LV or partition): everything before it, 64 MiB after it, and
# the device's last 8 MiB -- to check that a clone into the window left its
# neighbours alone.  Not the whole rest of a 1 GiB LU: under TCG that read
# costs minutes per check.
outside() {
	_mib=$(( $(blockdev --getsize64 "$1") >> 20 ))
	echo "$(sum_n "$1" "$2")+$(sum_range "$1" $(($2 + $3)) 64)+$(sum_range "$1" $((_mib - 8)) 8)"
}
# outside2 DEV SRC_MIB SRC_LEN START_MIB LEN_MIB: the same around a
# destination window that has a source window before it on one device,
# both left out (the source may be written by the test meanwhile)
outside2() {
	_mib=$(( $(blockdev --getsize64 "$1") >> 20 ))
	echo "$(sum_n "$1" "$2")+$(sum_range "$1" $(($2 + $3)) $(($4 - $2 - $3)))+$(sum_range "$1" $(($4 + $5)) 64)+$(sum_range "$1" $((_mib - 8)) 8)"
}
has() { grep -q "$1" "$2"; }
expect_exit() {	# expect_exit CODE WHAT CMD...: stdout in /tmp/out, stderr in /tmp/err
	want=$1 what=$2; shift 2
	"$@" >/tmp/out 2>/tmp/err; rc=$?
	if [ "$rc" = "$want" ]; then pass "$what (exit $rc)"
	else fail "$what: exit $rc, wanted $want: $(cat /tmp/err)"; fi
}
finish() {
	echo "# $PASSES passed, $FAILS failed"
	[ "$FAILS" = 0 ]
}
export BLKCLONE_STATE_DIR=/tmp/state-$$
