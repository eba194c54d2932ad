#!/bin/bash
# Reflink (FICLONERANGE) between image files on a loop-mounted XFS made
# with reflink=1, and on btrfs where the kernel has it.  Judged without
# blkclone's word: cmp for the bytes, filefrag for what the destination
# holds and shares, sha256sum for refusals, and strace for every clone
# blkclone asked the kernel for (none may be of length 0, "to the end of
# the source", and together they cover exactly the source's data).
. "$(dirname "$0")/../lib/common.sh"
need_root
for t in mkfs.xfs strace filefrag jq; do
	command -v $t >/dev/null || { echo "$t missing: run tests/install-deps.sh"; exit 1; }
done
export BLKCLONE_STATE_DIR=$T/state	# no refusal memory from elsewhere
MB=64

# shared_bytes FILE: bytes of extents filefrag flags "shared" (cloned)
shared_bytes() {
	sync "$1"
	filefrag -v "$1" | awk '
		/blocks of [0-9]+ bytes/ { for (i = 1; i <= NF; i++) if ($i == "blocks") bs = $(i + 2) }
		/^ *[0-9]+: / && /shared/ { l = $0; gsub(/ /, "", l); split(l, f, ":"); n += f[4] }
		END { printf "%d\n", n * bs }'
}

# clones TRACE: "calls zero-length bytes" of the successful FICLONERANGEs
clones() {
	awk '/FICLONERANGE/ && / = 0$/ {
		n++
		if (match($0, /src_length=[0-9]+/)) {
			len = substr($0, RSTART + 11, RLENGTH - 11); sum += len
			if (len == 0) zero++
		}
	} END { printf "%d %d %d\n", n, zero, sum }' "$1"
}

# traced LABEL args...: blkclone under strace; exit status in $rc
traced() {
	local label=$1; shift
	# LeakSanitizer stops the world with ptrace, which strace holds:
	# traced runs of a sanitizer build skip the leak check (the untraced
	# runs here keep it)
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	strace -f -qq -e trace=ioctl -o "$T/$label.trace" "$BLKCLONE" "$@" \
		>"$T/$label.json" 2>"$T/$label.err"
	rc=$?
}

mount_fs() {	# mount_fs NAME MKFS-COMMAND...: a fresh filesystem on $T/NAME
	local name=$1; shift
	truncate -s 1G "$T/$name.fs"
	"$@" "$T/$name.fs" >/dev/null 2>&1 || return 1
	mkdir -p "$T/$name"
	mount -o loop "$T/$name.fs" "$T/$name" || return 1
	echo "$T/$name" >>"$T/.mounts"
}
unmount_all() {
	[ -f "$T/.mounts" ] || return 0
	while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done <"$T/.mounts"
}
CLEANUP_HOOKS="unmount_all $CLEANUP_HOOKS"

