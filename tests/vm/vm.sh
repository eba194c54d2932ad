#!/bin/bash
# The test VM: LIO (iSCSI + tcm_loop) and a QEMU NVMe controller, under
# software emulation (KVM does not work on the machines this runs on).
#
#   vm.sh start [BLKCLONE [SAN-BLKCLONE]]   build the initramfs, boot, wait
#   vm.sh stop                              kill QEMU (idempotent)
#   vm.sh status                            exit 0 if running
#   vm.sh exec COMMAND...                   run in the guest; its output and
#                                           exit status
# State lives in $BLKCLONE_VM_DIR (default ./vm); vm.env there tells tests
# the ports.  Environment: BLKCLONE_VM_PORT (first of three host ports,
# default 13260), READY_TIMEOUT (s, default 300), EXEC_TIMEOUT (s, 900).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${BLKCLONE_VM_DIR:-$PWD/vm}
port=${BLKCLONE_VM_PORT:-13260}

running() {
	[ -f "$dir/qemu.pid" ] && kill -0 "$(cat "$dir/qemu.pid")" 2>/dev/null
}

stop_vm() {
	local pid i
	if [ -f "$dir/qemu.pid" ]; then
		pid=$(cat "$dir/qemu.pid")
		kill "$pid" 2>/dev/null || true
		for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
		rm -f "$dir/qemu.pid"
	fi
	rm -f "$dir/vm.env"
}

port_free() {	# nothing listens on 127.0.0.1:$1
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start_vm() {
	local t0 i ready=${READY_TIMEOUT:-300} p
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	running && stop_vm
	command -v qemu-system-x86_64 >/dev/null ||
		{ echo "vm.sh: qemu-system-x86_64 is not installed (tests/install-deps.sh --vm)" >&2; return 1; }
	"$here/build-initramfs.sh" "$dir" "$@"
	# Three consecutive free host ports from $port on: another VM (a
	# second checkout, a benchmark) may hold the default ones.
	for i in $(seq 0 20); do
		if port_free "$port" && port_free $((port + 1)) && port_free $((port + 2)); then
			break
		fi
		[ -n "${BLKCLONE_VM_PORT:-}" ] &&
			{ echo "vm.sh: host ports $port-$((port + 2)) are in use" >&2; return 1; }
		port=$((port + 3))
	done
	rm -f "$dir/serial.log" "$dir"/nvme*.img
	truncate -s 768M "$dir/nvme1.img"
	truncate -s 256M "$dir/nvme2.img" "$dir/nvme3.img" "$dir/nvme4.img"
	t0=$(date +%s.%N)
	# NVMe Copy limits are set explicitly: QEMU's short form reports 0
	# and every copy then fails.  discard=unmap makes deallocation real.
	qemu-system-x86_64 -accel tcg -cpu max -m 3072 -smp 2 \
		-display none -serial "file:$dir/serial.log" -no-reboot \
		-daemonize -pidfile "$dir/qemu.pid" \
		-kernel "$dir/vmlinuz" -initrd "$dir/initrd.gz" \
		-append "console=ttyS0 quiet panic=-1" \
		-netdev "user,id=n0,hostfwd=tcp:127.0.0.1:$port-:3260,hostfwd=tcp:127.0.0.1:$((port + 1))-:3261,hostfwd=tcp:127.0.0.1:$((port + 2))-:2323" \
		-device virtio-net-pci,netdev=n0,romfile= \
		-drive "file=$dir/nvme1.img,if=none,id=nvm1,format=raw,discard=unmap" \
		-drive "file=$dir/nvme2.img,if=none,id=nvm2,format=raw,discard=unmap" \
		-device nvme,serial=blkclone0001,id=nvme0 \
		-device nvme-ns,drive=nvm1,bus=nvme0,nsid=1,mssrl=128,mcl=1024,msrc=7 \
		-device nvme-ns,drive=nvm2,bus=nvme0,nsid=2,mssrl=128,mcl=1024,msrc=7 \
		-drive "file=$dir/nvme3.img,if=none,id=nvm3,format=raw,discard=unmap" \
		-device nvme-ns,drive=nvm3,bus=nvme0,nsid=3,mssrl=128,mcl=1024,msrc=7,logical_block_size=4096,physical_block_size=4096 \
		-drive "file=$dir/nvme4.img,if=none,id=nvm4,format=raw,discard=unmap" \
		-device nvme-ns,drive=nvm4,bus=nvme0,nsid=4,mssrl=0,mcl=0,msrc=0 ||
		{ echo "vm.sh: qemu did not start" >&2; return 1; }
	for i in $(seq $((ready * 5))); do
		if grep -q BLKCLONE-VM-READY "$dir/serial.log" 2>/dev/null; then
			cat >"$dir/vm.env" <<-EOF
			BLKCLONE_VM_ISCSI_PORT=$port
			BLKCLONE_VM_ISCSI_PORT2=$((port + 1))
			BLKCLONE_VM_EXEC_PORT=$((port + 2))
			BLKCLONE_VM_IQN=iqn.2026-11.test.blkclone:lio
			EOF
			echo "test VM ready after $(echo "$(date +%s.%N) - $t0" | bc | cut -c1-5) s"
			return 0
		fi
		if grep -q BLKCLONE-VM-FAILED "$dir/serial.log" 2>/dev/null || ! running; then
			break
		fi
		sleep 0.2
	done
	echo "vm.sh: the VM did not come up; serial log:" >&2
	tail -n 40 "$dir/serial.log" >&2 || true
	stop_vm
	return 1
}

# Send one command line; print what comes back; exit with its status.
exec_vm() {
	local out rc
	running && [ -f "$dir/vm.env" ] || { echo "vm.sh: the test VM is not running" >&2; return 2; }
	# shellcheck disable=SC1091
	. "$dir/vm.env"
	out=$(timeout "${EXEC_TIMEOUT:-900}" bash -c '
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 97
		printf "%s\n" "$2" >&3
		cat <&3' _ "$BLKCLONE_VM_EXEC_PORT" "$*") || true
	rc=$(printf '%s\n' "$out" | sed -n 's/^__BLKCLONE_RC=\([0-9]*\)$/\1/p' | tail -n1)
	printf '%s\n' "$out" | grep -v '^__BLKCLONE_RC=' || true
	if [ -z "$rc" ]; then
		echo "vm.sh: no exit status from the guest (channel broken or timed out)" >&2
		return 125
	fi
	return "$rc"
}

case ${1:-} in
start) shift; start_vm "$@" ;;
stop) stop_vm ;;
status) running ;;
exec) shift; exec_vm "$@" ;;
*) echo "usage: vm.sh start [BINARY [SAN-BINARY]] | stop | status | exec CMD..." >&2; exit 2 ;;
esac
