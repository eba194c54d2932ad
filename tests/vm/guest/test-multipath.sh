#!/bin/sh
# Runs inside the test VM (busybox sh): the SAN stack -- LVM on
# dm-multipath on SCSI LUs -- cloned in the array (issue 20).  A second
# tcm_loop target exports LUs A and B again, so the guest sees each twice
# (two /dev/sdX, one VPD 0x83 designator); dm-multipath maps join them
# (dmsetup, no multipathd) and real lvm2 carves LVs (/etc/lvm/lvm.conf in
# the initramfs: only /dev/mapper/mpath* scanned, no udev).
#   LV to LV in one VG, a two-segment LV onto a one-segment LV and back,
#   LV to LV across two LUs: EXTENDED COPY, nothing through the host;
#   one path offline before a clone: done through the other one;
#   a path going offline during a clone (held at a known point by a
#   suspended source LV): done through the other one;
#   both paths offline: refused (exit 2), nothing written;
#   a map over two different LUs: refused, nothing written;
#   a snapshot (source, and origin as destination) and a thin LV: no
#   EXTENDED COPY (--offload=require refuses with the reason), a host
#   copy through the device-mapper stack with auto.
# Windows are compared with O_DIRECT reads through the maps; what lies
# around them (every other LV, the free space, the PV label) by the
# backing files LIO writes, read directly.  $BC is the binary.
. /guest/lib.sh
export BLKCLONE_LOCK_DIR=/tmp/locks-$$
CFG=/sys/kernel/config/target
P2=$CFG/loopback/naa.5001405b1c000003/tpgt_1
A=$(lu A) B=$(lu B) S=$(lu S) T=$(lu T)
MA=/dev/mapper/mpathA MB=/dev/mapper/mpathB
majmin() { cat "/sys/class/block/${1#/dev/}/dev"; }
state() { echo "$2" >"/sys/block/${1#/dev/}/device/state"; }

# mpath NAME DEV1 DEV2 [SECTORS]: a multipath map over two paths,
# round-robin, over all of DEV1 or its first SECTORS
mpath() {
	echo "0 ${4:-$(blockdev --getsz "$2")} multipath 0 0 1 1 round-robin 0 2 1 $(majmin "$2") 1000 $(majmin "$3") 1000" |
		dmsetup create "$1" && dmsetup mknodes
}
# the paths back in service: SCSI state, then the map's
reinstate() {	# reinstate MAP DEV...
	_m=$1; shift
	for _d in "$@"; do
		state "$_d" running
		dmsetup message "$_m" 0 reinstate_path "$(majmin "$_d")" 2>/dev/null
	done
}
teardown() {
	lvm vgremove -ff -y vgA vgB >/dev/null 2>&1
	lvm pvremove -ff -y $MA $MB >/dev/null 2>&1
	dmsetup remove_all 2>/dev/null
	for _d in $A $B; do state "$_d" running 2>/dev/null; done
	for _l in "$P2"/lun/lun_*; do
		[ -d "$_l" ] || continue
		rm -f "$_l/port" && rmdir "$_l"
	done
	[ -d "$P2" ] && rmdir "$P2" "${P2%/tpgt_1}"
}
# bsum FILE START_MIB LEN_MIB: sha256 of a range of a backing file
bsum() {
	_s=$(dd if="$1" bs=1M skip="$2" count="$3" 2>/dev/null | sha256sum) &&
		echo "${_s%% *}" || echo "unreadable:$1:$2:$$"
}
# around LV FILE: what lies next to the LV on its LU, read from the LU's
# backing file: the MiB before and the MiB after each of its segments
# (their places from the LV's table; the map starts at the LU's first
# block; the extents there are left free, holding data written before the
# LVs were made: the guards) and the first MiB (the PV label).  Not all
# of the LU: hashing is slow under TCG (some 20 MB/s).
around() {
	_out=$(bsum "$2" 0 1)
	for _seg in $(dmsetup table "$1" | awk '$3 == "linear" { print $5 / 2048 ":" $2 / 2048 }'); do
		_st=${_seg%:*} _len=${_seg#*:}
		_out="$_out+$(bsum "$2" $((_st - 1)) 1)+$(bsum "$2" $((_st + _len)) 1)"
	done
	echo "$_out"
}
segs() { dmsetup table "$1" | grep -c ' linear '; }
host0() { grep -q '"read_bytes": 0,' /tmp/out && grep -q '"written_bytes": 0,' /tmp/out; }
fresh() { dd if=/dev/urandom of="$1" bs=1M count="$2" oflag=direct 2>/dev/null; }
teardown
modprobe dm-multipath 2>/dev/null; modprobe dm-round-robin 2>/dev/null
modprobe dm-snapshot 2>/dev/null; modprobe dm-thin-pool 2>/dev/null

echo "# t=$(cut -d' ' -f1 /proc/uptime)"
# --- the second path: another tcm_loop target (its own SCSI host) over
# the backstores of A and B, as LUNs 0 and 1
before=" $(ls /sys/block | grep '^sd' | tr '\n' ' ') "
mkdir -p "$P2" && echo naa.5001405b1c0000fd >"$P2/nexus" &&
	mkdir "$P2/lun/lun_0" "$P2/lun/lun_1" &&
	ln -s "$CFG"/core/fileio_*/a "$P2/lun/lun_0/port" &&
	ln -s "$CFG"/core/fileio_*/b "$P2/lun/lun_1/port"
A2='' B2='' i=0
while { [ -z "$A2" ] || [ -z "$B2" ]; } && [ $i -lt 1200 ]; do
	for d in $(ls /sys/block | grep '^sd'); do
		case $before in *" $d "*) continue ;; esac
		[ -e "/sys/block/$d/device" ] || continue
		case $(basename "$(readlink -f "/sys/block/$d/device")") in
		*:0) A2=/dev/$d ;;
		*:1) B2=/dev/$d ;;
		esac
	done
	[ -n "$A2" ] && [ -n "$B2" ] || sleep 0.1
	i=$((i + 1))