run_fs() {	# run_fs FS DIR
	local fs=$1 d=$2 alloc size=$((MB << 20)) n zero sum before

	make_sparse "$d/src.img" $MB 24 1024 9
	alloc=$(alloc_bytes "$d/src.img")
	note "$fs: source $size bytes, $alloc allocated"

	# A. onto old data: the data is cloned, every hole zeroed (the old
	#    data there is not proven zero), nothing read or written.
	dd if=/dev/urandom of="$d/old.img" bs=1M count=$MB status=none
	traced "$fs-a" copy --offload=require --json "$d/src.img" "$d/old.img"
	check "$fs A: require onto old data exits 0 ($(head -n 1 "$T/$fs-a.err"))" test $rc = 0
	check "$fs A: identical" cmp -s "$d/src.img" "$d/old.img"
	check "$fs A: method reflink" test "$(json_get "$T/$fs-a.json" method)" = reflink
	check "$fs A: offloaded_bytes = the source's allocation ($alloc)" \
		test "$(json_get "$T/$fs-a.json" offloaded_bytes)" = "$alloc"
	check "$fs A: holes counted as zeroed ($((size - alloc)), got $(json_get "$T/$fs-a.json" zeroed_bytes))" \
		test "$(json_get "$T/$fs-a.json" zeroed_bytes)" = $((size - alloc))
	check "$fs A: nothing counted as skipped (got $(json_get "$T/$fs-a.json" skipped_bytes))" \
		test "$(json_get "$T/$fs-a.json" skipped_bytes)" = 0
	check "$fs A: nothing read or written by the host" \
		test "$(json_get "$T/$fs-a.json" read_bytes)/$(json_get "$T/$fs-a.json" written_bytes)" = 0/0
	check "$fs A: the destination shares exactly the source's data (filefrag: $(shared_bytes "$d/old.img"))" \
		test "$(shared_bytes "$d/old.img")" = "$alloc"
	check "$fs A: the destination holds nothing else" test "$(alloc_bytes "$d/old.img")" = "$alloc"
	read -r n zero sum <<<"$(clones "$T/$fs-a.trace")"
	check "$fs A: no clone of length 0 (strace: $zero of $n)" test "$n" -gt 0 -a "$zero" = 0
	check "$fs A: the clones cover exactly the data (strace: $sum bytes)" test "$sum" = "$alloc"

	# B. into a new file: its holes are proven zero, so skipped.
	traced "$fs-b" copy --offload=require --json "$d/src.img" "$d/new.img"
	check "$fs B: require into a new file exits 0 ($(head -n 1 "$T/$fs-b.err"))" test $rc = 0
	check "$fs B: identical" cmp -s "$d/src.img" "$d/new.img"
	check "$fs B: offloaded_bytes = the allocation" \
		test "$(json_get "$T/$fs-b.json" offloaded_bytes)" = "$alloc"
	check "$fs B: holes skipped, none zeroed" \
		test "$(json_get "$T/$fs-b.json" skipped_bytes)/$(json_get "$T/$fs-b.json" zeroed_bytes)" = $((size - alloc))/0
	check "$fs B: shares exactly the source's data" test "$(shared_bytes "$d/new.img")" = "$alloc"
	read -r n zero sum <<<"$(clones "$T/$fs-b.trace")"
	check "$fs B: no clone of length 0, exactly the data ($zero of $n, $sum bytes)" \
		test "$zero" = 0 -a "$sum" = "$alloc"

	# C. a size that ends in a partial filesystem block (129 x 512 bytes)
	#    onto a file of the same size: the tail is cloned with its own
	#    length, and counted as such.
	head -c 66048 /dev/urandom >"$d/odd.img"
	head -c 66048 /dev/urandom >"$d/odd-dst.img"
	traced "$fs-c" copy --offload=require --json "$d/odd.img" "$d/odd-dst.img"
	check "$fs C: partial last block onto an equal size exits 0 ($(head -n 1 "$T/$fs-c.err"))" test $rc = 0
	check "$fs C: identical" cmp -s "$d/odd.img" "$d/odd-dst.img"
	check "$fs C: offloaded_bytes = 66048" test "$(json_get "$T/$fs-c.json" offloaded_bytes)" = 66048
	read -r n zero sum <<<"$(clones "$T/$fs-c.trace")"
	check "$fs C: one clone of 66048 bytes, not 0 (strace: $n calls, $zero of length 0, $sum bytes)" \
		test "$n/$zero/$sum" = 1/0/66048

	# D. the same onto a longer file: a partial block cannot be cloned
	#    inside a file.  require refuses with exit 3 and the destination
	#    keeps every byte; auto copies on the host instead.
	head -c 1M /dev/urandom >"$d/long.img"
	cp "$d/long.img" "$T/long.orig"
	before=$(sha256sum <"$d/long.img")
	traced "$fs-d" copy --offload=require --json "$d/odd.img" "$d/long.img"
	check "$fs D: require onto a longer file exits 3 ($(head -n 1 "$T/$fs-d.err"))" test $rc = 3
	check "$fs D: the refusal says why" grep -q 'partial last block' "$T/$fs-d.err"
	check "$fs D: the destination is unchanged (sha256)" test "$(sha256sum <"$d/long.img")" = "$before"
	read -r n zero sum <<<"$(clones "$T/$fs-d.trace")"
	check "$fs D: no clone was attempted (strace: $(grep -c FICLONERANGE "$T/$fs-d.trace"))" \
		test "$(grep -c FICLONERANGE "$T/$fs-d.trace")" = 0
	"$BLKCLONE" copy --json "$d/odd.img" "$d/long.img" >"$T/$fs-d2.json" 2>"$T/$fs-d2.err"
	rc=$?; check "$fs D: auto falls back to the host, exit 0 ($(head -n 1 "$T/$fs-d2.err"))" test $rc = 0
	check "$fs D: auto's copy is identical" cmp -s -n 66048 "$d/odd.img" "$d/long.img"
	check "$fs D: beyond the source, the destination is unchanged" \
		cmp -s -i 66048 "$d/long.img" "$T/long.orig"
	check "$fs D: auto says it fell back" grep -q '"reason": ".*partial last block' "$T/$fs-d2.json"
	rm -f "$d"/*.img
}

# A reflink job is atomic: "job start" returns with every data extent of
# the source already cloned, so what the source gets after that (data
# written over data, and over a hole) is not in the clone.  Judged by cmp
# against a full copy made before the start (cp --reflink=never), and by
# the order of the system calls (strace): every clone comes before the
# job's id is printed, none after, whatever the run's speed.
run_job() {	# run_job DIR
	local d=$1 id alloc

	make_sparse "$d/jsrc.img" 32 12 512 5
	alloc=$(alloc_bytes "$d/jsrc.img")
	cp --reflink=never --sparse=always "$d/jsrc.img" "$T/jsrc.saved"
	# the first data block and the first hole
	local data hole
	data=$(python3 -c 'import os,sys; f=os.open(sys.argv[1],os.O_RDONLY); print(os.lseek(f,0,os.SEEK_DATA))' "$d/jsrc.img")
	hole=$(python3 -c 'import os,sys; f=os.open(sys.argv[1],os.O_RDONLY); print(os.lseek(f,0,os.SEEK_HOLE))' "$d/jsrc.img")
	"$BLKCLONE" job start --offload=require --json "$d/jsrc.img" "$d/jdst.img" \
		>"$T/job-start.json" 2>"$T/job-start.err"
	rc=$?
	check "job: start of a reflink pair exits 0 ($(head -n 1 "$T/job-start.err"))" test $rc = 0
	id=$(jq -r .id "$T/job-start.json")
	check "job: start says atomic, method reflink ($(jq -c '[.consistency, .pairs[0].method, .pairs[0].consistency]' "$T/job-start.json"))" \
		test "$(jq -c '[.consistency, .pairs[0].method, .pairs[0].consistency]' "$T/job-start.json")" = '["atomic","reflink","atomic"]'
	# over data, and over a hole, of the source, once start returned
	dd if=/dev/urandom of="$d/jsrc.img" bs=4096 seek=$((data / 4096)) count=16 conv=notrunc status=none
	dd if=/dev/urandom of="$d/jsrc.img" bs=4096 seek=$((hole / 4096)) count=16 conv=notrunc status=none
	check "job: the overwrites changed the source" \
		test "$(cmp -s "$d/jsrc.img" "$T/jsrc.saved"; echo $?)" = 1
	"$BLKCLONE" job wait --timeout=300 "$id" >/dev/null 2>"$T/job-wait.err"
	rc=$?
	check "job: wait exits 0 ($(head -n 1 "$T/job-wait.err"))" test $rc = 0
	check "job: the clone holds the source as it was at start (cmp)" \
		cmp "$d/jdst.img" "$T/jsrc.saved"
	"$BLKCLONE" job status --json "$id" >"$T/job-status.json"
	check "job: status says complete, atomic ($(jq -c '[.state, .consistency, .pairs[0].consistency]' "$T/job-status.json"))" \
		test "$(jq -c '[.state, .consistency, .pairs[0].consistency]' "$T/job-status.json")" = '["complete","atomic","atomic"]'
	check "job: the report says offloaded_bytes = the allocation at start ($alloc)" \
		test "$(jq '.pairs[0].report.offloaded_bytes' "$T/job-status.json")" = "$alloc"

	# The order, by strace: every FICLONERANGE before the id is written
	# (strace follows the job to its end; a start that left the clones
	# to the run shows them after).
	rm -f "$d/jdst.img"
	cp --reflink=never --sparse=always "$T/jsrc.saved" "$d/jsrc.img"
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	strace -f -qq -e trace=ioctl,write -o "$T/job.trace" \
		"$BLKCLONE" job start --offload=require "$d/jsrc.img" "$d/jdst.img" \
		>"$T/job-start.out" 2>"$T/job-start.err"
	rc=$?
	id=$(cat "$T/job-start.out")
	check "job (traced): start exits 0 with an id ($id; $(head -n 1 "$T/job-start.err"))" \
		test $rc = 0 -a -n "$id"
	"$BLKCLONE" job wait --timeout=300 "$id" >/dev/null 2>&1
	local told last n
	told=$(grep -n "write(1, \"$id" "$T/job.trace" | head -n 1 | cut -d: -f1)
	last=$(grep -n 'FICLONERANGE.* = 0$' "$T/job.trace" | tail -n 1 | cut -d: -f1)
	n=$(grep -c 'FICLONERANGE.* = 0$' "$T/job.trace")
	check "job (traced): $n clones, the last (line ${last:-none}) before the id is printed (line ${told:-none})" \
		test -n "$told" -a -n "$last" -a "${last:-0}" -lt "${told:-0}"
	check "job (traced): identical" cmp "$d/jdst.img" "$T/jsrc.saved"
	"$BLKCLONE" probe --json "$d/jsrc.img" "$d/jdst.img" >"$T/probe.json" 2>"$T/probe.err"
	check "probe: a reflink pair is atomic, and says why ($(jq -c '[.plan.method, .plan.consistency]' "$T/probe.json"))" \
		test "$(jq -c '[.plan.method, .plan.consistency]' "$T/probe.json")" = '["reflink","atomic"]'
	check "probe: the reason names the clones at start" \
		grep -q '"consistency_reason": "start clones every data extent' "$T/probe.json"
	rm -f "$d"/j*.img
}

if mount_fs xfs mkfs.xfs -f -m reflink=1; then
	run_fs xfs "$T/xfs"
	run_job "$T/xfs"
else
	fail "cannot make and mount XFS with reflink=1"
fi

# XFS without reflink: known from its geometry before anything is sent.
if mount_fs xfsnr mkfs.xfs -f -m reflink=0; then
	make_sparse "$T/xfsnr/src.img" 16 4 256 2
	dd if=/dev/urandom of="$T/xfsnr/dst.img" bs=1M count=16 status=none
	before=$(sha256sum <"$T/xfsnr/dst.img")
	traced nr copy --offload=require "$T/xfsnr/src.img" "$T/xfsnr/dst.img"
	check "XFS reflink=0: require exits 3 ($(head -n 1 "$T/nr.err"))" test $rc = 3
	check "XFS reflink=0: the destination is unchanged" \
		test "$(sha256sum <"$T/xfsnr/dst.img")" = "$before"
	check "XFS reflink=0: nothing was cloned (strace)" \
		test "$(grep -c 'FICLONERANGE.* = 0$' "$T/nr.trace")" = 0
else
	fail "cannot make and mount XFS with reflink=0"
fi

if grep -qw btrfs /proc/filesystems && command -v mkfs.btrfs >/dev/null; then
	if mount_fs btrfs mkfs.btrfs -f; then
		run_fs btrfs "$T/btrfs"
	else
		fail "btrfs is in the kernel but a btrfs could not be made and mounted"
	fi
else
	note "btrfs not tested: $(grep -qw btrfs /proc/filesystems || echo 'not in this kernel'; command -v mkfs.btrfs >/dev/null || echo 'no mkfs.btrfs (btrfs-progs)')"
fi

finish
