#!/bin/bash
# The SAN stack inside the test VM: LVM on dm-multipath on LIO LUs seen
# through two tcm_loop paths; clones in the array, a path offline, no
# path left, maps and LVs that must not be offloaded
# (tests/vm/guest/test-multipath.sh).
exec bash "$(dirname "$0")/guest-run.sh" multipath