done
for d in $A2 $B2; do sg_turs "$d" >/dev/null 2>&1; sg_turs "$d" >/dev/null 2>&1; done	# UNIT ATTENTION
echo "# $BC; A=$A+$A2 B=$B+$B2 S=$S T=$T"
if [ -z "$A2" ] || [ -z "$B2" ]; then
	fail "a second tcm_loop path to A and B (got '$A2' '$B2')"
	teardown
	finish
	exit 1
fi

echo "# t=$(cut -d' ' -f1 /proc/uptime)"
# --- the maps, data everywhere LVM will put LVs, and the LVs placed by
# hand (physical extents of 1 MiB): a free extent before, between and
# after every window -- the guards, holding the data written here -- and
# one LV in two segments.  What is made later (snapshot, thin pool) goes
# from extent 100 on.  (LVM puts the first extent at LIO's optimal
# transfer length, 8 MiB.)
mpath mpathA "$A" "$A2" && mpath mpathB "$B" "$B2"
check "two multipath maps, two paths each" test -b $MA -a -b $MB
fresh $MA 32; fresh $MB 16
lvm pvcreate -ff -y $MA $MB >/dev/null 2>&1 &&
	lvm vgcreate -s 1M vgA $MA >/dev/null 2>&1 && lvm vgcreate -s 1M vgB $MB >/dev/null 2>&1
lvc() { lvm lvcreate -y -Wn -Zn "$@" >/dev/null 2>&1; }
lvc -L 4M -n src vgA $MA:1-4 && lvc -L 4M -n dst vgA $MA:6-9 &&
	lvc -L 4M -n two vgA $MA:11-12 $MA:14-15 && lvc -L 4M -n one vgA $MA:17-20 &&
	lvc -L 4M -n bdst vgB $MB:1-4
check "LVs on the maps: vgA/src, vgA/dst, vgA/two, vgA/one, vgB/bdst" \
	test -b /dev/vgA/src -a -b /dev/vgA/dst -a -b /dev/vgA/two -a -b /dev/vgA/one -a -b /dev/vgB/bdst
check "vgA/two has two segments, apart ($(dmsetup table vgA-two | tr '\n' ';'))" test "$(segs vgA-two)" = 2
pe=$(lvm pvs --noheadings --units s -o pe_start $MA $MB | tr -d ' S' | sort -n | tail -n 1)
check "the data written covers every LV and guard (first extent at sector $pe)" test $((pe / 2048 + 22)) -le 32 -a $((pe / 2048 + 6)) -le 16
lvm lvs -o lv_name,seg_pe_ranges vgA vgB 2>/dev/null | sed 's/^/#   /'

