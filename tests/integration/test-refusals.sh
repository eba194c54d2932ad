#!/bin/bash
# Bad input: every row of doc/bad-inputs.md, run as the table says, gets
# its exit code and its message (which names the device); no refusal
# writes to its destination or leaves a file behind.  The table is read
# here, so it cannot drift from what blkclone does.
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/tgt-target.sh"
need_root
TABLE=$TOP_SRCDIR/doc/bad-inputs.md
LYING=${TOP_BUILDDIR:-$TOP_SRCDIR/build}/tests/sim/lying-target
chmod 755 "$T"	# rows run as nobody read files here

# --- what the rows name ---------------------------------------------------
make_sparse "$T/src.img" 64 8 256 3
SRC=$T/src.img
dd if=/dev/urandom of="$T/victim.img" bs=1M count=64 status=none
VICTIM=$T/victim.img
victim_sum=$(md5sum <"$VICTIM")
ln "$VICTIM" "$T/hardlink.img"; HARDLINK=$T/hardlink.img
ln -s "$VICTIM" "$T/symlink.img"; SYMLINK=$T/symlink.img
truncate -s 32M "$T/small.img"; SMALL=$T/small.img
MISSING=$T/nope.img
NEW=$T/new.img			# must never be created
mkdir "$T/dir"; DIR=$T/dir
head -c 1M /dev/urandom >"$T/unread.img"; chmod 600 "$T/unread.img"; UNREADABLE=$T/unread.img
truncate -s 64M "$T/ro.img"; chmod 444 "$T/ro.img"; ROFILE=$T/ro.img
truncate -s 64M "$T/imm.img"
if chattr +i "$T/imm.img" 2>/dev/null; then
	IMMUTABLE=$T/imm.img
	unimm() { chattr -i "$T/imm.img" 2>/dev/null; }
	CLEANUP_HOOKS="unimm $CLEANUP_HOOKS"
else
	IMMUTABLE=; why_IMMUTABLE="chattr +i not supported on $T's filesystem"
fi
head -c 1000 /dev/urandom >"$T/odd.img"; ODD=$T/odd.img
truncate -s 66048 "$T/odd512.img"; ODD512=$T/odd512.img	# 129 blocks of 512
truncate -s 1M "$T/blk.img"; BLK=$(make_loop "$T/blk.img")
truncate -s 1M "$T/b4k.img"; B4K=$(make_loop -b 4096 "$T/b4k.img")
L512=$(make_loop "$T/odd512.img")
truncate -s 64M "$T/rodev.img"; RO=$(make_loop -r "$T/rodev.img")
dd if=/dev/urandom of="$T/overlap.img" bs=1M count=8 status=none
OVLFILE=$T/overlap.img
overlap_sum=$(md5sum <"$OVLFILE")
OVL1=$(make_loop -o 0 --sizelimit 4M "$OVLFILE")
OVL2=$(make_loop -o 2M --sizelimit 4M "$OVLFILE")
truncate -s 64M "$T/fs.img"
mkfs.ext4 -q -F "$T/fs.img"
MNTDEV=$(make_loop "$T/fs.img")
mkdir -p "$T/mnt"
if mount "$MNTDEV" "$T/mnt" 2>/dev/null; then
	unmount_fs() { umount "$T/mnt" 2>/dev/null; }
	CLEANUP_HOOKS="unmount_fs $CLEANUP_HOOKS"
else
	MNTDEV=; why_MNTDEV="mount not permitted here"
fi

# Two XFS filesystems on loop devices, one with reflink and one without,
# for the rows a filesystem refuses to clone.
xfs_mount() {	# xfs_mount DIR MKFS-ARGS...
	local d=$1; shift
	truncate -s 300M "$d.fs" && mkfs.xfs -q -f "$@" "$d.fs" >/dev/null 2>&1 &&
	mkdir -p "$d" && mount -o loop "$d.fs" "$d" 2>/dev/null
}
if ! command -v mkfs.xfs >/dev/null; then
	why_XFS="mkfs.xfs missing (xfsprogs)"
