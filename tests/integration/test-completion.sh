#!/bin/bash
# Bash completion of job ids (contrib/bash-completion/blkclone): the ids
# come from "job list" of the blkclone being completed, filtered by what
# the subcommand takes -- status any job, wait and cancel running ones,
# forget ended ones, start --resume= failed or cancelled ones -- and a
# corrupt record is neither offered nor shown.
. "$(dirname "$0")/../lib/common.sh"
need_root
export BLKCLONE_STATE_DIR=$T/state
JD=$BLKCLONE_STATE_DIR/jobs
. "$TOP_SRCDIR/contrib/bash-completion/blkclone"

# one real job, complete; a failed one and a running one made from its
# record (the running one's pid is a live stand-in, with its start time
# and this boot, so the record reads running)
head -c 1M /dev/urandom >"$T/src.img"
bcrun 0 "$T/id" "$T/err" job start "$T/src.img" "$T/dst.img"
done_id=$(cat "$T/id")
bcrun 0 /dev/null "$T/err" job wait "$done_id"
failed_id=aaaa000000000001
running_id=aaaa000000000002
sleep 1000 & standin=$!
CLEANUP_HOOKS="kill_standin $CLEANUP_HOOKS"
kill_standin() { kill "$standin" 2>/dev/null; }
tick=$(sed 's/.*) //' /proc/$standin/stat | awk '{print $20}')
jq --arg id $failed_id '.id = $id | .state = "failed" | .exit_code = 1' \
	"$JD/$done_id.json" >"$JD/$failed_id.json"
jq --arg id $running_id --argjson pid "$standin" --argjson t "$tick" \
	--arg b "$(cat /proc/sys/kernel/random/boot_id)" \
	'.id = $id | .state = "running" | .exit_code = null | .pid = $pid | .pid_start = $t | .boot_id = $b' \
	"$JD/$done_id.json" >"$JD/$running_id.json"
printf 'not json' >"$JD/aaaa000000000003.json"
bcrun 0 "$T/list" "$T/err" job list
check "the records read as meant" \
	test "$(awk '{print $2}' "$T/list" | sort | tr '\n' ' ')" = "complete failed running "

# complete WORDS...: the words typed, the last one being completed
complete_words() {
	COMP_WORDS=("$BLKCLONE" "$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_blkclone 2>"$T/cerr"
	[ ${#COMPREPLY[@]} = 0 ] || printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
}
sorted() { printf '%s\n' "$@" | sort | tr '\n' ' '; }

check "job status offers every job" \
	test "$(complete_words job status '')" = "$(sorted "$done_id" $failed_id $running_id)"
check "job status aaaa offers the two ids with that prefix" \
	test "$(complete_words job status aaaa)" = "$(sorted $failed_id $running_id)"
check "job status --json then an id: the same" \
	test "$(complete_words job status --json '')" = "$(sorted "$done_id" $failed_id $running_id)"
check "job cancel offers the running job only" \
	test "$(complete_words job cancel '')" = "$running_id "
check "job wait offers the running job only" \
	test "$(complete_words job wait '')" = "$running_id "
check "job forget offers the ended jobs" \
	test "$(complete_words job forget '')" = "$(sorted "$done_id" $failed_id)"
check "job start --resume= offers the failed job (one word)" \
	test "$(complete_words job start --resume=)" = "$failed_id "
check "job start --resume = offers it too (words broken at '=')" \
	test "$(complete_words job start --resume = '')" = "$failed_id "
offered=$(complete_words job status aaaa)
check "the corrupt record is never offered ($offered)" \
	test "${offered/aaaa000000000003/}" = "$offered"
check "completion printed nothing on stderr" test ! -s "$T/cerr"
check "job status --j completes the option" test "$(complete_words job status --j)" = "--json "
BLKCLONE_STATE_DIR=$T/none
check "no state directory: no id, no message" \
	test -z "$(complete_words job status '')" -a ! -s "$T/cerr"
finish