"$BC" probe /dev/vgA/src /dev/vgA/dst >/tmp/probe 2>&1
check "probe shows the multipath layer" grep -q 'multipath' /tmp/probe
check "probe plans EXTENDED COPY for LV to LV on a multipathed LU" has "^Plan: xcopy-lid1" /tmp/probe

echo "# t=$(cut -d' ' -f1 /proc/uptime)"
# --- LV to LV in one VG on one multipathed LU
g=$(around vgA-dst /backing/a.img)
expect_exit 0 "LV to LV on one multipathed LU, --offload=require" \
	"$BC" copy --offload=require --json /dev/vgA/src /dev/vgA/dst
check "by EXTENDED COPY" has '"method": "xcopy-lid1"' /tmp/out
check "4 MiB offloaded" has '"offloaded_bytes": 4194304,' /tmp/out
check "no byte through the host" host0
check "the LV clone is byte-equal (O_DIRECT through the map)" test "$(sum /dev/vgA/dst)" = "$(sum /dev/vgA/src)"
check "the LU around the destination LV is untouched" test "$(around vgA-dst /backing/a.img)" = "$g"

echo "# t=$(cut -d' ' -f1 /proc/uptime)"
# --- a two-segment LV onto a one-segment LV, and back
fresh /dev/vgA/two 4
g=$(around vgA-one /backing/a.img)
expect_exit 0 "two-segment LV onto a one-segment LV, --offload=require" \
	"$BC" copy --offload=require --json /dev/vgA/two /dev/vgA/one
check "4 MiB offloaded" has '"offloaded_bytes": 4194304,' /tmp/out
check "no byte through the host" host0
check "the two-segment clone is byte-equal" test "$(sum /dev/vgA/one)" = "$(sum /dev/vgA/two)"
check "the LU around the destination LV is untouched" test "$(around vgA-one /backing/a.img)" = "$g"
g=$(around vgA-two /backing/a.img)
expect_exit 0 "one-segment LV onto a two-segment LV, --offload=require" \
	"$BC" copy --offload=require --json /dev/vgA/src /dev/vgA/two
check "4 MiB offloaded" has '"offloaded_bytes": 4194304,' /tmp/out
check "no byte through the host" host0
check "the clone into two segments is byte-equal" test "$(sum /dev/vgA/two)" = "$(sum /dev/vgA/src)"
check "the LU around and between the two segments is untouched" test "$(around vgA-two /backing/a.img)" = "$g"

echo "# t=$(cut -d' ' -f1 /proc/uptime)"
# --- LV to LV across two LUs of the target (two CSCDs)
g=$(around vgB-bdst /backing/b.img)
expect_exit 0 "LV to LV across two multipathed LUs of one target, --offload=require" \
	"$BC" copy --offload=require --json /dev/vgA/src /dev/vgB/bdst
check "no byte through the host" host0
check "the cross-LU clone is byte-equal" test "$(sum /dev/vgB/bdst)" = "$(sum /dev/vgA/src)"
check "LU B around the destination LV is untouched" test "$(around vgB-bdst /backing/b.img)" = "$g"

echo "# t=$(cut -d' ' -f1 /proc/uptime)"
# --- one path offline before the clone: the map's first path, where
# commands go while it runs (the second path offline changes nothing for
# them); the map still has the other, and the clone goes through it
for p in "$A"; do
	fresh /dev/vgA/dst 4
	g=$(around vgA-dst /backing/a.img)
	state "$p" offline
	expect_exit 0 "path $p offline: LV to LV, --offload=require" \
		"$BC" copy --offload=require --json /dev/vgA/src /dev/vgA/dst
	check "path $p offline: no byte through the host" host0
	check "path $p offline: the clone is byte-equal" test "$(sum /dev/vgA/dst)" = "$(sum /dev/vgA/src)"
	reinstate mpathA "$p"
	check "path $p offline: the LU around the LV is untouched" test "$(around vgA-dst /backing/a.img)" = "$g"
done

