#!/bin/sh
# Runs inside the test VM: NVMe Copy on QEMU's NVMe controller.  Format 0
# copies inside one namespace, so the clones are LVs (dm-linear) on one
# namespace; an LV on the other namespace is outside the copy domain.
# Every clone is compared with O_DIRECT reads.
. /guest/lib.sh
N1=/dev/nvme0n1 N2=/dev/nvme0n2
dd if=/dev/zero of=/tmp/zero32 bs=1M count=32 2>/dev/null
dd if=/dev/zero of=/tmp/zero16 bs=1M count=16 2>/dev/null
[ -b $N1 ] && [ -b $N2 ] || { echo "not ok - NVMe namespaces missing"; exit 1; }

"$BC" probe $N1 >/tmp/probe 2>&1
check "probe: NVMe Copy supported" has "NVMe Copy *supported" /tmp/probe
check "probe: the limits QEMU was given (MSSRL 128, MCL 1024)" has "MSSRL 128, MCL 1024" /tmp/probe
check "probe: DLFEAT says deallocated blocks read zero" has "DLFEAT 0x1: deallocated blocks read as zeros" /tmp/probe
# "one namespace" for Copy includes the kernel device, not only what the
# controller reports; the identity names the namespace's ids and device
majmin() { cat "/sys/class/block/${1#/dev/}/dev"; }
check "probe: the copy domain starts with the kernel device ($(majmin $N1))" \
	has "copy domain:  nvme:dev$(majmin $N1):ns1:" /tmp/probe
check "probe: the identity names the kernel device" has "identity: .*dev:$(majmin $N1)" /tmp/probe
uuid=$(nvme ns-descs $N1 2>/dev/null | sed -n 's/^uuid *: *//p' | tr -d '-' | head -n 1)
eui=$(nvme ns-descs $N1 2>/dev/null | sed -n 's/^eui64 *: *//p' | head -n 1)
echo "# nvme ns-descs $N1: uuid '$uuid', eui64 '$eui'"
[ -n "$uuid" ] && check "probe: the identity names the UUID nvme-cli reports" \
	has "identity: .*uuid:$uuid" /tmp/probe
[ -n "$eui" ] && check "probe: the identity names the EUI-64 nvme-cli reports" \
	has "identity: .*eui64:$eui" /tmp/probe

# probe agrees with nvme-cli on the same namespace
idns() { nvme id-ns "$1" | awk -v k="$2" '$1 == k { print $3 }'; }
"$BC" probe --json $N1 >/tmp/probe.json 2>&1
jnum() { sed -n "s/^ *\"$1\": \([0-9]*\),\{0,1\}$/\1/p" /tmp/probe.json | head -n1; }
check "MSSRL agrees with nvme id-ns ($(idns $N1 mssrl))" test "$(jnum mssrl)" = "$(idns $N1 mssrl)"
check "MCL agrees with nvme id-ns ($(idns $N1 mcl))" test "$(jnum mcl)" = "$(idns $N1 mcl)"
check "MSRC agrees with nvme id-ns (0's based there)" test "$(jnum msrc)" = "$(( $(idns $N1 msrc) + 1 ))"
check "size agrees with nvme id-ns NSZE" test "$(jnum size_bytes)" = "$(( $(idns $N1 nsze) * 512 ))"
check "ONCS Copy bit set in nvme id-ctrl" sh -c '[ $(( $(nvme id-ctrl /dev/nvme0 | awk "\$1 == \"oncs\" { print \$3 }") & 0x100 )) != 0 ]'

dmsetup remove_all 2>/dev/null
echo "0 65536 linear $N1 2048" | dmsetup create bc_n1 &&
echo "0 65536 linear $N1 131072" | dmsetup create bc_n2 &&
echo "0 65536 linear $N1 30000" | dmsetup create bc_n3 &&
echo "0 65536 linear $N2 2048" | dmsetup create bc_m1 &&
dmsetup mknodes
check "LVs made on both namespaces" test -b /dev/mapper/bc_m1
dd if=/dev/urandom of=/dev/mapper/bc_n2 bs=1M count=32 oflag=direct 2>/dev/null	# old data
dd if=/dev/urandom of=/dev/mapper/bc_m1 bs=1M count=32 oflag=direct 2>/dev/null
# around the destination windows: bc_n2 (N1 from 64 MiB; the source bc_n1
# from 1 MiB, written below, left out), bc_m1 (N2 from 1 MiB)
n1_around=$(outside2 $N1 1 32 64 32) n2_around=$(outside $N2 1 32)
dd if=/dev/urandom of=/dev/mapper/bc_n1 bs=1M count=32 2>/dev/null	# buffered: must be flushed
exec 5</dev/mapper/bc_n2	# stale pages cached and kept (see test-sgio.sh)
cat /dev/mapper/bc_n2 >/dev/null
expect_exit 0 "LV to LV on one namespace, --offload=require" \
	"$BC" copy --offload=require --json /dev/mapper/bc_n1 /dev/mapper/bc_n2
