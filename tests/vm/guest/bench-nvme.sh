#!/bin/sh
# Runs inside the test VM (bench/bench-nvme.sh starts it): an LV-to-LV
# clone of $MB MiB on one NVMe namespace by blkclone (NVMe Copy), by
# `nvme copy` scripted by hand with the same limits, and by blkclone's
# host copy.  Prints times and ratios; the copies are compared after each.
BC=${BC:-/usr/sbin/blkclone}
MB=${MB:-256}
N=/dev/nvme0n1
SECT=$((MB * 2048))
up() { cut -d' ' -f1 /proc/uptime; }
sum() { dd if="$1" bs=1M iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1; }
dmsetup remove_all 2>/dev/null
echo "0 $SECT linear $N 2048" | dmsetup create b_src &&
echo "0 $SECT linear $N $((SECT + 4096))" | dmsetup create b_dst && dmsetup mknodes || exit 1
dd if=/dev/urandom of=/dev/mapper/b_src bs=1M count="$MB" oflag=direct 2>/dev/null
dd if=/dev/zero of=/dev/mapper/b_dst bs=1M count="$MB" oflag=direct 2>/dev/null
want=$(sum /dev/mapper/b_src)
verify() { [ "$(sum /dev/mapper/b_dst)" = "$want" ] || { echo "MISMATCH after $1"; exit 1; }; }

t0=$(up); "$BC" copy --offload=require --json /dev/mapper/b_src /dev/mapper/b_dst >/tmp/b.json || exit 1; t1=$(up)
verify blkclone
tb=$(echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }')
echo "blkclone NVMe Copy: $tb s ($(grep -E '"(offloaded|read|written)_bytes"' /tmp/b.json | tr -d ' \n'))"

# by hand: what a script with nvme-cli does -- ranges of MSSRL blocks,
# MSRC+1 ranges per command, one command per process
mssrl=$(nvme id-ns $N | awk '$1 == "mssrl" { print $3 }')
msrc=$(( $(nvme id-ns $N | awk '$1 == "msrc" { print $3 }') + 1 ))
mcl=$(nvme id-ns $N | awk '$1 == "mcl" { print $3 }')
[ $((mssrl * msrc)) -gt "$mcl" ] && msrc=$((mcl / mssrl))
dd if=/dev/zero of=/dev/mapper/b_dst bs=1M count="$MB" oflag=direct 2>/dev/null
t0=$(up); lba=2048; end=$((2048 + SECT)); dlba=$((SECT + 4096)); ncmd=0
while [ $lba -lt $end ]; do
	slbs="" blks="" i=0 first=$lba
	while [ $i -lt "$msrc" ] && [ $lba -lt $end ]; do
		n=$mssrl; [ $((end - lba)) -lt $n ] && n=$((end - lba))
		slbs="${slbs:+$slbs,}$lba"; blks="${blks:+$blks,}$((n - 1))"
		lba=$((lba + n)); i=$((i + 1))
	done
	nvme copy $N --sdlba=$((dlba + first - 2048)) --slbs=$slbs --blocks=$blks >/dev/null || { echo "nvme copy failed"; exit 1; }
	ncmd=$((ncmd + 1))
done
t1=$(up)
blockdev --flushbufs /dev/mapper/b_dst
verify "nvme copy"
tn=$(echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }')
echo "nvme copy by hand: $tn s ($ncmd commands of up to $msrc x $mssrl blocks)"

dd if=/dev/zero of=/dev/mapper/b_dst bs=1M count="$MB" oflag=direct 2>/dev/null
t0=$(up); "$BC" copy --offload=never /dev/mapper/b_src /dev/mapper/b_dst >/dev/null || exit 1; t1=$(up)
verify "host copy"
th=$(echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }')
echo "blkclone host copy: $th s"
echo "ratio blkclone / nvme copy by hand: $(echo "$tb $tn" | awk '{ printf "%.2f", $1 / $2 }')"
echo "ratio blkclone / host copy: $(echo "$tb $th" | awk '{ printf "%.2f", $1 / $2 }')"
dmsetup remove_all
