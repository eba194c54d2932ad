#!/bin/bash
# Every test, from a fresh Debian 12 machine: install what is missing,
# build twice (plain, and with ASan+UBSan), run `make check` in both, the
# integration tests once more under valgrind memcheck (a third build,
# plain -O1 -g), and `make distcheck` once.  Needs root (apt-get, loop devices, tgt).
# Prints one closing line: "tests: N passed, N failed[, N skipped]".
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)

sh tests/install-deps.sh --vm
autoreconf -fi

total_pass=0 total_fail=0 total_skip=0
tally() {	# add up automake's summary in $1/test-suite.log
	local log=$1/test-suite.log p f s
	[ -f "$log" ] || return 0
	p=$(sed -n 's/^# PASS: *//p' "$log" | head -n1)
	f=$(( $(sed -n 's/^# FAIL: *//p' "$log" | head -n1) + $(sed -n 's/^# ERROR: *//p' "$log" | head -n1) + $(sed -n 's/^# XPASS: *//p' "$log" | head -n1) ))
	s=$(sed -n 's/^# SKIP: *//p' "$log" | head -n1)
	total_pass=$((total_pass + ${p:-0})); total_fail=$((total_fail + f)); total_skip=$((total_skip + ${s:-0}))
}

status=0
compile() {	# compile DIR CONFIGURE-ARGS...
	local dir=$1; shift
	echo "=== build $dir: configure $* ==="
	mkdir -p "$dir"
	(cd "$dir" && ../configure -q --enable-werror "$@" && make -s -j"$jobs") || status=1
}
check_build() {	# check_build DIR [MAKE-ARGS...]
	local dir=$1; shift
	echo "=== make check in $dir $* ==="
	(cd "$dir" && make -s -j"$jobs" check "$@") || status=1
	tally "$dir"
	if [ -f "$dir/test-suite.log" ] && grep -q '^# FAIL: *[1-9]\|^# ERROR: *[1-9]' "$dir/test-suite.log"; then
		cat "$dir/test-suite.log"
	fi
}

compile build
compile build-san --enable-sanitizers
compile build-vg CFLAGS="-O1 -g"

# One test VM (LIO, QEMU NVMe) for every VM test of both builds, with both
# binaries inside.  If it cannot boot, those tests FAIL with the reason
# (tests/lib/vm.sh): a VM result that is missing is never a pass or a skip.
export BLKCLONE_VM_DIR=$top/build/vm
trap 'tests/vm/vm.sh stop >/dev/null 2>&1 || true' EXIT
vm_t0=$(date +%s)
vm_up=0
if [ $status != 0 ]; then
	export BLKCLONE_VM_WHY="not started: a build failed"
elif tests/vm/vm.sh start build/blkclone build-san/blkclone; then
	vm_up=1
else
	echo "test VM: could not start (reason above); its tests will FAIL"
	export BLKCLONE_VM_WHY="it failed to start, see the log above"
fi

check_build build
# Sanitizers: any report aborts the test that triggered it.
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# fast_unwind_on_malloc=0: libiscsi has no frame pointers (tests/lsan.supp)
export LSAN_OPTIONS=suppressions=$top/tests/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0
check_build build-san
unset ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS
tests/vm/vm.sh stop
[ $vm_up = 1 ] && echo "test VM: up for $(( $(date +%s) - vm_t0 )) s (boot and both builds' tests)"
unset BLKCLONE_VM_DIR

