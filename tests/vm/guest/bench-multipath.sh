#!/bin/sh
# Runs inside the test VM (bench/bench-multipath.sh starts it): a clone of
# one LV onto another in one VG on a dm-multipath map over two tcm_loop
# paths to one LIO LU -- the SAN stack of issue 20 -- by blkclone
# (EXTENDED COPY), `qemu-img convert -n` and `dd`, interleaved over
# $ROUNDS rounds (the order turns each round).  Prints each run, then per
# tool the median, p10 and p90 of the times (nearest rank: with 5 rounds
# p10 and p90 are the fastest and the slowest) and the bytes the map moved
# through this host (its /sys/block/dm-N/stat sectors: read + written),
# blkclone's own count next to it.
# Each run is checked: 16 MiB spread over the destination are overwritten
# with zeros before it and must equal the source after it, and the whole
# destination is compared with the source after every tool's last run.
BC=${BC:-/usr/sbin/blkclone}
MB=${MB:-1024}
ROUNDS=${ROUNDS:-5}
CFG=/sys/kernel/config/target
LTPG=$CFG/loopback/naa.5001405b1c000001/tpgt_1
P2=$CFG/loopback/naa.5001405b1c000004/tpgt_1
up() { cut -d' ' -f1 /proc/uptime; }
die() { echo "bench-multipath: $*" >&2; exit 1; }
export BLKCLONE_STATE_DIR=/tmp/bench-state BLKCLONE_LOCK_DIR=/tmp/bench-locks
modprobe dm-multipath && modprobe dm-round-robin || die "no dm-multipath"

# --- the LU: a new fileio backstore big enough for two LVs, exported as
# LUN 7 of the first tcm_loop target and LUN 0 of a second one
LU=$(( (2 * MB + 64) * 1048576 ))
d=$CFG/core/fileio_7/m
mkdir -p "$d" || die "backstore"
truncate -s $LU /backing/m.img
echo "fd_dev_name=/backing/m.img,fd_dev_size=$LU,fd_buffered_io=1" >"$d/control"
echo 0a0e0008 >"$d/wwn/vpd_unit_serial"
echo 1 >"$d/enable" || die "enable"
echo 1 >"$d/attrib/emulate_3pc"
echo 1 >"$d/attrib/emulate_tpu"
echo 1 >"$d/attrib/emulate_tpws"
before=" $(ls /sys/block | grep '^sd' | tr '\n' ' ') "
mkdir "$LTPG/lun/lun_7" && ln -s "$d" "$LTPG/lun/lun_7/port" || die "lun 7"
mkdir -p "$P2" && echo naa.5001405b1c0000fc >"$P2/nexus" &&
	mkdir "$P2/lun/lun_0" && ln -s "$d" "$P2/lun/lun_0/port" || die "second path"
paths= i=0
while [ "$(echo $paths | wc -w)" -lt 2 ] && [ $i -lt 1200 ]; do
	sleep 0.1
	paths=
	for x in $(ls /sys/block | grep '^sd'); do
		case $before in *" $x "*) ;; *) [ -e "/sys/block/$x/device" ] && paths="$paths /dev/$x" ;; esac
	done
	i=$((i + 1))