echo "# t=$(cut -d' ' -f1 /proc/uptime)"
# --- a path going offline during a clone, at a known point: the source
# LV is suspended (device-mapper holds its I/O), so the clone, once it has
# opened and checked the stack, waits in its flush of the source -- in
# the kernel, process state D -- before any EXTENDED COPY; then the path
# goes offline and the source is resumed.  The clone's commands meet the
# dead path and must go on through the other one.  The first path, as
# above.
# blocked PID: until PID waits in the kernel (state D; 60 s at most)
blocked() {
	i=0
	while [ $i -lt 600 ]; do
		[ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" = D ] && return 0
		kill -0 "$1" 2>/dev/null || return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
for p in "$A"; do
	fresh /dev/vgA/dst 4
	g=$(around vgA-dst /backing/a.img)
	dmsetup suspend vgA-src
	"$BC" copy --offload=require --json /dev/vgA/src /dev/vgA/dst >/tmp/out 2>/tmp/err &
	pid=$!
	check "path $p offline during a clone: the clone waits on the suspended source" blocked $pid
	state "$p" offline
	dmsetup resume vgA-src
	wait $pid
	rc=$?
	check "path $p offline during a clone: exit 0 ($(head -c 300 /tmp/err))" test $rc = 0
	check "path $p offline during a clone: no byte through the host" host0
	check "path $p offline during a clone: byte-equal" test "$(sum /dev/vgA/dst)" = "$(sum /dev/vgA/src)"
	reinstate mpathA "$p"
	check "path $p offline during a clone: the LU around the LV is untouched" test "$(around vgA-dst /backing/a.img)" = "$g"
done

echo "# t=$(cut -d' ' -f1 /proc/uptime)"
# --- both paths offline: nothing can be read or written; a clean
# refusal that writes nothing, in the array or on the host
fresh /dev/vgA/dst 4
d0=$(sum /dev/vgA/dst) g=$(around vgA-dst /backing/a.img)
state "$A" offline; state "$A2" offline
# Refused when the stack is opened: every path of the map is offline.
nopath="open: dm-[0-9]* (multipath): no active path (${A#/dev/} offline, ${A2#/dev/} offline)"
expect_exit 2 "no path left: --offload=require is refused before any write" \
	"$BC" copy --offload=require /dev/vgA/src /dev/vgA/dst
check "the refusal says no path is left ($(head -c 300 /tmp/err))" grep -q "^blkclone: /dev/vgA/src: $nopath" /tmp/err
expect_exit 2 "no path left: auto is refused before any write" "$BC" copy /dev/vgA/src /dev/vgA/dst
check "the refusal says no path is left ($(head -c 300 /tmp/err))" grep -q "^blkclone: /dev/vgA/src: $nopath" /tmp/err
reinstate mpathA "$A" "$A2"
check "no path left: the destination LV is as it was" test "$(sum /dev/vgA/dst)" = "$d0"
check "no path left: the LU around the LV is untouched" test "$(around vgA-dst /backing/a.img)" = "$g"

echo "# t=$(cut -d' ' -f1 /proc/uptime)"
# --- one map over two different LUs (S and T): its paths disagree on
# the designator; refused, nothing written
fresh "$S" 8; fresh "$T" 8
s0=$(bsum /backing/s.img 0 8) t0=$(bsum /backing/t.img 0 8)	# the 4 MiB source would land there
diff="(multipath): paths ${S#/dev/} and ${T#/dev/} name different LUs (naa:[0-9a-f]* vs naa:[0-9a-f]*)"
if mpath mpathX "$S" "$T" 8192; then	# 4 MiB, as the LVs
	expect_exit 2 "a map whose paths are two LUs, as destination" \
		"$BC" copy --offload=require /dev/vgA/src /dev/mapper/mpathX
	check "the refusal names the paths and their LUs ($(head -c 300 /tmp/err))" grep -q "$diff" /tmp/err
	expect_exit 2 "the same, with auto (no host copy either)" \
		"$BC" copy /dev/vgA/src /dev/mapper/mpathX
	check "the refusal names the paths and their LUs ($(head -c 300 /tmp/err))" grep -q "$diff" /tmp/err
	expect_exit 2 "a map whose paths are two LUs, as source" \
		"$BC" copy --offload=require /dev/mapper/mpathX /dev/vgA/dst
	check "the refusal names the paths and their LUs ($(head -c 300 /tmp/err))" grep -q "$diff" /tmp/err
	dmsetup remove mpathX
	check "both LUs are untouched (their backing files)" \
		test "$(bsum /backing/s.img 0 8)" = "$s0" -a "$(bsum /backing/t.img 0 8)" = "$t0"
	check "and so is the LV" test "$(sum /dev/vgA/dst)" = "$d0"
else
	fail "dm-multipath refused a map over $S and $T"
fi

echo "# t=$(cut -d' ' -f1 /proc/uptime)"
# --- snapshots: the origin as destination (EXTENDED COPY would bypass
# the copy-on-write and change the snapshot), the snapshot as source
fresh /dev/vgA/dst 4
d0=$(sum /dev/vgA/dst)
if lvm lvcreate -y -s -L 8M -n dsnap vgA/dst $MA:100-199 >/tmp/lvm.err 2>&1; then
	expect_exit 3 "a snapshot's origin as destination, --offload=require" \
		"$BC" copy --offload=require /dev/vgA/src /dev/vgA/dst
	check "the reason says snapshot ($(head -c 300 /tmp/err))" grep -qi 'snapshot' /tmp/err
	check "the origin is untouched" test "$(sum /dev/vgA/dst)" = "$d0"
	expect_exit 0 "a snapshot's origin as destination, auto" \
		"$BC" copy --json /dev/vgA/src /dev/vgA/dst
	check "copied on the host" has '"method": "host"' /tmp/out
	check "the fallback says snapshot" grep -qi '"reason": "[^"]*snapshot' /tmp/out
	check "the origin now equals the source" test "$(sum /dev/vgA/dst)" = "$(sum /dev/vgA/src)"
	check "the snapshot still holds the old data" test "$(sum /dev/vgA/dsnap)" = "$d0"
	fresh /dev/vgA/one 4
	expect_exit 3 "a snapshot as source, --offload=require" \
		"$BC" copy --offload=require /dev/vgA/dsnap /dev/vgA/one
	check "the reason says snapshot ($(head -c 300 /tmp/err))" grep -qi 'snapshot' /tmp/err
	expect_exit 0 "a snapshot as source, auto" "$BC" copy --json /dev/vgA/dsnap /dev/vgA/one
	check "copied on the host" has '"method": "host"' /tmp/out
	check "the copy equals the snapshot" test "$(sum /dev/vgA/one)" = "$d0"
	lvm lvremove -f vgA/dsnap >/dev/null 2>&1
else
	fail "lvcreate --snapshot of vgA/dst failed: $(cat /tmp/lvm.err)"
fi

echo "# t=$(cut -d' ' -f1 /proc/uptime)"
# --- a thin LV: 2 MiB written in 4, the rest unprovisioned (reads zero)
if lvm lvcreate -y -L 8M -T vgA/pool $MA:200-299 >/tmp/lvm.err 2>&1 &&
   lvm lvcreate -y -V 4M -T vgA/pool -n tlv >>/tmp/lvm.err 2>&1; then
	dd if=/dev/urandom of=/dev/vgA/tlv bs=1M seek=1 count=2 oflag=direct 2>/dev/null
	expect_exit 3 "a thin LV as source, --offload=require" \
		"$BC" copy --offload=require /dev/vgA/tlv /dev/vgA/one
	check "the reason says thin ($(head -c 300 /tmp/err))" grep -qi 'thin' /tmp/err
	expect_exit 0 "a thin LV as source, auto" "$BC" copy --json /dev/vgA/tlv /dev/vgA/one
	check "copied on the host" has '"method": "host"' /tmp/out
	check "the fallback says thin" grep -qi '"reason": "[^"]*thin' /tmp/out
	check "the copy equals the thin LV" test "$(sum /dev/vgA/one)" = "$(sum /dev/vgA/tlv)"
	expect_exit 3 "a thin LV as destination, --offload=require" \
		"$BC" copy --offload=require /dev/vgA/src /dev/vgA/tlv
	check "the reason says thin" grep -qi 'thin' /tmp/err
	expect_exit 0 "a thin LV as destination, auto" "$BC" copy /dev/vgA/src /dev/vgA/tlv
	check "the thin LV equals the source" test "$(sum /dev/vgA/tlv)" = "$(sum /dev/vgA/src)"
else
	fail "lvcreate of a thin pool and thin LV failed: $(cat /tmp/lvm.err)"
fi

teardown
check "the second path is gone again" test ! -e "$A2"
echo "# t=$(cut -d' ' -f1 /proc/uptime)"
finish