# valgrind memcheck: every blkclone the integration tests run goes through
# tests/tools/valgrind-wrap.sh; an error (a definite leak counts) fails
# the test that ran it, and the logs are counted again here.  After the
# VM is stopped: memcheck wants both cores.
vg_t0=$(date +%s)
export BLKCLONE_WRAPPER=$top/tests/tools/valgrind-wrap.sh BLKCLONE_VG_LOGDIR=$top/build-vg/valgrind-logs
rm -rf "$BLKCLONE_VG_LOGDIR"
check_build build-vg TESTS="$(grep -o 'tests/integration/test-[a-z0-9-]*\.sh' tests/integration/integration.am | sort -u | tr '\n' ' ')"
vg_runs=$(find "$BLKCLONE_VG_LOGDIR" -name '*.log' 2>/dev/null | wc -l)
vg_bad=$({ grep -l 'ERROR SUMMARY: [1-9]' "$BLKCLONE_VG_LOGDIR"/*.log 2>/dev/null || true; } | wc -l)
echo "valgrind memcheck: $vg_runs blkclone runs, $vg_bad with errors, $(( $(date +%s) - vg_t0 )) s (logs in $BLKCLONE_VG_LOGDIR)"
[ "$vg_bad" = 0 ] || { total_fail=$((total_fail + 1)); status=1; }
unset BLKCLONE_WRAPPER BLKCLONE_VG_LOGDIR

# Fuzzing, bounded: every parser of device data and user input.
echo "=== fuzz (${FUZZ_SECONDS:=20}s per target) ==="
if FUZZ_SECONDS=$FUZZ_SECONDS bash tests/fuzz/run.sh "$top/build-fuzz"; then
	total_pass=$((total_pass + 1))
else
	total_fail=$((total_fail + 1)); status=1
fi

if [ "${BLKCLONE_SKIP_DISTCHECK:-0}" != 1 ]; then
	# The tarball must build and pass the tests that need neither root
	# nor the VM (unit and simulator tests); the integration and VM tests
	# already ran above, three times.
	echo "=== make distcheck ==="
	dist_tests=$(make -s -C build print-tests | tr ' ' '\n' | grep -E '^tests/(unit|sim)/' | grep -v '\.sh$' | tr '\n' ' ')
	(cd build && make -s distcheck TESTS="$dist_tests" >distcheck.log 2>&1) || { tail -n 60 build/distcheck.log; status=1; }
	[ $status = 0 ] && echo "distcheck: ok"
fi

if [ "${BLKCLONE_SKIP_DEB:-0}" != 1 ] && [ $status = 0 ]; then
	# The release tarball distcheck made must build a .deb that installs.
	echo "=== Debian package ==="
	deb=$(mktemp -d /tmp/blkclone-deb.XXXXXX)
	tar -C "$deb" -xzf build/blkclone-*.tar.gz
	# and the Proxmox VE plugins land where PVE loads custom plugins
	pvecustom=/usr/share/perl5/PVE/Storage/Custom
	if (cd "$deb"/blkclone-* && dpkg-buildpackage -us -uc -b >"$deb/build.log" 2>&1) &&
	   dpkg -i "$deb"/blkclone_*.deb >/dev/null && /usr/sbin/blkclone --version &&
	   test -f /usr/share/man/man8/blkclone.8.gz &&
	   test -f /usr/share/bash-completion/completions/blkclone &&
	   grep -qx 'd /run/lock/blkclone 0755 root root -' /usr/lib/tmpfiles.d/blkclone.conf &&
	   ! dpkg -L blkclone | grep -q '^/usr/share/perl5' &&
	   dpkg -i "$deb"/libpve-storage-blkclone-perl_*.deb >/dev/null &&
	   test -f $pvecustom/BlkcloneISCSIPlugin.pm &&
	   test -f $pvecustom/BlkClone/Exec.pm && test -f $pvecustom/BlkClone/Local.pm &&
	   test -f $pvecustom/BlkClone/LunPool.pm &&
	   test -f $pvecustom/BlkcloneLVMPlugin.pm && test -f $pvecustom/BlkClone/LVMJobs.pm &&
	   perl -I"$top/contrib/pve/t/fake" -e 'require PVE::Storage::Custom::BlkcloneISCSIPlugin; require PVE::Storage::Custom::BlkcloneLVMPlugin'; then
		total_pass=$((total_pass + 1))
		lintian "$deb"/*.deb 2>/dev/null | grep -v initial-upload-closes-no-bugs || true
		dpkg -r libpve-storage-blkclone-perl blkclone >/dev/null
	else
		tail -n 40 "$deb/build.log"; total_fail=$((total_fail + 1)); status=1
	fi
	rm -rf "$deb"
fi

echo "tests: $total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" = 0 ] || status=1
# A skipped test is a result that is missing: it fails the run unless the
# user says otherwise.
if [ "$total_skip" != 0 ] && [ "${BLKCLONE_ALLOW_SKIP:-0}" != 1 ]; then
	echo "tests: $total_skip skipped: a skip fails the run (BLKCLONE_ALLOW_SKIP=1 allows it)"
	status=1
fi
exit $status
