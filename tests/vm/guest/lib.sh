# Sourced by the guest test scripts (busybox sh): assertions and helpers.
BC=${BC:-/usr/sbin/blkclone}
PASSES=0 FAILS=0
pass() { PASSES=$((PASSES + 1)); echo "ok - $*"; }
fail() { FAILS=$((FAILS + 1)); echo "not ok - $*"; }
check() { what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
lu() { awk -v n="$1" '$1 == n { print $2 }' /run/vm-luns; }
# the bytes a device holds, read around the page cache
sum() { dd if="$1" bs=1M iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1; }
sum_n() { dd if="$1" bs=1M count="$2" iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1; }
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