elif xfs_mount "$T/xfs" -m reflink=1 && xfs_mount "$T/xfsnr" -m reflink=0; then
	unmount_xfs() { umount "$T/xfs" 2>/dev/null; umount "$T/xfsnr" 2>/dev/null; }
	CLEANUP_HOOKS="unmount_xfs $CLEANUP_HOOKS"
	head -c 66048 /dev/urandom >"$T/xfs/odd.img"; XFSODD=$T/xfs/odd.img
	head -c 1M /dev/urandom >"$T/xfs/long.img"; XFSLONG=$T/xfs/long.img
	make_sparse "$T/xfsnr/src.img" 16 4 256 2; XFSNRSRC=$T/xfsnr/src.img
	head -c 16M /dev/urandom >"$T/xfsnr/dst.img"; XFSNRDST=$T/xfsnr/dst.img
	xfs_sums=$(md5sum <"$XFSLONG")$(md5sum <"$XFSNRDST")
else
	umount "$T/xfs" 2>/dev/null
	why_XFS="an XFS on a loop device could not be made or mounted"
fi

IQN=iqn.2026-11.test.blkclone:refusals
if command -v tgtd >/dev/null && tgt_start; then
	CLEANUP_HOOKS="tgt_stop $CLEANUP_HOOKS"
	cp --sparse=always "$SRC" "$T/lunsrc.img"
	dd if=/dev/urandom of="$T/lundst.img" bs=1M count=64 status=none
	lundst_sum=$(md5sum <"$T/lundst.img")
	truncate -s 32M "$T/lunsmall.img"
	cp "$ODD512" "$T/lun512.img"
	truncate -s 1M "$T/lun4k.img"
	tgt_target 1 "$IQN" &&
	tgt_lun 1 1 "$T/lunsrc.img" && tgt_lun 1 2 "$T/lundst.img" &&
	tgt_lun 1 3 "$T/lunsmall.img" && tgt_lun 1 4 "$T/lun512.img" &&
	tgt_lun 1 5 "$T/lun4k.img" 4096 || exit 1
	# a second portal address of the same target
	tgtadm -C "$TGT_CTL" --lld iscsi --op new --mode portal \
		--param portal=127.0.0.2:"$TGT_PORT" || exit 1
	U=iscsi://127.0.0.1:$TGT_PORT/$IQN
	LUNSRC=$U/1 LUNDST=$U/2 LUNSMALL=$U/3 LUN512=$U/4 LUN4K=$U/5
	LUNSRCBYNAME=iscsi://localhost:$TGT_PORT/$IQN/1
	LUNSRCPORTAL2=iscsi://127.0.0.2:$TGT_PORT/$IQN/1
else
	why_LUN="tgt could not be started"
fi

