#!/bin/bash
# Build the test VM's kernel and initramfs:
#   tests/vm/build-initramfs.sh OUTDIR [BINARY...]
# The first BINARY lands in the guest as /usr/sbin/blkclone, the second
# (the sanitizer build) as /usr/sbin/blkclone-san, any further one as
# /usr/sbin/blkclone-N (N = its position); the mapping is printed.
# The kernel is Debian's own linux-image .deb, unpacked (never installed)
# and cached in $BLKCLONE_VM_CACHE; the initramfs is busybox plus the
# modules for LIO (iSCSI + tcm_loop), NVMe, device-mapper and virtio-net,
# the guest tools the tests use, and the blkclone binaries given (with
# their shared libraries), so SG_IO and NVMe tests run inside the guest.
# Writes OUTDIR/vmlinuz and OUTDIR/initrd.gz.
set -euo pipefail
out=${1:?usage: build-initramfs.sh OUTDIR [BINARY...]}
shift
here=$(cd "$(dirname "$0")" && pwd)
for b in "$@"; do
	[ -f "$b" ] && [ -x "$b" ] || { echo "build-initramfs: $b is not an executable file" >&2; exit 1; }
done
cache=${BLKCLONE_VM_CACHE:-/var/cache/blkclone-vm}
mkdir -p "$out" "$cache"
out=$(cd "$out" && pwd)
cache=$(cd "$cache" && pwd)

# --- kernel: the ABI package linux-image-amd64 points at, unpacked once ---
kernel_abi() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { sub("linux-image-", "", $2); print $2; exit }'
}
kver=${BLKCLONE_VM_KVER:-$(kernel_abi)}
if [ -z "$kver" ]; then	# no package lists: a kernel unpacked before will do
	kver=$(ls -d "$cache"/kroot-*/.done 2>/dev/null | sed 's|.*/kroot-\(.*\)/.done$|\1|' | sort -V | tail -n1)
fi
if [ -z "$kver" ] && [ "$(id -u)" = 0 ]; then	# package lists never fetched
	apt-get update -q >/dev/null
	kver=$(kernel_abi)
fi
[ -n "$kver" ] || { echo "build-initramfs: cannot tell the kernel version (apt-cache depends linux-image-amd64)" >&2; exit 1; }
kroot=$cache/kroot-$kver
if [ ! -f "$kroot/.done" ]; then
	deb=$(ls "$cache"/linux-image-"$kver"_*.deb 2>/dev/null | head -n1 || true)
	if [ -z "$deb" ]; then
		(cd "$cache" && apt-get download "linux-image-$kver" >/dev/null)
		deb=$(ls "$cache"/linux-image-"$kver"_*.deb | head -n1)
	fi
	rm -rf "$kroot" && mkdir -p "$kroot"
	dpkg-deb -x "$deb" "$kroot"
	touch "$kroot/.done"
fi

