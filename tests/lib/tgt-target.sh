# Sourced by tests and the demo: a private tgt target on 127.0.0.1.
#   tgt_start [PORT]     start tgtd on PORT, or a free port (sets TGT_PORT, TGT_CTL)
#   tgt_target TID IQN   create a target (bound to all initiators)
#   tgt_lun TID LUN FILE [BLOCKSIZE] [thin|thick]
#   tgt_stop             kill tgtd (it ignores SIGTERM while serving)
# Several can run at once: each has its own control port and portal.

# tgt derives every LU designator from the target id and LUN, so LUs of
# two tgtd instances look like one LU to blkclone's host lock (src/volume/lock.h):
# tests that run side by side keep their locks apart.
if [ -n "${T:-}" ] && [ -z "${BLKCLONE_LOCK_DIR:-}" ]; then
	export BLKCLONE_LOCK_DIR="$T/locks"
fi

# A free port in [FIRST, LAST], from a random place in the range: tests
# run in parallel, and one restarting its tgtd must find its old port
# still free a second later.
tgt_free_port() {
	local first=${1:-3290} last=${2:-3390} span i p r=$RANDOM
	span=$((last - first + 1))
	for i in $(seq 0 $((span - 1))); do
		p=$((first + (r + i) % span))
		[ -n "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] || { echo "$p"; return 0; }
	done
	return 1
}

tgt_start() {
	command -v tgtd >/dev/null || { echo "tgtd not installed (apt-get install tgt)" >&2; return 1; }
	# a restart takes its old port back: another test's tgtd must not
	# take it meanwhile, or a client's reconnect goes to the wrong one
	if [ -n "${1:-}" ]; then
		TGT_PORT=$1
	else
		TGT_PORT=$(tgt_free_port 3290 3390) || return 1
	fi
	TGT_CTL=$((TGT_PORT - 3200))	# a private control socket per instance
	mkdir -p /var/run/tgtd
	tgtd -f -C "$TGT_CTL" --iscsi portal=127.0.0.1:"$TGT_PORT" >"${TGT_LOG:-/dev/null}" 2>&1 &
	TGT_PID=$!
	local i
	for i in $(seq 600); do	# 30 s at most, for a loaded machine
		if tgtadm -C "$TGT_CTL" --lld iscsi --op show --mode target >/dev/null 2>&1 &&
		   [ -n "$(ss -Hltn "sport = :$TGT_PORT")" ]; then
			return 0
		fi
		kill -0 "$TGT_PID" 2>/dev/null || { echo "tgtd exited" >&2; return 1; }
		sleep 0.05
	done
	echo "tgtd did not come up on 127.0.0.1:$TGT_PORT" >&2
	return 1
}

tgt_target() {
	tgtadm -C "$TGT_CTL" --lld iscsi --op new --mode target --tid "$1" -T "$2" &&
	tgtadm -C "$TGT_CTL" --lld iscsi --op bind --mode target --tid "$1" -I ALL
}

tgt_lun() {
	local tid=$1 lun=$2 file=$3 bs=${4:-512} prov=${5:-thin}
	tgtadm -C "$TGT_CTL" --lld iscsi --op new --mode logicalunit --tid "$tid" \
		--lun "$lun" -b "$file" --blocksize="$bs" || return 1
	if [ "$prov" = thin ]; then
		tgtadm -C "$TGT_CTL" --lld iscsi --op update --mode logicalunit \
			--tid "$tid" --lun "$lun" --params thin_provisioning=1
	fi
}

tgt_stop() {
	[ -n "${TGT_PID:-}" ] || return 0
	kill -9 "$TGT_PID" 2>/dev/null || true
	# wait says 137 (killed, as meant): under set -e, in an EXIT trap,
	# that was the demo's exit status
	wait "$TGT_PID" 2>/dev/null || true
	TGT_PID=
}

# tgt_chap TID USER SECRET: an incoming CHAP account bound to the target
tgt_chap() {
	tgtadm -C "$TGT_CTL" --lld iscsi --op new --mode account --user "$2" --password "$3" &&
	tgtadm -C "$TGT_CTL" --lld iscsi --op bind --mode account --tid "$1" --user "$2"
}