done
set -- $paths
[ $# = 2 ] || die "two new paths expected, got '$paths'"
for x in "$@"; do sg_turs "$x" >/dev/null 2>&1; sg_turs "$x" >/dev/null 2>&1; done
mm() { cat "/sys/class/block/${1#/dev/}/dev"; }
echo "0 $(blockdev --getsz "$1") multipath 0 0 1 1 round-robin 0 2 1 $(mm "$1") 1000 $(mm "$2") 1000" |
	dmsetup create mpathM && dmsetup mknodes || die "multipath map"
lvm pvcreate -ff -y /dev/mapper/mpathM >/dev/null 2>&1 && lvm vgcreate vgM /dev/mapper/mpathM >/dev/null 2>&1 &&
	lvm lvcreate -y -Wn -Zn -L ${MB}M -n src vgM >/dev/null 2>&1 &&
	lvm lvcreate -y -Wn -Zn -L ${MB}M -n dst vgM >/dev/null 2>&1 || die "LVM"
SRC=/dev/vgM/src DST=/dev/vgM/dst
dm=dm-$(dmsetup info -c --noheadings -o minor mpathM | tr -d ' ')
[ -e "/sys/block/$dm/stat" ] || die "no /sys/block/$dm/stat for mpathM"
echo "# LU $((LU >> 20)) MiB on $1 + $2 as /dev/mapper/mpathM ($dm); LVs of $MB MiB"
dmsetup table | sed 's/^/#   /'

dd if=/dev/urandom of=$SRC bs=1M count="$MB" oflag=direct 2>/dev/null || die "source data"
# the destination's backing pages allocated first: LIO's first write to a
# tmpfs page costs more than later ones, and would favour the later tools
dd if=/dev/zero of=$DST bs=1M count="$MB" oflag=direct 2>/dev/null || die "destination"

# 16 places of 1 MiB spread over the LVs, the first and the last included
spots() { i=0; while [ $i -lt 16 ]; do echo $(( i * (MB - 1) / 15 )); i=$((i + 1)); done; }
spot_sum() {	# spot_sum DEV: the 16 MiB at spots(), O_DIRECT
	for o in $(spots); do dd if="$1" bs=1M skip="$o" count=1 iflag=direct 2>/dev/null; done | sha256sum | cut -d' ' -f1
}
want_spots=$(spot_sum $SRC)
spoil() { for o in $(spots); do dd if=/dev/zero of=$DST bs=1M seek="$o" count=1 oflag=direct 2>/dev/null; done; }
full_sum() { dd if="$1" bs=4M iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1; }
io() { awk '{ print $3 + $7 }' "/sys/block/$dm/stat"; }	# sectors read + written

run() {	# run TOOL: one timed copy SRC -> DST by TOOL; appends to $RUNS
	spoil
	[ "$(spot_sum $DST)" != "$want_spots" ] || die "spoiling the destination failed"
	s0=$(io); t0=$(up)
	case $1 in
	blkclone) "$BC" copy --offload=require --json $SRC $DST >/tmp/bc.json 2>/tmp/bc.err ||
			{ cat /tmp/bc.err; die "blkclone failed"; } ;;
	qemu-img) qemu-img convert -n -f raw -O raw -t none -T none $SRC $DST || die "qemu-img failed" ;;
	dd) dd if=$SRC of=$DST bs=4M iflag=direct oflag=direct 2>/dev/null || die "dd failed" ;;
	esac
	t1=$(up); s1=$(io)
	[ "$(spot_sum $DST)" = "$want_spots" ] || die "$1: the destination differs from the source"
	secs=$(echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }')
	bytes=$(( (s1 - s0) * 512 ))
	extra=
	if [ "$1" = blkclone ]; then
		for k in method offloaded_bytes read_bytes written_bytes; do
			extra="$extra $(grep -o "\"$k\": [^,]*" /tmp/bc.json | head -n 1 | tr -d '"')"
		done
		extra=" (blkclone's count:$extra)"
	fi
	echo "$1 $secs $bytes" >>"$RUNS"
	echo "  round $r: $1 $secs s, map I/O $bytes bytes$extra"
}

RUNS=/tmp/runs
: >"$RUNS"
tools="blkclone qemu-img dd"
r=1
while [ $r -le "$ROUNDS" ]; do
	for t in $tools; do run $t; done
	tools="$(echo $tools | cut -d' ' -f2-) $(echo $tools | cut -d' ' -f1)"	# turn the order
	r=$((r + 1))
done
# each tool once more, untimed, and its whole destination compared
RUNS=/dev/null
want=$(full_sum $SRC)
for t in blkclone qemu-img dd; do
	run $t >/dev/null
	[ "$(full_sum $DST)" = "$want" ] || die "$t: the whole destination differs from the source"
done
echo "# every tool's copy compared in full with the source: equal"

echo "tool       median s   p10 s   p90 s   map I/O per copy, bytes (median)"
for t in blkclone qemu-img dd; do
	grep "^$t " /tmp/runs | awk '{ print $2, $3 }' | sort -n | awk -v t="$t" '
		{ s[NR] = $1; b[NR] = $2 }
		END {
			n = NR; m = (n % 2) ? s[(n + 1) / 2] : (s[n / 2] + s[n / 2 + 1]) / 2
			p10 = s[int(0.1 * n + 0.999999)]; p90 = s[int(0.9 * n + 0.999999)]
			for (i = 1; i <= n; i++) bb[i] = b[i]
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (bb[j] < bb[i]) { x = bb[i]; bb[i] = bb[j]; bb[j] = x }
			mb = (n % 2) ? bb[(n + 1) / 2] : (bb[n / 2] + bb[n / 2 + 1]) / 2
			printf "%-10s %8.2f %7.2f %7.2f   %14.0f\n", t, m, p10, p90, mb
		}'
done | tee /tmp/summary
awk 'NR == 1 { b = $2 } { printf "ratio %s / blkclone (median time): %.2f\n", $1, $2 / b }' /tmp/summary | tail -n 2

lvm vgremove -ff -y vgM >/dev/null 2>&1
dmsetup remove mpathM
