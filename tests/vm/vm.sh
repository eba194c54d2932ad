#!/bin/bash
# The test VM: LIO (iSCSI + tcm_loop) and a QEMU NVMe controller, under
# software emulation (KVM does not work on the machines this runs on).
#
#   vm.sh start [BINARY...]   build the initramfs with these blkclone
#                             binaries (build-initramfs.sh), boot, wait
#   vm.sh stop                kill QEMU (idempotent)
#   vm.sh status              say whether it runs; exit 0 if it does
#   vm.sh exec COMMAND...     run COMMAND (one shell command line, or a
#                             script) in the guest: its stdout and stderr,
#                             and its exit status as vm.sh's
# State lives in $BLKCLONE_VM_DIR (default $TOP_BUILDDIR/vm, else ./vm):
# vmlinuz, initrd.gz, serial.log, qemu.pid, vm.env (the ports, for tests).
# Environment: BLKCLONE_VM_PORT (first of three consecutive host ports:
# iSCSI tpgt_1, iSCSI tpgt_2, command channel; default 13260, and the next
# free three if those are taken), READY_TIMEOUT (s, default 300),
# EXEC_TIMEOUT (s, default 900).
#
# exec's channel: a TCP connection per command to busybox nc in the guest
# (port forward to 2323), which runs tests/vm/guest/exec-one.sh: the host
# sends "LIMIT BASE64-OF-COMMAND", the guest streams the output back and
# ends with a line __BLKCLONE_RC=NNN, which exec takes off again.  The
# guest kills the command's process group at LIMIT (EXEC_TIMEOUT) and when
# it ends, so detach anything meant to outlive it (setsid, output
# redirected).  No nc is needed on the host: bash's /dev/tcp, and perl.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${BLKCLONE_VM_DIR:-${TOP_BUILDDIR:-$PWD}/vm}
[ -d "$dir" ] && dir=$(cd "$dir" && pwd)	# as QEMU's command line has it
port=${BLKCLONE_VM_PORT:-13260}

# The pid in qemu.pid, if it still is our QEMU: a stale file's pid may
# belong to another process by now, which must never be killed.
qemu_pid() {
	local pid cmd
	[ -f "$dir/qemu.pid" ] || return 1
	pid=$(cat "$dir/qemu.pid" 2>/dev/null) && [ -n "$pid" ] || return 1
	cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	case $cmd in
	*qemu-system*" file:$dir/serial.log "*) echo "$pid" ;;
	*) return 1 ;;
	esac
}

running() { qemu_pid >/dev/null; }

stop_vm() {
	local pid i
	if pid=$(qemu_pid); then
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null || true
			for i in $(seq 50); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
		fi
		! kill -0 "$pid" 2>/dev/null || { echo "vm.sh: QEMU (pid $pid) survives SIGKILL" >&2; return 1; }
	fi
	rm -f "$dir/qemu.pid" "$dir/vm.env"
}

port_free() {	# nothing listens on 127.0.0.1:$1
	if command -v ss >/dev/null; then
		# asks the kernel: no connection to whatever listens there
		[ -z "$(ss -Htln "sport = :$1" 2>/dev/null)" ]
	else
		! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}

start_vm() {
	local t0 i ready=${READY_TIMEOUT:-300} p
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	running && stop_vm
	command -v qemu-system-x86_64 >/dev/null ||
		{ echo "vm.sh: qemu-system-x86_64 is not installed (tests/install-deps.sh --vm)" >&2; return 1; }
	"$here/build-initramfs.sh" "$dir" "$@" || { echo "vm.sh: building the initramfs failed" >&2; return 1; }
	# Three consecutive free host ports from $port on: another VM (a
	# second checkout, a benchmark) may hold the default ones.
	for i in $(seq 0 20); do
		if port_free "$port" && port_free $((port + 1)) && port_free $((port + 2)); then
			break
		fi
		[ -n "${BLKCLONE_VM_PORT:-}" ] &&
			{ echo "vm.sh: host ports $port-$((port + 2)) (BLKCLONE_VM_PORT) are in use" >&2; return 1; }
		[ "$i" = 20 ] && { echo "vm.sh: no three free host ports in 13260-$((port + 2))" >&2; return 1; }
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
		{ echo "vm.sh: qemu-system-x86_64 did not start (its message is above)" >&2; return 1; }
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
	if grep -q BLKCLONE-VM-FAILED "$dir/serial.log" 2>/dev/null; then
		echo "vm.sh: the guest's /init failed: $(sed -n 's/.*BLKCLONE-VM-FAILED: //p' "$dir/serial.log" | head -n1)" >&2
	elif ! running; then
		echo "vm.sh: QEMU exited before the guest was ready" >&2
	else
		echo "vm.sh: the guest was not ready after $ready s (READY_TIMEOUT)" >&2
	fi
	echo "vm.sh: the last lines of $dir/serial.log:" >&2
	tail -n 40 "$dir/serial.log" >&2 || true
	stop_vm
	return 1
}

