#!/bin/bash
# Bad input: each refusal has its exit code and a message naming the
# problem, and the destination is never touched.
. "$(dirname "$0")/../lib/common.sh"
need_root

make_sparse "$T/src.img" 64 8 256 3
dd if=/dev/urandom of="$T/victim.img" bs=1M count=64 status=none
victim_sum=$(md5sum <"$T/victim.img")
untouched() { check "$1: destination untouched" test "$(md5sum <"$T/victim.img")" = "$victim_sum"; }

expect_exit 2 "no arguments" "$BLKCLONE"
expect_exit 2 "unknown command" "$BLKCLONE" frobnicate
expect_msg "unknown command 'frobnicate'" "unknown command named"
expect_exit 0 "--version" "$BLKCLONE" --version
expect_exit 0 "--help" "$BLKCLONE" --help
expect_exit 0 "copy --help" "$BLKCLONE" copy --help
expect_exit 2 "copy with one address" "$BLKCLONE" copy "$T/src.img"
expect_exit 2 "copy with three addresses" "$BLKCLONE" copy "$T/src.img" "$T/a" "$T/b"
expect_exit 2 "bad --offload value" "$BLKCLONE" copy --offload=maybe "$T/src.img" "$T/victim.img"
expect_msg "auto, require or never" "bad --offload named"
expect_exit 2 "unknown option" "$BLKCLONE" copy --frob "$T/src.img" "$T/victim.img"
untouched "usage errors"

expect_exit 2 "unknown scheme" "$BLKCLONE" copy nbd://host/x "$T/victim.img"
expect_msg "unknown address scheme 'nbd'" "unknown scheme named"
expect_exit 2 "missing source" "$BLKCLONE" copy "$T/nope.img" "$T/victim.img"
expect_msg "nope.img.*No such file" "missing source named"
expect_exit 2 "source is a directory" "$BLKCLONE" copy "$T" "$T/victim.img"
untouched "bad sources"

expect_exit 2 "same file" "$BLKCLONE" copy "$T/victim.img" "$T/victim.img"
expect_msg "same volume" "same volume named"
ln "$T/victim.img" "$T/hardlink.img"
expect_exit 2 "same file through a hard link" "$BLKCLONE" copy "$T/hardlink.img" "$T/victim.img"
ln -s "$T/victim.img" "$T/symlink.img"
expect_exit 2 "same file through a symlink" "$BLKCLONE" copy "$T/victim.img" "$T/symlink.img"
untouched "same volume"

truncate -s 32M "$T/small.img"
expect_exit 2 "destination smaller than source" "$BLKCLONE" copy "$T/src.img" "$T/small.img"
expect_msg "smaller than the source" "size refusal named"
check "small destination untouched (still sparse)" test "$(alloc_bytes "$T/small.img")" = 0

# Block devices: read-only, in use (mounted), block sizes.
truncate -s 64M "$T/ro.img"
RO=$(make_loop -r "$T/ro.img")
expect_exit 2 "read-only destination device" "$BLKCLONE" copy "$T/src.img" "$RO"
expect_msg "read-only" "read-only named"

truncate -s 64M "$T/fs.img"
mkfs.ext4 -q -F "$T/fs.img"
FSDEV=$(make_loop "$T/fs.img")
mkdir -p "$T/mnt"
if mount "$FSDEV" "$T/mnt" 2>/dev/null; then
	unmount_fs() { umount "$T/mnt" 2>/dev/null; }
	CLEANUP_HOOKS="unmount_fs $CLEANUP_HOOKS"
	expect_exit 2 "mounted destination" "$BLKCLONE" copy "$T/src.img" "$FSDEV"
	expect_msg "in use" "mounted destination named"
	check "mounted filesystem intact" test -d "$T/mnt/lost+found"
	umount "$T/mnt"
else
	note "mount not permitted here; mounted-destination case not run"
fi

head -c 1000 /dev/urandom >"$T/odd.img"
truncate -s 1M "$T/blk.img"
BLK=$(make_loop "$T/blk.img")
expect_exit 2 "1000-byte source onto a 512-byte-block device" "$BLKCLONE" copy "$T/odd.img" "$BLK"
expect_msg "not a multiple of the destination's 512-byte blocks" "block size refusal named"

truncate -s 66048 "$T/odd512.img"   # 129 blocks of 512: not whole 4096 blocks
truncate -s 1M "$T/b4k.img"
B4K=$(make_loop -b 4096 "$T/b4k.img")
expect_exit 2 "512-multiple source onto a 4096-byte-block device" "$BLKCLONE" copy "$T/odd512.img" "$B4K"
expect_msg "4096-byte blocks" "4096 refusal named"

# Nothing written to a device on refusal: its backing file stays empty.
check "refused devices untouched" test "$(alloc_bytes "$T/blk.img")" = 0 -a "$(alloc_bytes "$T/b4k.img")" = 0

# Offload required but impossible: exit 3 and nothing written.
expect_exit 3 "offload required between plain files" \
	"$BLKCLONE" copy --offload=require "$T/src.img" "$T/victim.img"
expect_msg "offload required but unavailable" "require refusal named"
untouched "offload required"

# --json on a refusal still prints one object with the error.
"$BLKCLONE" copy --json --offload=require "$T/src.img" "$T/victim.img" >"$T/j" 2>/dev/null
check "json refusal: status failed" grep -q '"status": "failed"' "$T/j"
check "json refusal: error text" grep -q '"error": ".*offload required' "$T/j"

# probe and map refusals
expect_exit 2 "probe of a missing file" "$BLKCLONE" probe "$T/missing"
expect_exit 2 "map with two addresses" "$BLKCLONE" map "$T/src.img" "$T/src.img"
expect_exit 2 "zero of an unknown scheme" "$BLKCLONE" zero foo://bar

# addresses and options an admin mistypes; a refused copy leaves no file
expect_exit 2 "iSCSI URL without a LUN" "$BLKCLONE" copy "iscsi://127.0.0.1/iqn.2026-11.x:t" "$T/new1.img"
expect_msg "missing IQN or LUN" "the message says what is missing"
expect_exit 2 "iSCSI URL with a password in it" \
	"$BLKCLONE" copy "iscsi://u:s3cr3tpw@127.0.0.1/iqn.2026-11.x:t/1" "$T/new2.img"
expect_msg "BLKCLONE_ISCSI_PASSWORD" "the message says where a secret belongs"
check "the secret is not echoed" sh -c "! grep -q s3cr3tpw '$T/err'"
expect_exit 2 "malformed IPv6 portal" "$BLKCLONE" probe "iscsi://[::1/iqn.2026-11.x:t/1"
expect_exit 2 "--resume-from beyond the end" "$BLKCLONE" copy --resume-from=999999999 "$T/src.img" "$T/new3.img"
expect_msg "beyond the end of the source" "the message names the limit"
expect_exit 2 "--resume-from with --offload=require" \
	"$BLKCLONE" copy --resume-from=10 --offload=require "$T/src.img" "$T/new4.img"
expect_exit 2 "--resume-from that is not a number" "$BLKCLONE" copy --resume-from=abc "$T/src.img" "$T/new5.img"
expect_exit 2 "destination is a directory" "$BLKCLONE" copy "$T/src.img" "$T"
check "no destination file was left by the refusals" \
	sh -c "! ls '$T'/new[1-5].img 2>/dev/null | grep -q ."

finish
