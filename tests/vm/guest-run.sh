#!/bin/bash
# guest-run.sh NAME: run tests/vm/guest/test-NAME.sh inside the test VM
# with the blkclone of this build (the sanitizer build runs the guest's
# sanitizer binary) and report its result as this test's.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/vm.sh"
name=${1:?usage: guest-run.sh NAME}
vm_require
vm_lock
bc=/usr/sbin/blkclone
grep -qa __asan_report "$BLKCLONE" && bc=/usr/sbin/blkclone-san
vm_exec "test -x $bc" || vm_missing "$bc is not in the VM's initramfs, or the VM does not answer"
vm_exec "BC=$bc ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 sh /guest/test-$name.sh"