# --- places blkclone must not trust (src/util/safedir.c) -----------------------
# What a user other than root can plant: a sticky world-writable directory
# stands for /run/lock (01777 on Debian), where anyone may pre-create the
# lock directory or a symbolic link in its place.  Each victim must be left
# as it is.
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
KEY2=iscsi-$IQN-lun2.lock
mkdir -m 1777 "$T/sticky"
mkdir "$T/victimdir"
echo "a file root must not write" >"$T/victimdir/$KEY2"
echo "a file root must not write" >"$T/lockvictim"
echo "a file root must not write" >"$T/hardvictim"
sums_victims() { cat "$T/victimdir/$KEY2" "$T/lockvictim" "$T/hardvictim" | md5sum; }
victims_sum=$(sums_victims)
as_nobody ln -s "$T/victimdir" "$T/sticky/locks"; LOCKLINK=$T/sticky/locks
as_nobody mkdir "$T/sticky/blkclone"; NOBODYLOCKS=$T/sticky/blkclone
mkdir "$T/openlocks"; chmod 0777 "$T/openlocks"; OPENLOCKS=$T/openlocks
mkdir -m 755 "$T/linklocks" "$T/hardlocks"
ln -s "$T/lockvictim" "$T/linklocks/$KEY2"; LINKLOCKS=$T/linklocks
ln "$T/hardvictim" "$T/hardlocks/$KEY2"; HARDLOCKS=$T/hardlocks
# CHAP secret files not safe to read: checked before any connection, so
# the URL needs no target
printf 'secret-in-a-file\n' >"$T/open.pw"; chmod 644 "$T/open.pw"; OPENSECRET=$T/open.pw
printf 'secret-in-a-file\n' >"$T/own.pw"; chmod 600 "$T/own.pw"
ln -s "$T/own.pw" "$T/link.pw"; SECRETLINK=$T/link.pw
printf 'secret-in-a-file\n' >"$T/nobody.pw"; chmod 600 "$T/nobody.pw"
chown 65534 "$T/nobody.pw"; NOBODYSECRET=$T/nobody.pw
mkfifo -m 600 "$T/secret.fifo"; SECRETFIFO=$T/secret.fifo
# a line waits in the fifo, so a blkclone that reads fifos is not stuck
exec 7<>"$SECRETFIFO"
printf 'secret-in-a-fifo\n' >&7
# the refusal memory's directory, consulted when a copy may go to the
# storage: files on XFS with reflink are such a copy
mkdir "$T/statevictims"
echo "a file root must not write" >"$T/statevictims/refusals"
state_sum=$(md5sum <"$T/statevictims/refusals")
as_nobody ln -s "$T/statevictims" "$T/sticky/state"; STATELINK=$T/sticky/state
as_nobody mkdir "$T/sticky/nbstate"; NOBODYSTATE=$T/sticky/nbstate
mkdir "$T/openstate"; chmod 0777 "$T/openstate"; OPENSTATE=$T/openstate
# (an XFS of its own: $T/xfs above holds the reflink rows' files)
truncate -s 320M "$T/xfs2.img"
mkdir -p "$T/xfs2"
if command -v mkfs.xfs >/dev/null && mkfs.xfs -q -m reflink=1 "$T/xfs2.img" &&
   mount -o loop "$T/xfs2.img" "$T/xfs2" 2>/dev/null; then
	unmount_xfs2() { umount "$T/xfs2" 2>/dev/null; }
	CLEANUP_HOOKS="unmount_xfs2 $CLEANUP_HOOKS"
	cp --sparse=always "$SRC" "$T/xfs2/src.img"
	XFSSRC=$T/xfs2/src.img XFSNEW=$T/xfs2/new.img	# must never be created
else
	XFSSRC=; why_XFS="no XFS with reflink here (mkfs.xfs, mount -o loop)"
fi

# --- job records (doc/bad-inputs.md, job-* rows) ----------------------------
# one good job, complete, beside bad records; none of the rows may touch it
JOBSTATE=$T/jobstate
BLKCLONE_STATE_DIR=$JOBSTATE "$BLKCLONE" job start "$SRC" "$T/jobdst.img" >"$T/jobid" 2>"$T/err" &&
	BLKCLONE_STATE_DIR=$JOBSTATE "$BLKCLONE" job wait "$(cat "$T/jobid")" 2>>"$T/err" ||
	fail "the good job did not run: $(cat "$T/err")"
