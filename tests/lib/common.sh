# Sourced by integration tests: assertions and scratch space.
# Tests run under automake's harness: exit 0 pass, 77 skip, other = fail.
# pipefail: "dd ... | sha256sum" of an unreadable device must not hash
# the empty input and call two unreadable devices equal.
set -u -o pipefail

BLKCLONE=${BLKCLONE:-$(cd "$(dirname "$0")/../.." && pwd)/build/blkclone}
TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
T=$(mktemp -d "${TMPDIR:-/tmp}/blkclone-test.XXXXXX")
# Locks in the test's own directory: the host's /run/lock/blkclone may be
# another blkclone's, or left unsafe (01777) by an older one, which
# blkclone refuses (src/util/safedir.h); tests must not depend on either.
export BLKCLONE_LOCK_DIR=${BLKCLONE_LOCK_DIR:-$T/locks}
FAILS=0
PASSES=0
CLEANUP_HOOKS=""

cleanup() {
	for h in $CLEANUP_HOOKS; do "$h" || true; done
	# make_loop runs in $(...), a subshell: the devices are listed in a file
	if [ -f "$T/.loops" ]; then
		while read -r l; do losetup -d "$l" 2>/dev/null || true; done <"$T/.loops"
	fi
	rm -rf "$T"
}
trap cleanup EXIT

# Under tests/tools/valgrind-wrap.sh every blkclone leaves a memcheck log
# named after the test; an earlier run's go first.
if [ -n "${BLKCLONE_VG_LOGDIR:-}" ]; then
	BLKCLONE_VG_TEST=$(basename "$0" .sh); export BLKCLONE_VG_TEST
	rm -f "$BLKCLONE_VG_LOGDIR/$BLKCLONE_VG_TEST".*.log
	# writable for runs as another user (test-refusals.sh's as-nobody)
	mkdir -p "$BLKCLONE_VG_LOGDIR" && chmod 1777 "$BLKCLONE_VG_LOGDIR"
fi

note() { printf '# %s\n' "$*"; }
pass() { PASSES=$((PASSES + 1)); printf 'ok - %s\n' "$*"; }
fail() { FAILS=$((FAILS + 1)); printf 'not ok - %s\n' "$*"; }

# check "what" command...: pass if the command succeeds
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }

need_root() {
	if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root (losetup)"; exit 77; fi
}

# Bytes of data extents a file holds, from the filesystem's own extent
# list (filefrag, e2fsprogs), so metadata blocks do not count.
alloc_bytes() {
	sync "$1"
	filefrag -v "$1" | awk '
		/blocks of [0-9]+ bytes/ { for (i = 1; i <= NF; i++) if ($i == "blocks") bs = $(i + 2) }
		/^ *[0-9]+: / { l = $0; gsub(/ /, "", l); split(l, f, ":"); n += f[4] }
		END { printf "%d\n", n * bs }'
}

# A sparse file of SIZE MiB with COUNT random extents of 4 KiB..MAX KiB.
make_sparse() {
	local f=$1 size_mb=$2 count=$3 max_kb=${4:-1024} seed=${5:-1}
	rm -f "$f"
	truncate -s "${size_mb}M" "$f"
	awk -v n="$count" -v size=$((size_mb * 256)) -v maxk="$max_kb" -v seed="$seed" \
	    'BEGIN { srand(seed); for (i = 0; i < n; i++) {
	        len = 1 + int(rand() * (maxk / 4)); off = int(rand() * (size - len));
	        print off, len } }' |
	while read -r off len; do
		dd if=/dev/urandom of="$f" bs=4096 seek="$off" count="$len" \
		   conv=notrunc status=none
	done
}

# A loop device over FILE (extra losetup args allowed); prints its path.
make_loop() {
	local dev
	dev=$(losetup -f --show "$@") || return 1
	echo "$dev" >>"$T/.loops"
	echo "$dev"
}

# json_get FILE KEY: a top-level scalar from blkclone's pretty JSON.
json_get() {
	sed -n "s/^  \"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}\$/\1/p" "$1" | head -n 1
}

# expect_exit CODE "what" command...: run, capture stderr in $T/err
expect_exit() {
	local want=$1 what=$2 rc
	shift 2
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" = "$want" ]; then pass "$what (exit $rc)"
	else fail "$what: exit $rc, wanted $want; stderr: $(cat "$T/err")"; fi
}

# bcrun WANT OUT ERR ARGS...: run blkclone ARGS with stdout into OUT and
# stderr into ERR, and check that it exits WANT (a sanitizer report or a
# memcheck error changes the exit code, so it is never invisible)
bcrun() {
	local want=$1 out=$2 err=$3 rc
	shift 3
	"$BLKCLONE" "$@" >"$out" 2>"$err"
	rc=$?
	if [ "$rc" = "$want" ]; then pass "blkclone $1 ${2:-} ... exits $rc"
	else fail "blkclone $*: exit $rc, wanted $want; stderr: $(head -c 600 "$err")"; fi
}

# expect_msg REGEX "what": the last command's stderr matches
expect_msg() {
	if grep -Eq "$1" "$T/err"; then pass "$2"
	else fail "$2: stderr '$(cat "$T/err")' does not match /$1/"; fi
}

# wait_for FILE REGEX [SECONDS]: until FILE has a line matching REGEX
# (60 s at most).  A test that interrupts a running blkclone waits for
# it to be at work rather than a fixed time: under valgrind
# (tests/tools/valgrind-wrap.sh) it starts seconds later.
wait_for() {
	local i
	for i in $(seq $((${3:-60} * 20))); do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# Under valgrind: each log with errors fails the test and is printed;
# no log at all means blkclone did not run under the wrapper.
vg_check() {
	local f n=0
	[ -n "${BLKCLONE_VG_LOGDIR:-}" ] || return 0
	for f in "$BLKCLONE_VG_LOGDIR/$BLKCLONE_VG_TEST".*.log; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		if grep -q 'ERROR SUMMARY: [1-9]' "$f"; then
			fail "memcheck errors in: $(sed -n 's/^==[0-9]*== Command: //p' "$f") ($f)"
			sed 's/^/# /' "$f"
		fi
	done
	check "memcheck watched $n blkclone runs" test "$n" -gt 0
}

finish() {
	vg_check
	echo "# $PASSES passed, $FAILS failed"
	[ "$FAILS" = 0 ]
}