check "method is nvme-copy" has '"method": "nvme-copy",' /tmp/out
check "offloaded 32 MiB" has '"offloaded_bytes": 33554432' /tmp/out
check "no data through the host" sh -c 'grep -q "\"read_bytes\": 0," /tmp/out && grep -q "\"written_bytes\": 0," /tmp/out'
check "byte-equal (O_DIRECT)" test "$(sum /dev/mapper/bc_n1)" = "$(sum /dev/mapper/bc_n2)"
check "byte-equal through the page cache too" cmp -s /dev/mapper/bc_n1 /dev/mapper/bc_n2
check "the namespace around the destination LV is untouched" test "$(outside2 $N1 1 32 64 32)" = "$n1_around"
exec 5<&-
expect_exit 2 "overlapping LVs refused" "$BC" copy /dev/mapper/bc_n1 /dev/mapper/bc_n3
check "the refusal says they overlap" has "overlap" /tmp/err

expect_exit 3 "LV on another namespace under --offload=require" \
	"$BC" copy --offload=require /dev/mapper/bc_n1 /dev/mapper/bc_m1
check "the reason is the copy domain" has "not in one copy domain" /tmp/err
expect_exit 0 "LV on another namespace under auto (host copy)" \
	"$BC" copy --json /dev/mapper/bc_n1 /dev/mapper/bc_m1
check "that copy went through the host" has '"method": "host",' /tmp/out
check "and is byte-equal" test "$(sum /dev/mapper/bc_n1)" = "$(sum /dev/mapper/bc_m1)"
check "the other namespace around the destination LV is untouched" test "$(outside $N2 1 32)" = "$n2_around"
dmsetup remove_all

# --- LVs of several segments on one namespace (issue 20): the copy is cut
# at every segment boundary of either side into NVMe Copy pieces.  On N1
# in MiB (low, so the guards read little under TCG): the source is 8 at 14
# then 8 at 4 (2 MiB between, out of order on the namespace); bc_s1 one
# window of 16 at 24; bc_s2 8 at 52 then 8 at 42 (2 MiB between).
printf '0 16384 linear %s 28672\n16384 16384 linear %s 8192\n' $N1 $N1 | dmsetup create bc_s0 &&
echo "0 32768 linear $N1 49152" | dmsetup create bc_s1 &&
printf '0 16384 linear %s 106496\n16384 16384 linear %s 86016\n' $N1 $N1 | dmsetup create bc_s2 &&
dmsetup mknodes
check "segmented LVs made" test -b /dev/mapper/bc_s2
dd if=/dev/urandom of=$N1 bs=1M seek=2 count=60 oflag=direct 2>/dev/null	# old data, gaps too
dd if=/dev/urandom of=/dev/mapper/bc_s0 bs=1M count=16 oflag=direct 2>/dev/null
"$BC" probe /dev/mapper/bc_s0 >/tmp/probe 2>&1
check "probe: the source is two windows onto the namespace" has "segments: *2 windows" /tmp/probe
check "probe: NVMe Copy supported on the segmented LV" has "NVMe Copy *supported" /tmp/probe
# every byte of N1 but the destination window
s1_guard() { echo "$(sum_n $N1 24)+$(sum_range $N1 40 64)+$(sum_range $N1 760 8)"; }
s1_around=$(s1_guard)
expect_exit 0 "2-segment LV onto a 1-segment LV, --offload=require" \
	"$BC" copy --offload=require --json /dev/mapper/bc_s0 /dev/mapper/bc_s1
check "segments: method is nvme-copy" has '"method": "nvme-copy",' /tmp/out
check "segments: offloaded 16 MiB" has '"offloaded_bytes": 16777216' /tmp/out
check "segments: no data through the host" sh -c 'grep -q "\"read_bytes\": 0," /tmp/out && grep -q "\"written_bytes\": 0," /tmp/out'
check "segments: the first segment landed first (O_DIRECT, on the namespace)" \
	test "$(sum_range $N1 14 8)" = "$(sum_range $N1 24 8)"
check "segments: the second segment landed after it" \
	test "$(sum_range $N1 4 8)" = "$(sum_range $N1 32 8)"
check "segments: byte-equal through the maps (O_DIRECT)" test "$(sum /dev/mapper/bc_s0)" = "$(sum /dev/mapper/bc_s1)"
check "segments: the namespace outside the destination is untouched (before, between the source's windows, after)" \
	test "$(s1_guard)" = "$s1_around"
# onto two windows: the destination's boundary cuts the pieces
s2_guard() { echo "$(sum_n $N1 42)+$(sum_range $N1 50 2)+$(sum_range $N1 60 64)+$(sum_range $N1 760 8)"; }
s2_around=$(s2_guard)
expect_exit 0 "1-segment LV onto a 2-segment LV, --offload=require" \
	"$BC" copy --offload=require --json /dev/mapper/bc_s1 /dev/mapper/bc_s2