JOBGOOD=$(cat "$T/jobid")
JD=$JOBSTATE/jobs
JOBUNKNOWN=0123456789abcdef
JOBNOBODY=1111111111111111
jq --arg id $JOBNOBODY '.id = $id' "$JD/$JOBGOOD.json" >"$JD/$JOBNOBODY.json"
chown 65534 "$JD/$JOBNOBODY.json"
JOBNOTJSON=2222222222222222
printf 'not json {' >"$JD/$JOBNOTJSON.json"
JOBHUGE=3333333333333333
head -c 2000000 /dev/zero >"$JD/$JOBHUGE.json"
JOBFOREIGN=4444444444444444
jq --arg id $JOBFOREIGN '.id = $id | .schema = 2' "$JD/$JOBGOOD.json" >"$JD/$JOBFOREIGN.json"
JOBOTHER=5555555555555555
cp "$JD/$JOBGOOD.json" "$JD/$JOBOTHER.json"
jobs_sum() { cat "$JD"/*.json | md5sum; }
jobs_before=$(jobs_sum)
# a jobs directory that is a symbolic link to somewhere else
mkdir -p "$T/jobst2" "$T/jobelsewhere"
ln -s "$T/jobelsewhere" "$T/jobst2/jobs"; JOBLINKSTATE=$T/jobst2

# --- the table ------------------------------------------------------------
# A message's $NAME is the value above, taken literally.
re_quote() { printf '%s' "$1" | sed 's/[][\\.*^$+?(){}|]/\\&/g'; }
expand_msg() {
	local m=$1 out="" name
	while [[ $m =~ ^([^$]*)\$([A-Z0-9_]+)(.*)$ ]]; do
		name=${BASH_REMATCH[2]}
		out+="${BASH_REMATCH[1]}$(re_quote "${!name:-}")"
		m=${BASH_REMATCH[3]}
	done
	printf '%s' "$out$m"
}
# Does MSG name an address of CMD: a $NAME, or a literal path or URL
# (after its user:password@ part, which is never shown)?
names_device() {
	local w plain=${2//\\/} words
	[[ $2 == *'$'[A-Z]* ]] && return 0
	[[ $1 == "sim: "* ]] && { [[ $plain == *sim:* ]]; return; }
	read -r -a words <<<"$1"
	for w in "${words[@]}"; do
		[[ $w == */* ]] || continue
		[[ $plain == *"$w"* || $plain == *"${w#*@}"* ]] && return 0
	done
	return 1
}
trim() { local s=$1; s=${s#"${s%%[! ]*}"}; s=${s%"${s##*[! ]}"}; s=${s#\`}; s=${s%\`}; printf '%s' "$s"; }

rows=0 notrun=0 ids=" "
while IFS= read -r line; do
	line=${line//\\|/$'\x01'}	# \| inside a cell is a literal |
	IFS='|' read -r _ id input cmd want msg _ <<<"$line"
	id=$(trim "$id"); input=$(trim "$input"); cmd=$(trim "$cmd"); want=$(trim "$want")
	msg=$(trim "$msg"); msg=${msg//$'\x01'/|}
	rows=$((rows + 1))
	case $ids in *" $id "*) fail "table: id '$id' twice";; esac
	ids="$ids$id "
	# the devices it names must exist here, or the row is not run
	missing=""
	for v in $(grep -o '\$[A-Z0-9_]*' <<<"$cmd" | tr -d '$'); do
		if [ -z "${!v:-}" ]; then
			w=why_$v; [ -n "${!w:-}" ] || w=why_${v:0:3}
			missing="$v (${!w:-not set})"
		fi
	done
	if [ -n "$missing" ]; then
		note "row $id not run: $missing"
		notrun=$((notrun + 1))
		continue
	fi
	if [ "${input#usage: }" = "$input" ] && ! names_device "$cmd" "$msg"; then
		fail "row $id: its message names none of the command's addresses"
	fi
	re=$(expand_msg "$msg")
	# NAME=VALUE words before the command go into its environment
	envs=""
	while [[ $cmd =~ ^([A-Z_][A-Z0-9_]*=[^ ]*)\ (.*)$ ]]; do
		envs+="${BASH_REMATCH[1]} "
		cmd=${BASH_REMATCH[2]}
	done
	case $cmd in
	"sim: "*)
		# the simulator program prints "exit N: MESSAGE"
		read -r -a argv <<<"${cmd#sim: }"
		"$(dirname "$LYING")/${argv[0]}" "${argv[@]:1}" >"$T/out" 2>&1
		prc=$?
		rc=$(sed -n 's/^exit \([0-9]*\): .*/\1/p' "$T/out")
		sed -n 's/^exit [0-9]*: //p' "$T/out" >"$T/err"
		[ $prc = 0 ] || fail "row $id: the simulator's medium is wrong after the run ($(cat "$T/out"))"
		;;
	"as-nobody blkclone"*)
		eval "$envs setpriv --reuid=65534 --regid=65534 --clear-groups \"\$BLKCLONE\" ${cmd#as-nobody blkclone}" >"$T/out" 2>"$T/err"
		rc=$?
		;;
	blkclone*)
		eval "$envs \"\$BLKCLONE\" ${cmd#blkclone}" >"$T/out" 2>"$T/err"
		rc=$?
		;;
	*)
		fail "row $id: cannot run '$cmd'"; continue
		;;
	esac
	if [ "$rc" = "$want" ] && grep -Eq -- "$re" "$T/err"; then
		pass "$id: exit $rc, $(head -n 1 "$T/err" | cut -c1-160)"
	else
		fail "$id: exit $rc (table: $want); stderr '$(cat "$T/err")' against /$re/"
	fi