# exec_vm COMMAND...: the words are joined with spaces into one command
# for the guest's sh -c (like ssh does), so quote for the guest.  Prints
# its output as it comes, byte for byte, and returns its exit status;
# 125 when there is no status: no VM, a broken channel, the time limit.
exec_vm() {
	local limit=${EXEC_TIMEOUT:-900} rc st=0
	[ $# -gt 0 ] || { echo "usage: vm.sh exec COMMAND..." >&2; return 2; }
	if ! running || [ ! -f "$dir/vm.env" ]; then
		echo "vm.sh exec: the test VM is not running (BLKCLONE_VM_DIR=$dir)" >&2
		return 125
	fi
	# shellcheck disable=SC1091
	. "$dir/vm.env"
	if ! exec 3<>"/dev/tcp/127.0.0.1/$BLKCLONE_VM_EXEC_PORT"; then
		echo "vm.sh exec: cannot connect to the guest (127.0.0.1:$BLKCLONE_VM_EXEC_PORT)" >&2
		return 125
	fi
	# The guest kills the command at the limit and still reports; the
	# host waits a little longer, for when the guest itself is stuck.
	printf '%s %s\n' "$limit" "$(printf '%s' "$*" | base64 -w0)" >&3
	# The reply ends in "\n__BLKCLONE_RC=NNN\n", 19 bytes, the newline
	# before the marker being the guest's, not the command's.  The output
	# is passed on as it arrives, except for a tail that could be the
	# start of the marker: that waits for more.  (perl: Debian's
	# perl-base is essential; bash's read goes a byte at a time, head -c
	# -19 waits for 8 KiB.)  The status comes out on fd 4, the output
	# goes to our stdout (fd 5).
	exec 5>&1
	rc=$(timeout $((limit + 30)) perl -e '
		sub marker_start {	# could $_[0] begin "\n__BLKCLONE_RC=NNN\n"?
			my ($s, $t) = (shift, "\n__BLKCLONE_RC=999\n");
			return 0 if length($s) > length($t);
			for my $i (0 .. length($s) - 1) {
				my ($c, $w) = (substr($s, $i, 1), substr($t, $i, 1));
				return 0 unless $w eq "9" ? $c =~ /[0-9]/ : $c eq $w;
			}
			return 1;
		}
		my $buf = "";
		while (sysread(STDIN, my $chunk, 65536)) {
			$buf .= $chunk;
			my $keep = 0;
			for (my $i = index($buf, "\n", length($buf) > 19 ? length($buf) - 19 : 0);
			     $i >= 0; $i = index($buf, "\n", $i + 1)) {
				if (marker_start(substr($buf, $i))) { $keep = length($buf) - $i; last; }
			}
			syswrite(STDOUT, substr($buf, 0, length($buf) - $keep, "")) if length($buf) > $keep;
		}
		if ($buf =~ /\A\n__BLKCLONE_RC=(\d{3})\n\z/) {
			open(my $st, ">&=", 4) or die; print $st $1 + 0, "\n";
		} else {
			syswrite(STDOUT, $buf);
		}' <&3 4>&1 >&5) || st=$?
	exec 3<&- 5>&-
	[ -n "$rc" ] && return "$rc"
	case $st in
	0) echo "vm.sh exec: the channel closed before the guest sent the exit status" >&2 ;;
	124) echo "vm.sh exec: no answer from the guest within $((limit + 30)) s (EXEC_TIMEOUT=$limit)" >&2 ;;
	*) echo "vm.sh exec: reading the guest's reply failed (exit $st)" >&2 ;;
	esac
	return 125
}

status_vm() {
	local pid
	if pid=$(qemu_pid); then
		if [ -f "$dir/vm.env" ]; then
			# shellcheck disable=SC1091
			. "$dir/vm.env"
			echo "test VM running: pid $pid, iSCSI 127.0.0.1:$BLKCLONE_VM_ISCSI_PORT (tpgt_2: $BLKCLONE_VM_ISCSI_PORT2), exec port $BLKCLONE_VM_EXEC_PORT, $dir"
		else
			echo "test VM booting (not ready): pid $pid, $dir"
			return 1
		fi
	else
		echo "test VM not running ($dir)"
		return 1
	fi
}

case ${1:-} in
start) shift; start_vm "$@" ;;
stop) stop_vm ;;
status) status_vm ;;
exec) shift; exec_vm "$@" ;;
*) echo "usage: vm.sh start [BINARY...] | stop | status | exec COMMAND..." >&2; exit 2 ;;
esac