check "segments (onto two): method is nvme-copy" has '"method": "nvme-copy",' /tmp/out
check "segments (onto two): byte-equal (O_DIRECT)" test "$(sum /dev/mapper/bc_s1)" = "$(sum /dev/mapper/bc_s2)"
check "segments (onto two): its windows hold the right halves" \
	test "$(sum_range $N1 24 8)+$(sum_range $N1 32 8)" = "$(sum_range $N1 52 8)+$(sum_range $N1 42 8)"
check "segments (onto two): before, between and after its windows untouched" \
	test "$(s2_guard)" = "$s2_around"
# Write Zeroes cut at the same boundaries
expect_exit 0 "zero of a 2-segment LV" "$BC" zero --json /dev/mapper/bc_s2
check "segments: the LV reads zero" test "$(sum /dev/mapper/bc_s2)" = "$(sum_file /tmp/zero16)"
check "segments: zeroed_bytes is the LV" has '"zeroed_bytes": 16777216,' /tmp/out
check "segments: zero left before, between and after its windows untouched" \
	test "$(s2_guard)" = "$s2_around"
dmsetup remove_all

# --- a 4096-byte-block namespace: LBAs, ranges and offsets in its blocks
N3=/dev/nvme0n3 N4=/dev/nvme0n4
echo "0 32768 linear $N3 2048" | dmsetup create bc_k1 &&
echo "0 32768 linear $N3 67584" | dmsetup create bc_k2 && dmsetup mknodes
dd if=/dev/urandom of=/dev/mapper/bc_k1 bs=1M count=16 oflag=direct 2>/dev/null
dd if=/dev/urandom of=/dev/mapper/bc_k2 bs=1M count=16 oflag=direct 2>/dev/null
n3_around=$(outside $N3 33 16)	# bc_k2: from 33 MiB
expect_exit 0 "LV to LV on a 4096-byte namespace, --offload=require" \
	"$BC" copy --offload=require --json /dev/mapper/bc_k1 /dev/mapper/bc_k2
check "4096: offloaded 16 MiB" has '"offloaded_bytes": 16777216' /tmp/out
check "4096: byte-equal" test "$(sum /dev/mapper/bc_k1)" = "$(sum /dev/mapper/bc_k2)"
check "4096: the namespace around the destination LV is untouched" test "$(outside $N3 33 16)" = "$n3_around"

# --- a namespace whose copy limits are zero: every Copy would fail
echo "0 32768 linear $N4 2048" | dmsetup create bc_z1 &&
echo "0 32768 linear $N4 67584" | dmsetup create bc_z2 && dmsetup mknodes
dd if=/dev/urandom of=/dev/mapper/bc_z1 bs=1M count=16 oflag=direct 2>/dev/null
n4_around=$(outside $N4 33 16)	# bc_z2: from 33 MiB
expect_exit 3 "zero copy limits under --offload=require" \
	"$BC" copy --offload=require /dev/mapper/bc_z1 /dev/mapper/bc_z2
check "the reason names the limits" has "Copy limits are zero" /tmp/err
expect_exit 0 "zero copy limits under auto (host copy)" \
	"$BC" copy --json /dev/mapper/bc_z1 /dev/mapper/bc_z2
check "and that copy is byte-equal" test "$(sum /dev/mapper/bc_z1)" = "$(sum /dev/mapper/bc_z2)"
check "zero limits: the namespace around the destination LV is untouched" test "$(outside $N4 33 16)" = "$n4_around"

# --- a sparse source onto a dirty namespace window (host copy): the holes
# are made zero by the namespace (Write Zeroes), only data is written
echo "0 65536 linear $N1 2048" | dmsetup create bc_h1 && dmsetup mknodes
dd if=/dev/urandom of=/dev/mapper/bc_h1 bs=1M count=32 oflag=direct 2>/dev/null
h_around=$(outside $N1 1 32)
sparse_file /tmp/sp.img 32
expect_exit 0 "sparse file onto a dirty NVMe LV" "$BC" copy --json /tmp/sp.img /dev/mapper/bc_h1
check "holes on NVMe: byte-equal" test "$(sum /dev/mapper/bc_h1)" = "$(sum_file /tmp/sp.img)"
check "holes on NVMe: only the 3 MiB of data written" has '"written_bytes": 3145728,' /tmp/out
check "holes on NVMe: 29 MiB zeroed by the device" has '"zeroed_bytes": 30408704,' /tmp/out
check "holes on NVMe: the namespace around the LV is untouched" test "$(outside $N1 1 32)" = "$h_around"

# --- zero on an NVMe LV: every byte zero, the neighbours untouched
dd if=/dev/urandom of=/dev/mapper/bc_h1 bs=1M count=32 oflag=direct 2>/dev/null
expect_exit 0 "zero of an NVMe LV" "$BC" zero --json /dev/mapper/bc_h1
check "zero on NVMe: the LV reads zero" test "$(sum /dev/mapper/bc_h1)" = "$(sum_file /tmp/zero32)"
check "zero on NVMe: zeroed_bytes is the LV" has '"zeroed_bytes": 33554432,' /tmp/out
check "zero on NVMe: the namespace around the LV is untouched" test "$(outside $N1 1 32)" = "$h_around"
dmsetup remove_all
finish
