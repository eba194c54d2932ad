#!/bin/sh
# Guest side of `vm.sh exec` (busybox sh).  /init runs busybox nc as a
# server; nc starts one of these per connection, socket on stdin/stdout.
#
# Request: one line "LIMIT COMMAND-IN-BASE64".  Base64, because a test may
# send a multi-line script and this is a line protocol.
# Reply: the command's stdout and stderr as they come, then
# "\n__BLKCLONE_RC=NNN\n" (three digits: the host holds back exactly
# these 19 bytes).  The newline before the marker puts it on a line of its
# own even after output without a final newline; the host removes it
# again, so the output arrives byte for byte.
IFS=' ' read -r limit b64 || exit 0
reply() { printf '\n__BLKCLONE_RC=%03d\n' "$1"; exit 0; }
case $limit in '' | *[!0-9]*) echo "exec-one: malformed request"; reply 126 ;; esac
cmd=$(printf '%s' "$b64" | base64 -d) || { echo "exec-one: request is not base64"; reply 126; }
cd /tmp || reply 126

# The command gets a session (so a process group) of its own: a command
# over its time limit is killed with everything it started, and so is
# whatever it leaves running in the background -- such a process would
# hold the socket open and keep the host waiting for the end.  (A
# non-interactive sh puts background jobs in its own group, so setsid
# does not fork here and $! is the group's leader.)
setsid sh -c "$cmd" </dev/null 2>&1 &
pid=$!
# The watchdog is a session of its own as well, so that it and its sleep
# go together; the sleep must not hold the socket (only the message may
# go there): a stray one would keep the host waiting for the limit.
setsid sh -c 'sleep "$1" </dev/null >/dev/null 2>&1
	echo "exec-one: time limit of $1 s reached, killing the command"
	kill -KILL -"$2"' watchdog "$limit" "$pid" </dev/null 2>&1 &
dog=$!
wait "$pid"
rc=$?
# The pid too: killed before its setsid, it has no group yet, and dies
# before it can start the sleep.
kill -KILL -"$dog" "$dog" 2>/dev/null
kill -KILL -"$pid" 2>/dev/null
reply "$rc"
