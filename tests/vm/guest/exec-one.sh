#!/bin/sh
# One command from the host (vm.sh exec): read one line, run it, send its
# output and then its exit status as the last line.
IFS= read -r cmd || exit 0
cd /tmp || exit 1
sh -c "$cmd" 2>&1 </dev/null
echo "__BLKCLONE_RC=$?"
