#!/bin/bash
# CHAP against tgt: the secret comes from the environment or a file, the
# right one logs in, a wrong or missing one fails with a clear message and
# exit code, and the secret appears nowhere: not in argv, the process's
# environment, messages or JSON, and no core dump can hold it.  (Secret
# files that are not safe to read: doc/bad-inputs.md.)
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/tgt-target.sh"
. "$(dirname "$0")/../lib/gate.sh"
need_root
command -v tgtd >/dev/null || { echo "SKIP: tgt not installed"; exit 77; }
CLEANUP_HOOKS="tgt_stop $CLEANUP_HOOKS"

SECRET=Zq7-chap-secret-0815
IQN=iqn.2026-11.test.blkclone:chap
make_sparse "$T/src.img" 32 4 256 9
truncate -s 32M "$T/dst.img"
gate_mount || exit 1
chap_target() {	# [PORT]
	tgt_start "${1:-}" && tgt_target 1 "$IQN" &&
	tgt_lun 1 1 "$GATE_MNT/src.img" &&	# its reads can be held (gate.sh)
	tgt_lun 1 2 "$T/dst.img" && tgt_chap 1 blkuser "$SECRET"
}
chap_target || exit 1
U=iscsi://blkuser@127.0.0.1:$TGT_PORT/$IQN

no_secret() {	# no_secret WHAT FILE...
	if grep -q -- "$SECRET" "$@" 2>/dev/null; then fail "$1: secret leaked"; else pass "$1: no secret"; fi
}

# the right secret from the environment: a full copy works
BLKCLONE_ISCSI_PASSWORD=$SECRET "$BLKCLONE" copy --json "$U/1" "$U/2" >"$T/j" 2>"$T/e"
rc=$?; check "copy with CHAP secret from the environment exits 0 ($(cat "$T/e"))" test $rc = 0
check "copy over CHAP identical" cmp -s "$T/src.img" "$T/dst.img"
no_secret "JSON and messages" "$T/j" "$T/e"

# While blkclone copies, held at its first read of the source (after both
# logins), neither its command line nor its environment holds the secret
# (BLKCLONE_ISCSI_PASSWORD is overwritten where /proc/PID/environ reads
# it), and it cannot dump core, even started with ulimit -c unlimited.
cmp -s "$T/src.img" "$T/dst.img" && truncate -s 0 "$T/dst.img" && truncate -s 32M "$T/dst.img"
gate_arm src.img read 0
(ulimit -c unlimited; BLKCLONE_ISCSI_PASSWORD=$SECRET exec "$BLKCLONE" copy "$U/1" "$U/2") \
	>/dev/null 2>"$T/e2" &
pid=$!
gate_wait_held 300 $pid || exit 1
tr '\0' '\n' </proc/$pid/cmdline >"$T/cmdline"
tr '\0' '\n' </proc/$pid/environ >"$T/environ"
core=$(awk '/^Max core file size/ { print $5 "/" $6 }' /proc/$pid/limits)
gate_open
wait $pid
rc=$?; check "copy with the secret in the environment, held at the gate, exits 0 ($(cat "$T/e2"))" test $rc = 0
check "and its destination is identical" cmp -s "$T/src.img" "$T/dst.img"
check "the command line was captured" grep -q copy "$T/cmdline"
no_secret "/proc/PID/cmdline" "$T/cmdline"
check "the environment was captured" grep -q '^BLKCLONE_ISCSI_PASSWORD=' "$T/environ"
if [ -n "${BLKCLONE_VG_LOGDIR:-}" ]; then
	# /proc/PID/environ is then valgrind's own, which blkclone cannot reach
	note "/proc/PID/environ not checked under valgrind"
else
	no_secret "/proc/PID/environ" "$T/environ"
fi
check "no core dump while the secret is held (core limit soft/hard: $core)" test "$core" = 0/0

# the secret from a file
printf '%s\n' "$SECRET" >"$T/secret"
chmod 600 "$T/secret"
BLKCLONE_ISCSI_PASSWORD_FILE=$T/secret "$BLKCLONE" probe --json "$U/1" >"$T/p" 2>"$T/e"
rc=$?; check "probe with the secret from a file exits 0 ($(cat "$T/e"))" test $rc = 0
no_secret "probe output" "$T/p" "$T/e"

# The secret is not kept between logins: a session lost mid-copy (tgtd
# killed and started again) logs in again with the secret read afresh
# from the file.
truncate -s 0 "$T/dst.img" && truncate -s 32M "$T/dst.img"
gate_arm src.img read 0
BLKCLONE_ISCSI_PASSWORD_FILE=$T/secret "$BLKCLONE" copy "$U/1" "$U/2" >/dev/null 2>"$T/e3" &
pid=$!
gate_wait_held 300 $pid || exit 1
port=$TGT_PORT
tgt_stop
gate_open
chap_target "$port" || exit 1
wait $pid
rc=$?; check "a copy whose session was lost logs in again with the secret file and exits 0 ($(cat "$T/e3"))" test $rc = 0
check "and its destination is identical" cmp -s "$T/src.img" "$T/dst.img"

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
