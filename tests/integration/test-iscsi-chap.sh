#!/bin/bash
# CHAP against tgt: the secret comes from the environment or a file, the
# right one logs in, a wrong or missing one fails with a clear message and
# exit code, and the secret appears nowhere: not in argv, messages or JSON.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/tgt-target.sh"
need_root
command -v tgtd >/dev/null || { echo "SKIP: tgt not installed"; exit 77; }
CLEANUP_HOOKS="tgt_stop $CLEANUP_HOOKS"

SECRET=Zq7-chap-secret-0815
IQN=iqn.2026-11.test.blkclone:chap
make_sparse "$T/src.img" 32 4 256 9
truncate -s 32M "$T/dst.img"
tgt_start || exit 1
tgt_target 1 "$IQN"
tgt_lun 1 1 "$T/src.img"
tgt_lun 1 2 "$T/dst.img"
tgt_chap 1 blkuser "$SECRET"
U=iscsi://blkuser@127.0.0.1:$TGT_PORT/$IQN

no_secret() {	# no_secret WHAT FILE...
	if grep -q -- "$SECRET" "$@" 2>/dev/null; then fail "$1: secret leaked"; else pass "$1: no secret"; fi
}

# the right secret from the environment: a full copy works
BLKCLONE_ISCSI_PASSWORD=$SECRET "$BLKCLONE" copy --json "$U/1" "$U/2" >"$T/j" 2>"$T/e"
rc=$?; check "copy with CHAP secret from the environment exits 0 ($(cat "$T/e"))" test $rc = 0
check "copy over CHAP identical" cmp -s "$T/src.img" "$T/dst.img"
no_secret "JSON and messages" "$T/j" "$T/e"

# While blkclone waits for its secret (a fifo as the secret file), its
# command line holds no secret.  Read once the shell's child has become
# blkclone (or valgrind running it): its exe is no longer the shell's.
mkfifo "$T/fifo"
BLKCLONE_ISCSI_PASSWORD_FILE=$T/fifo "$BLKCLONE" probe "$U/1" >/dev/null 2>"$T/e2" &
pid=$!
shell_exe=$(readlink /proc/$$/exe)
while [ "$(readlink /proc/$pid/exe 2>/dev/null)" = "$shell_exe" ] ||
      ! grep -qs probe /proc/$pid/cmdline; do
	kill -0 $pid 2>/dev/null || break
	sleep 0.02
done
tr '\0' '\n' </proc/$pid/cmdline >"$T/cmdline"
printf '%s\n' "$SECRET" >"$T/fifo"
wait $pid
rc=$?; check "probe with the secret through a fifo exits 0 ($(cat "$T/e2"))" test $rc = 0
check "the command line was captured" grep -q probe "$T/cmdline"
no_secret "/proc/PID/cmdline" "$T/cmdline"

# the secret from a file
printf '%s\n' "$SECRET" >"$T/secret"
chmod 600 "$T/secret"
BLKCLONE_ISCSI_PASSWORD_FILE=$T/secret "$BLKCLONE" probe --json "$U/1" >"$T/p" 2>"$T/e"
rc=$?; check "probe with the secret from a file exits 0 ($(cat "$T/e"))" test $rc = 0
no_secret "probe output" "$T/p" "$T/e"

# a wrong secret, and none at all
# credentials the target refuses are bad input: exit 2, nothing written
BLKCLONE_ISCSI_PASSWORD=wrong-secret expect_exit 2 "wrong CHAP secret" "$BLKCLONE" probe "$U/1"
expect_msg "Authentication failure" "wrong secret: the reason is given"
expect_msg "iSCSI login" "wrong secret: the login is named"
check "wrong secret not echoed" sh -c "! grep -q wrong-secret '$T/err'"
expect_exit 2 "user without a secret" env -u BLKCLONE_ISCSI_PASSWORD "$BLKCLONE" probe "$U/1"
expect_msg "BLKCLONE_ISCSI_PASSWORD" "missing secret: says where it comes from"
BLKCLONE_ISCSI_PASSWORD_FILE=$T/nonexistent expect_exit 2 "unreadable secret file" "$BLKCLONE" probe "$U/1"
# no user at all: tgt refuses the login to a CHAP-bound target
expect_exit 2 "no CHAP user for a CHAP target" "$BLKCLONE" probe "iscsi://127.0.0.1:$TGT_PORT/$IQN/1"

finish