root=$(mktemp -d "${TMPDIR:-/tmp}/blkclone-initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,proc,sys,dev,tmp,etc,run,guest,backing}

# --- modules: copied to their own paths, then depmod over just these ---
# The list names what /init loads, what guest tests load themselves
# (loop, dm-multipath, ext4 for test-identity.sh; dm-snapshot and
# dm-thin-pool for the LVs test-multipath.sh must refuse) and what only softdeps
# or crypto aliases pull in (crc32c for iSCSI digests, crc-t10dif for sd); hard
# dependencies (modinfo's "depends") are added on their own, so a newer
# kernel ABI that splits a module still boots.
mods="configfs sg sd_mod target_core_mod target_core_file target_core_iblock
      iscsi_target_mod tcm_loop crc32c_generic crc32c-intel crct10dif_generic
      nvme dm-mod virtio_pci virtio_net loop dm-multipath dm-round-robin ext4
      dm-snapshot dm-thin-pool"
mdir=$kroot/lib/modules/$kver
declare -A modfile=()	# module name (with _ for -) -> its file
while IFS= read -r f; do
	b=${f##*/}
	b=${b%%.ko*}
	modfile[${b//-/_}]=$f
done < <(find "$mdir/kernel" -name '*.ko*')
declare -A done_mod=()
read -r -a queue <<<"$(echo $mods)"
while [ ${#queue[@]} -gt 0 ]; do
	m=${queue[0]//-/_}
	queue=("${queue[@]:1}")
	[ -n "$m" ] && [ -z "${done_mod[$m]:-}" ] || continue
	done_mod[$m]=1
	f=${modfile[$m]:-}
	if [ -z "$f" ]; then
		grep -Eq "/${m//_/[-_]}\.ko" "$mdir/modules.builtin" 2>/dev/null ||
			echo "build-initramfs: module $m not found (and not built in)" >&2
		continue
	fi
	rel=${f#"$kroot"/}
	mkdir -p "$root/$(dirname "$rel")"
	cp "$f" "$root/$rel"
	case $f in
	*.xz) xz -d "$root/$rel" ;;
	*.zst) zstd -q -d --rm "$root/$rel" ;;
	esac
	read -r -a deps <<<"$(modinfo -F depends "$f" | tr ',' ' ')"
	queue+=("${deps[@]}")
done
cp "$mdir"/modules.builtin* "$mdir"/modules.order "$root/lib/modules/$kver/"
depmod -b "$root" "$kver"

# --- busybox and dynamically linked tools with their libraries ---
cp /bin/busybox "$root/bin/busybox"
# every applet a symlink, made in one process (ln per applet takes seconds)
/bin/busybox --list | BIN=$root/bin perl -nle '
	next if $_ eq "busybox";
	symlink("busybox", "$ENV{BIN}/$_") or die "build-initramfs: applet link $_: $!\n"'
ln -sf /bin/busybox "$root/sbin/modprobe"	# the kernel's request_module()
declare -A libs=()	# every shared library the copied programs need
copy_with_libs() {	# copy_with_libs SRC [DEST]; the libraries come at the end
	local src=$1 dst=${2:-$1} lib
	mkdir -p "$root$(dirname "$dst")"
	cp -L "$src" "$root$dst"
	for lib in $(ldd "$src" 2>/dev/null | grep -o '/[^ ]*'); do
		libs[$lib]=1
	done
}
# sg3-utils, nvme-cli, dmsetup, lvm2 (tests/install-deps.sh); cmp because
# busybox has none.  qemu-img (and its libraries, some MiB) only when
# BLKCLONE_VM_QEMU_IMG=1: bench/bench-multipath.sh wants it, the tests do not.
tools="/usr/bin/sg_inq /usr/bin/sg_vpd /usr/bin/sg_readcap /usr/bin/sg_turs
       /usr/bin/sg_xcopy /usr/bin/sg_copy_results /usr/bin/sg_get_lba_status
       /usr/bin/sg_unmap /usr/bin/sg_write_same /usr/sbin/nvme
       /sbin/dmsetup /sbin/lvm /usr/bin/cmp"
[ "${BLKCLONE_VM_QEMU_IMG:-0}" = 1 ] && tools="$tools /usr/bin/qemu-img"
for t in $tools; do
	if [ -x "$t" ]; then copy_with_libs "$t"; else echo "build-initramfs: $t missing (tests/install-deps.sh --vm)" >&2; exit 1; fi
done
# LVM without udev or lvmetad: it scans only the multipath maps (the
# guest's LVs live on dm-multipath; a PV seen on each path would be a
# duplicate), makes its own device nodes, runs no dmeventd or thin_check.
mkdir -p "$root/etc/lvm"
cat >"$root/etc/lvm/lvm.conf" <<'LVMCONF'
devices {
	filter = [ "a|^/dev/mapper/mpath.*|", "r|.*|" ]
	global_filter = [ "a|^/dev/mapper/mpath.*|", "r|.*|" ]
	obtain_device_list_from_udev = 0
	external_device_info_source = "none"
	use_devicesfile = 0
	scan = [ "/dev/mapper" ]
}
global {
	thin_check_executable = ""
	thin_repair_executable = ""
	use_lvmpolld = 0
	event_activation = 0
}
activation {
	udev_sync = 0
	udev_rules = 0
	verify_udev_operations = 1
	monitoring = 0
}
backup {
	backup = 0
	archive = 0
}
LVMCONF
n=0
for b in "$@"; do
	n=$((n + 1))
	case $n in 1) dst=/usr/sbin/blkclone ;; 2) dst=/usr/sbin/blkclone-san ;; *) dst=/usr/sbin/blkclone-$n ;; esac
	copy_with_libs "$b" "$dst"
	echo "build-initramfs: $b -> guest $dst"
done

# all libraries in one cp (the loader too: ldd lists it by its path)
[ ${#libs[@]} = 0 ] || cp -L --parents "${!libs[@]}" "$root/"

echo "root:x:0:0:root:/:/bin/sh" >"$root/etc/passwd"
install -m 755 "$here/init" "$root/init"
for g in "$here"/guest/*; do install -m 755 "$g" "$root/guest/"; done

cp "$kroot/boot/vmlinuz-$kver" "$out/vmlinuz"
(cd "$root" && find . -print0 | cpio --null -o -H newc --owner 0:0 --quiet) |
	gzip -1 >"$out/initrd.gz"
echo "build-initramfs: kernel $kver, initrd $(du -h "$out/initrd.gz" | cut -f1)"
