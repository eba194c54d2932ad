#!/bin/sh
# Run blkclone under valgrind memcheck: set BLKCLONE to this script,
# BLKCLONE_BIN to the binary and BLKCLONE_VG_LOGDIR to a directory for
# the logs (tests/run-all.sh does, for the integration tests).
#
# exec keeps the pid: tests signal blkclone and read /proc/PID/cmdline.
# memcheck's own log goes to a file, so blkclone's stdout and stderr are
# what the tests see.  Any error (a definite leak counts) makes the exit
# status 99, which no test expects (blkclone exits 0-3), and
# tests/lib/common.sh's finish() fails the test that ran it and prints
# the log; tests/run-all.sh counts every log with errors again at the end.
: "${BLKCLONE_BIN:?BLKCLONE_BIN: the blkclone binary to run}"
: "${BLKCLONE_VG_LOGDIR:?BLKCLONE_VG_LOGDIR: where memcheck logs go}"
top=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$BLKCLONE_VG_LOGDIR"
exec valgrind --tool=memcheck --error-exitcode=99 \
	--leak-check=full --errors-for-leak-kinds=definite \
	--track-fds=no --num-callers=30 \
	--suppressions="$top/tests/valgrind.supp" \
	--log-file="$BLKCLONE_VG_LOGDIR/${BLKCLONE_VG_TEST:-blkclone}.%p.log" \
	"$BLKCLONE_BIN" "$@"