done < <(sed -n '/^| id | input | command | exit | message |$/,/^$/p' "$TABLE" | sed '1,2d; /^$/d')

note "$rows rows in $TABLE, $notrun not run"
check "the table has at least 25 rows" test "$rows" -ge 25
check "every row ran here" test "$notrun" = 0

# --- nothing written, nothing left behind ---------------------------------
check "victim file untouched" test "$(md5sum <"$VICTIM")" = "$victim_sum"
check "overlapping loop devices' file untouched" test "$(md5sum <"$OVLFILE")" = "$overlap_sum"
check "small destination untouched (still sparse)" test "$(alloc_bytes "$SMALL")" = 0
check "refused block devices untouched" test "$(alloc_bytes "$T/blk.img")" = 0 -a "$(alloc_bytes "$T/b4k.img")" = 0
check "read-only files untouched" test "$(alloc_bytes "$ROFILE")" = 0 -a "$(alloc_bytes "$T/imm.img")" = 0
[ -n "$MNTDEV" ] && check "mounted filesystem intact" test -d "$T/mnt/lost+found"
[ -n "${XFSLONG:-}" ] && check "files on XFS that refused to clone untouched" \
	test "$(md5sum <"$XFSLONG")$(md5sum <"$XFSNRDST")" = "$xfs_sums"
[ -n "${LUNDST:-}" ] && check "refused LUN untouched" test "$(md5sum <"$T/lundst.img")" = "$lundst_sum"
check "no destination file was left by the refusals" test ! -e "$NEW"
check "files planted where a lock directory or lock file points are untouched" \
	test "$(sums_victims)" = "$victims_sum"
check "nothing was created in unsafe lock directories" \
	test -z "$(find "$NOBODYLOCKS" "$OPENLOCKS" -mindepth 1)"
check "a file where the state directory points is untouched" \
	test "$(md5sum <"$T/statevictims/refusals")" = "$state_sum"
check "nothing was created in unsafe state directories" \
	test -z "$(find "$NOBODYSTATE" "$OPENSTATE" "$T/statevictims" -mindepth 1 ! -name refusals)"
[ -n "$XFSSRC" ] && check "no reflink destination was left by the refusals" test ! -e "$XFSNEW"
check "nothing created under /dev" test ! -e /dev/blkclone-no-such-disk
check "no job row changed a job record (the good one nor the bad ones)" \
	test "$(jobs_sum)" = "$jobs_before"
BLKCLONE_STATE_DIR=$JOBSTATE bcrun 0 "$T/out" "$T/err" job list
check "job list still lists the good job, complete" grep -q "^$JOBGOOD complete" "$T/out"
check "... and names each bad record on stderr" \
	test "$(grep -cE "$JOBNOBODY|$JOBNOTJSON|$JOBHUGE|$JOBFOREIGN|$JOBOTHER" "$T/err")" = 5
BLKCLONE_STATE_DIR=$JOBSTATE bcrun 0 "$T/out" "$T/err" job status "$JOBGOOD"
check "nothing was made where the jobs directory link points" test -z "$(ls -A "$T/jobelsewhere")"
bcrun 2 "$T/out" "$T/err" copy "iscsi://u:s3cr3tpw@127.0.0.1/iqn.2026-11.x:t/1" "$NEW"
check "a password typed into an URL is not echoed" sh -c "! grep -q s3cr3tpw '$T/err' '$T/out'"

# --- usage that is not bad input ----------------------------------------
expect_exit 0 "--version" "$BLKCLONE" --version
expect_exit 0 "--help" "$BLKCLONE" --help
expect_exit 0 "copy --help" "$BLKCLONE" copy --help

# --json on a refusal still prints one object with the error.
bcrun 3 "$T/j" "$T/err" copy --json --offload=require "$SRC" "$VICTIM"
check "json refusal: status failed" grep -q '"status": "failed"' "$T/j"
check "json refusal: error text" grep -q '"error": ".*offload required' "$T/j"

finish
