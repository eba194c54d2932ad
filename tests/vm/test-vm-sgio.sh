#!/bin/bash
# blkclone over SG_IO inside the test VM (LIO through tcm_loop), run by
# tests/vm/guest/test-sgio.sh in the guest with the binary of this build
# (the sanitizer build runs the guest's sanitizer binary).
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/vm.sh"
vm_require
vm_lock
bc=/usr/sbin/blkclone
grep -qa __asan_report "$BLKCLONE" && bc=/usr/sbin/blkclone-san
vm_exec "test -x $bc" || { echo "SKIP: $bc is not in the VM's initramfs"; exit 77; }
vm_exec "BC=$bc ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 sh /guest/test-sgio.sh"
