#!/bin/sh
# Install what building and testing blkclone needs on Debian 12.
# Idempotent: installs only packages that are missing.  Needs root.
set -eu
PKGS="build-essential autoconf automake pkg-config
      libsgutils2-dev libiscsi-dev libnvme-dev libjson-c-dev libcmocka-dev
      libsmartcols-dev libfuse3-dev fuse3
      tgt libiscsi-bin sg3-utils util-linux e2fsprogs
      qemu-utils qemu-block-extra ddpt nvme-cli
      clang valgrind xxd time bc
      debhelper fakeroot lintian jq xfsprogs btrfs-progs strace python3"
case "${1:-}" in
  --vm) PKGS="$PKGS qemu-system-x86 busybox-static kmod cpio zstd xz-utils dmsetup lvm2" ;;
esac
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-deps: need root to install:$missing" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
