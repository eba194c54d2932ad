#!/bin/sh
# Runs inside the test VM (busybox sh): one LU, or one file, reached two
# ways is one volume.  /dev/sgN against /dev/sdX of one LU; /dev/sgN as a
# destination while its sd device is claimed, mounted or written by
# another blkclone; the LU's designator locks held by SG_IO destinations
# (a whole LU exclusively, an LV shared) against an iSCSI writer of the
# same LU; a second tcm_loop path to one LU (its partitions, a by-id
# link, a dm-multipath device over both paths); a loop device's
# partitions, its backing file and a dm-linear volume over it.  Every
# refusal exits 2 and leaves the bytes as they were (O_DIRECT reads);
# every copy that must run is compared the same way.  $BC is the binary.
. /guest/lib.sh
export BLKCLONE_LOCK_DIR=/tmp/locks-$$
CFG=/sys/kernel/config/target
IQN=iqn.2026-11.test.blkclone:lio
A=$(lu A) S=$(lu S) T=$(lu T)
sg_of() { echo "/dev/$(ls "/sys/block/${1#/dev/}/device/scsi_generic")"; }
majmin() { cat "/sys/class/block/${1#/dev/}/dev"; }
naa_of() { "$BC" probe "$1" | sed -n 's/^  designator: *naa //p' | head -n 1; }
SG_S=$(sg_of "$S") SG_T=$(sg_of "$T")
echo "# $BC; S=$S ($SG_S) T=$T ($SG_T) A=$A"
[ -c "$SG_S" ] && [ -c "$SG_T" ] || { echo "not ok - no sg nodes"; exit 1; }
mbr_entry() {	# mbr_entry START SECTORS: one primary Linux partition, LBA only
	printf '\000\376\377\377\203\376\377\377'
	for v in "$1" "$2"; do
		printf "\\$(printf %03o $((v & 255)))\\$(printf %03o $((v >> 8 & 255)))"
		printf "\\$(printf %03o $((v >> 16 & 255)))\\$(printf %03o $((v >> 24 & 255)))"
	done
}
# wait_lock PID: until a LU lock file names PID (60 s at most, or PID ended)
wait_lock() {
	i=0
	while [ $i -lt 600 ]; do
		grep -qs "pid $1 writing" "$BLKCLONE_LOCK_DIR"/lu-*.lock && return 0
		kill -0 "$1" 2>/dev/null || return 1
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
dmsetup remove_all 2>/dev/null

# --- /dev/sgN and /dev/sdX of one LU
dd if=/dev/urandom of="$S" bs=1M count=64 oflag=direct 2>/dev/null
s0=$(sum "$S")
expect_exit 2 "/dev/sgN onto /dev/sdX of one LU" "$BC" copy "$SG_S" "$S"
check "the refusal says it is the same volume" has "check: source and destination are the same volume" /tmp/err
expect_exit 2 "/dev/sdX onto /dev/sgN of one LU" "$BC" copy "$S" "$SG_S"
check "the refusal says it is the same volume" has "check: source and destination are the same volume" /tmp/err
check "the LU is untouched" test "$(sum "$S")" = "$s0"

# --- /dev/sgN as a destination goes through its sd device, O_EXCL
dd if=/dev/urandom of="$T" bs=1M count=64 oflag=direct 2>/dev/null
t0=$(sum "$T")
echo "0 8192 linear $T 0" | dmsetup create bc_claim	# the kernel holds $T
expect_exit 2 "/dev/sgN while its sd device is claimed (dm)" "$BC" copy "$S" "$SG_T"
check "the refusal says in use, through the sd device" \
	has "$SG_T: open: device is in use .*(its disk device $T)" /tmp/err
expect_exit 2 "zero of /dev/sgN while its sd device is claimed" "$BC" zero "$SG_T"
check "the claimed LU is untouched" test "$(sum "$T")" = "$t0"
dmsetup remove bc_claim
# a filesystem on the first half of T: the kernel may write it while it
# is mounted, so the oracle is the second half, which nothing but a
# copy onto T would write
tail_sum() { sum_range "$1" 32 32; }
if mke2fs -q "$T" 32768 >/dev/null 2>&1 && mkdir -p /mnt/t && mount -t ext2 "$T" /mnt/t; then
	echo hello >/mnt/t/file && sync
	t0=$(tail_sum "$T")
	expect_exit 2 "/dev/sgN while its sd device is mounted" "$BC" copy "$S" "$SG_T"
	check "the refusal says in use" has "device is in use" /tmp/err
	check "nothing was written to the LU" test "$(tail_sum "$T")" = "$t0"
	check "the mounted filesystem still holds its file" test "$(cat /mnt/t/file)" = hello
	umount /mnt/t
else
	fail "cannot make and mount an ext2 filesystem on $T (mke2fs, ext4 module)"
fi
expect_exit 0 "/dev/sgN as a destination, nothing holding it" "$BC" copy "$S" "$SG_T"
check "the copy through /dev/sgN is byte-equal" test "$(sum "$T")" = "$(sum "$S")"

# --- the LU's designator locks: a whole LU over SG_IO against iSCSI
dd if=/dev/urandom of="$A" bs=1M count=128 oflag=direct 2>/dev/null
echo "0 131072 linear $A 0" | dmsetup create bc_gate && dmsetup mknodes
dmsetup suspend bc_gate		# the holder's reads wait here
"$BC" copy --offload=never /dev/mapper/bc_gate "$T" >/tmp/h1.out 2>/tmp/h1.err &
h1=$!
check "a copy onto $T holds the LU's designator lock" wait_lock $h1
expect_exit 2 "the same LU through iSCSI meanwhile" \
	"$BC" copy "$S" "iscsi://127.0.0.1:3260/$IQN/4"
check "the refusal names the holder" has "in use by another blkclone on this host (pid $h1 writing" /tmp/err
expect_exit 2 "/dev/sgN of the LU being written" "$BC" copy "$S" "$SG_T"
check "the refusal says in use" has "device is in use" /tmp/err
expect_exit 2 "zero of /dev/sgN of the LU being written" "$BC" zero "$SG_T"
dmsetup resume bc_gate
wait $h1
check "the holder exits 0 ($(cat /tmp/h1.err))" test $? = 0
check "and its copy is byte-equal" test "$(sum "$T")" = "$(sum_n "$A" 64)"
dmsetup remove bc_gate

# --- LVs on one LU share the lock; a whole-LU writer is kept out
echo "0 32768 linear $T 0" | dmsetup create bc_t1 &&
echo "0 32768 linear $T 65536" | dmsetup create bc_t2 &&
echo "0 32768 linear $A 0" | dmsetup create bc_gate2 &&
echo "0 32768 linear $A 65536" | dmsetup create bc_a2 && dmsetup mknodes
dmsetup suspend bc_gate2
"$BC" copy --offload=never /dev/mapper/bc_gate2 /dev/mapper/bc_t1 >/tmp/h2.out 2>/tmp/h2.err &
h2=$!
check "a copy onto an LV holds the LU's designator lock" wait_lock $h2
expect_exit 0 "another LV on the same LU meanwhile" "$BC" copy /dev/mapper/bc_a2 /dev/mapper/bc_t2
check "that LV copy is byte-equal" test "$(sum /dev/mapper/bc_t2)" = "$(sum /dev/mapper/bc_a2)"
expect_exit 2 "the whole LU through iSCSI while an LV is written" \
	"$BC" copy "$S" "iscsi://127.0.0.1:3260/$IQN/4"
check "the refusal says in use by another blkclone" has "in use by another blkclone on this host" /tmp/err
dmsetup resume bc_gate2
wait $h2
check "the LV holder exits 0 ($(cat /tmp/h2.err))" test $? = 0
check "and its copy is byte-equal" test "$(sum /dev/mapper/bc_t1)" = "$(sum_n "$A" 16)"
dmsetup remove_all

# --- a loop device's partitions, its backing file, dm-linear over it
modprobe loop 2>/dev/null
rm -f /tmp/lp.img && dd if=/dev/urandom of=/tmp/lp.img bs=1M count=16 2>/dev/null
dd if=/dev/zero of=/tmp/lp.img bs=512 count=1 conv=notrunc 2>/dev/null
{ mbr_entry 2048 8192; mbr_entry 12288 8192; mbr_entry 6144 8192; } |
	dd of=/tmp/lp.img bs=1 seek=446 conv=notrunc 2>/dev/null
printf '\125\252' | dd of=/tmp/lp.img bs=1 seek=510 conv=notrunc 2>/dev/null
LD=$(losetup -f)
losetup -P "$LD" /tmp/lp.img
i=0
while [ ! -b "${LD}p3" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
if [ -b "${LD}p3" ]; then
	lp0=$(sum_file /tmp/lp.img)
	expect_exit 2 "a loop partition onto its loop device" "$BC" copy "${LD}p1" "$LD"
	check "the refusal says they overlap on the file" has "overlap on file:" /tmp/err
	expect_exit 2 "overlapping loop partitions" "$BC" copy "${LD}p1" "${LD}p3"
	check "the refusal says they overlap" has "overlap on file:" /tmp/err
	expect_exit 2 "a loop partition onto the backing file" "$BC" copy "${LD}p1" /tmp/lp.img
	check "the refusal says they overlap" has "overlap on file:" /tmp/err
	echo "0 8192 linear $LD 3000" | dmsetup create bc_ll && dmsetup mknodes
	expect_exit 2 "a loop partition onto dm-linear over its loop device" \
		"$BC" copy "${LD}p1" /dev/mapper/bc_ll
	check "the refusal says they overlap" has "overlap on file:" /tmp/err
	dmsetup remove bc_ll
	check "the backing file is untouched" test "$(sum_file /tmp/lp.img)" = "$lp0"
	expect_exit 0 "loop partitions apart" "$BC" copy "${LD}p1" "${LD}p2"
	check "and that copy is byte-equal" test "$(sum "${LD}p1")" = "$(sum "${LD}p2")"
else
	fail "losetup -P made no partitions on $LD"
fi
losetup -d "$LD"

# --- a second path to LU S: another tcm_loop target over its backstore
dd if=/dev/zero of="$S" bs=512 count=1 oflag=direct 2>/dev/null
{ mbr_entry 2048 32768; mbr_entry 20480 32768; mbr_entry 65536 32768; } |
	dd of="$S" bs=1 seek=446 conv=notrunc 2>/dev/null
printf '\125\252' | dd of="$S" bs=1 seek=510 conv=notrunc 2>/dev/null
sync; blockdev --rereadpt "$S"
before=$(ls /sys/block | grep '^sd' | tr '\n' ' ')
P2=$CFG/loopback/naa.5001405b1c000002/tpgt_1
mkdir -p "$P2" && echo naa.5001405b1c0000fe >"$P2/nexus" &&
	mkdir "$P2/lun/lun_0" && ln -s "$CFG"/core/fileio_*/s "$P2/lun/lun_0/port"
S2=
i=0
while [ -z "$S2" ] && [ $i -lt 1200 ]; do
	for d in $(ls /sys/block | grep '^sd'); do
		case " $before " in *" $d "*) ;; *) [ -e "/sys/block/$d/device" ] && S2=/dev/$d ;; esac
	done
	sleep 0.1
	i=$((i + 1))
done
i=0
while [ -n "$S2" ] && [ ! -b "${S2}3" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
sg_turs "$S2" >/dev/null 2>&1; sg_turs "$S2" >/dev/null 2>&1	# UNIT ATTENTION
check "a second path to S: $S2, with S's partitions" test -n "$S2" -a -b "${S2}3"
naa=$(naa_of "$S")
check "both paths report one designator ($naa)" test -n "$naa" -a "$(naa_of "$S2")" = "$naa"
s0=$(sum "$S")
expect_exit 2 "one LU through two paths" "$BC" copy "$S" "$S2"
check "the refusal says it is the same LU" \
	has "check: source and destination are the same volume: the same LU (naa:$naa on both)" /tmp/err
expect_exit 2 "a partition on path 1 onto the whole LU on path 2" "$BC" copy "${S}1" "$S2"
check "the refusal says they overlap" has "overlap on naa:$naa" /tmp/err
expect_exit 2 "overlapping partitions on two paths" "$BC" copy "${S}1" "${S2}2"
check "the refusal says they overlap" has "overlap on naa:$naa (bytes 1048576+16777216 and 10485760+16777216)" /tmp/err
mkdir -p /dev/disk/by-id
ln -sf "../../${S2#/dev/}2" "/dev/disk/by-id/wwn-0x$naa-part2"
ln -sf "../../${S#/dev/}2" "/dev/disk/by-id/scsi-3$naa-part2"
expect_exit 2 "/dev/sdX1 onto an overlapping partition's by-id link (path 2)" \
	"$BC" copy "${S}1" "/dev/disk/by-id/wwn-0x$naa-part2"
check "the refusal says they overlap" has "overlap on naa:$naa" /tmp/err
expect_exit 2 "/dev/sdX1 onto an overlapping partition's by-id link (path 1)" \
	"$BC" copy "${S}1" "/dev/disk/by-id/scsi-3$naa-part2"
check "the refusal says they overlap" has "overlap on naa:" /tmp/err
check "the LU is untouched" test "$(sum "$S")" = "$s0"
expect_exit 0 "partitions apart on two paths" "$BC" copy "${S}1" "${S2}3"
check "and that copy is byte-equal" test "$(sum "${S}1")" = "$(sum "${S2}3")"
rm -f "/dev/disk/by-id/wwn-0x$naa-part2" "/dev/disk/by-id/scsi-3$naa-part2"

# --- dm-multipath over both paths: the LU by its paths' VPD 0x83
modprobe dm-multipath 2>/dev/null; modprobe dm-round-robin 2>/dev/null
if echo "0 131072 multipath 0 0 1 1 round-robin 0 2 1 $(majmin "$S") 1000 $(majmin "$S2") 1000" |
	dmsetup create bc_mp && dmsetup mknodes; then
	"$BC" probe /dev/mapper/bc_mp >/tmp/probe 2>&1
	check "probe names the multipath device's LU by its designator" has "identity: .*LU known as .*naa:$naa" /tmp/probe
	s0=$(sum "$S")
	expect_exit 2 "the same LU through iSCSI onto the multipath device" \
		"$BC" copy "iscsi://127.0.0.1:3260/$IQN/3" /dev/mapper/bc_mp
	check "the refusal says it is the same LU" has "the same LU (naa:$naa on both)" /tmp/err
	echo "0 32768 linear /dev/mapper/bc_mp 4096" | dmsetup create bc_mplv && dmsetup mknodes
	expect_exit 2 "a partition onto an LV on the multipath device, overlapping" \
		"$BC" copy "${S}1" /dev/mapper/bc_mplv
	check "the refusal says they overlap" has "overlap on naa:$naa" /tmp/err
	check "the LU is untouched" test "$(sum "$S")" = "$s0"
	dmsetup remove bc_mplv
	dmsetup remove bc_mp
else
	fail "dm-multipath table over $S and $S2 refused"
fi

# --- an sg node whose LU has no sd device (sd unbound from path 2)
SG_S2=$(sg_of "$S2")
hctl=$(basename "$(readlink -f "/sys/block/${S2#/dev/}/device")")
echo "$hctl" >/sys/bus/scsi/drivers/sd/unbind
i=0
while [ -e "/sys/block/${S2#/dev/}" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done
check "sd unbound from $hctl, $SG_S2 left" test ! -e "/sys/block/${S2#/dev/}" -a -c "$SG_S2"
s0=$(sum "$S")
expect_exit 2 "an sg node without an sd device as a destination" "$BC" copy "$T" "$SG_S2"
check "the refusal says it cannot be held" \
	has "$SG_S2: open: no SCSI disk (sd) device belongs to this SCSI generic node" /tmp/err
check "the LU is untouched" test "$(sum "$S")" = "$s0"
expect_exit 0 "and as a source it still copies" "$BC" copy "$SG_S2" /tmp/s2.img
check "that copy is byte-equal" test "$(sum_file /tmp/s2.img)" = "$s0"
rm -f /tmp/s2.img
echo "$hctl" >/sys/bus/scsi/drivers/sd/bind 2>/dev/null

# the second path goes again
rm -f "$P2/lun/lun_0/port" && rmdir "$P2/lun/lun_0" "$P2" "${P2%/tpgt_1}"
dmsetup remove_all 2>/dev/null
finish
