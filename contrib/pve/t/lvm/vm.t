#!/usr/bin/perl
# The shared-LVM plugin on a SAN LU: PVE's code and the plugin here, the
# commands they run (real lvm2, blkclone) in the test VM through its
# channel (t/lib/GuestCmd.pm), on LIO's LU S over tcm_loop.  A VG on
# the LU, guest disks made by PVE's LVM plugin, and a full clone LV to LV
# by EXTENDED COPY inside LIO: nothing read or written by the initiator,
# bytes equal by O_DIRECT reads in the guest; two disks in one job; and
# the freed target zeroed by the LU's WRITE SAME, checked on the LU.
# Run by tests/vm/test-vm-pve-lvm.sh (BLKCLONE_VM_DIR, TOP_SRCDIR).
use strict;
use warnings;
use Test::More;
use lib 't/lib', '.';

my $VMSH = ($ENV{TOP_SRCDIR} // '../..') . '/tests/vm/vm.sh';
# guest(SCRIPT): (output, exit status) of SCRIPT in the guest's sh
sub guest {
    my ($sh) = @_;
    open(my $fh, '-|', $VMSH, 'exec', $sh) or die "$VMSH: $!\n";
    local $/;
    my $out = <$fh> // '';
    close($fh);
    return ($out, $? >> 8);
}
BEGIN {
    plan skip_all => 'no test VM (BLKCLONE_VM_DIR unset)' if !$ENV{BLKCLONE_VM_DIR};
}
my ($has) = guest('command -v lvm && test -x /usr/sbin/blkclone && echo yes');
plan skip_all => 'the test VM has no lvm2 (tests/vm/build-initramfs.sh)' if $has !~ /yes$/m;

use File::Temp qw(tempdir);
use Digest::SHA ();
use PVEEnv;
use GuestCmd;
use PVE::Storage::Plugin;
use PVE::Storage::Custom::BlkClone::Exec;
use PVE::Storage::Custom::BlkClone::LVMJobs;

my $C = 'PVE::Storage::Custom::BlkcloneLVMPlugin';
my $root = tempdir('blkclone-pve-lvm-vm.XXXXXX', TMPDIR => 1, CLEANUP => 1);
mkdir "$root/$_", 0700 for qw(lock state);
set_lock_dir("$root/lock");
$PVE::Storage::Custom::BlkClone::LVMJobs::STATE_DIR = "$root/state/jobs";
$PVE::Storage::Custom::BlkClone::Exec::BINARY = '/usr/sbin/blkclone';
{
    local $SIG{__WARN__} = sub { warn @_ if $_[0] !~ /older storage API/ };
    load_custom_plugins($C);
}
@GuestCmd::TRANSPORT = ($VMSH, 'exec');
%GuestCmd::ENV_GUEST = (LVM_SYSTEM_DIR => '/tmp/pvelvm', BLKCLONE_STATE_DIR => '/tmp/pvejobs',
    BLKCLONE_LOCK_DIR => '/tmp/pvelocks');
GuestCmd::install('PVE::Tools', 'PVE::Storage::LVMPlugin', $C, 'PVE::Storage::Custom::BlkClone::Exec');

# what each part costs (under TCG every guest command takes seconds)
my $t0 = time();
my $ncmd = 0;
my $VG = 'pvevm';
my $MiB = 1 << 20;
my $scfg = { type => 'blkclonelvm', vgname => $VG, shared => 1, saferemove => 1 };
sub locked { my ($code) = @_; return $C->cluster_lock_storage('san', 1, undef, $code) }
sub capture_out {
    my ($code) = @_;
    my $out = '';
    open(my $fh, '>', \$out) or die;
    my $old = select($fh);
    eval { $code->() };
    my $err = $@;
    select($old);
    return ($out, $err);
}
# sha256 of a device (a range of 512-byte sectors), read around the page
# cache in the guest
sub gsum {
    my ($dev, $skip, $count) = @_;
    my ($o, $rc) = guest("set -o pipefail; dd if=$dev bs=512 skip=" . ($skip // 0)
        . (defined $count ? " count=$count" : '') . " iflag=direct 2>/dev/null | sha256sum");
    return $rc == 0 && $o =~ /^([0-9a-f]{64})/ ? $1 : "unreadable $dev: $o";
}

# --- a VG on LU S, as an administrator makes it for PVE (LVM scanning
# only that LU: the guest's own lvm.conf is for the multipath tests)
my $setup = <<'SH';
S=$(awk '$1 == "S" { print $2 }' /run/vm-luns)
mkdir -p -m 700 /tmp/pvelvm /tmp/pvejobs /tmp/pvelocks
printf '%s\n' \
 "devices { filter = [ \"a|^$S\$|\", \"r|.*|\" ] global_filter = [ \"a|^$S\$|\", \"r|.*|\" ]" \
 '  obtain_device_list_from_udev = 0 external_device_info_source = "none" use_devicesfile = 0 }' \
 'global { thin_check_executable = "" use_lvmpolld = 0 event_activation = 0 }' \
 'activation { udev_sync = 0 udev_rules = 0 verify_udev_operations = 1 monitoring = 0 }' \
 >/tmp/pvelvm/lvm.conf
export LVM_SYSTEM_DIR=/tmp/pvelvm
lvm vgremove -ff -y pvevm >/dev/null 2>&1; lvm pvremove -ff -y $S >/dev/null 2>&1
dd if=/dev/urandom of=$S bs=1M count=64 oflag=direct 2>/dev/null &&
lvm pvcreate -ff -y $S >/dev/null && lvm vgcreate -s 4M pvevm $S >/dev/null && echo "PV $S"
SH
my ($out, $rc) = guest($setup);
my ($S) = $out =~ /^PV (\S+)$/m;
ok($S, "VG $VG on LU S") or BAIL_OUT("no VG: $out");
END {
    guest('export LVM_SYSTEM_DIR=/tmp/pvelvm; lvm vgremove -ff -y pvevm >/dev/null 2>&1;'
        . " lvm pvremove -ff -y $S >/dev/null 2>&1; rm -rf /tmp/pvejobs") if $S;
}

# the guest disks of VM 100, made by PVE's LVM plugin, holding data
my @src = map { my $kib = $_; locked(sub { $C->alloc_image('san', $scfg, 100, 'raw', undef, $kib) }) } 8192, 4096;
is_deeply(\@src, ['vm-100-disk-0', 'vm-100-disk-1'], "PVE's lvcreate made the source disks");
for my $s (@src) {
    ($out, $rc) = guest("dd if=/dev/urandom of=/dev/$VG/$s bs=1M oflag=direct 2>/dev/null; "
        . "test \$(blockdev --getsize64 /dev/$VG/$s) -gt 0");
    is($rc, 0, "$s filled with random data");
}

sub lap { my ($what) = @_; note(sprintf('%s: %d s, %d guest commands', $what, time() - $t0, @GuestCmd::LOG - $ncmd));
    $t0 = time(); $ncmd = @GuestCmd::LOG }
lap('setup');

subtest 'volume_has_feature: LIO offers EXTENDED COPY' => sub {
    is($C->volume_has_feature($scfg, 'copy-offload-bulk', 'san', 'vm-100-disk-0', undef, 0), 1, 'copy-offload-bulk');
    ok(!$C->volume_has_feature($scfg, 'copy-offload-atomic', 'san', 'vm-100-disk-0', undef, 0), 'not atomic');
};

# poll the job in the guest until it ends; returns its last status
sub run_out {
    my ($t) = @_;
    my $id = PVE::Storage::Custom::BlkClone::LVMJobs::load('san', $t)->{job};
    my $st;
    for (1 .. 600) {    # a safety net: each poll is a round trip to the guest
        $st = PVE::Storage::Custom::BlkClone::LVMJobs::status($id);
        last if $st->{state} ne 'running';
        select(undef, undef, undef, 0.5);
    }
    return $st;
}

subtest 'full clones of two disks in one job, LV to LV by EXTENDED COPY, nothing through the initiator' => sub {
    my @t = map { my $s = $_; locked(sub { $C->copy_image_prepare($scfg, 'san', $s, $scfg, 'san', 200, undef,
        { format => 'raw' }) }) } @src;
    is_deeply(\@t, ['vm-200-disk-0', 'vm-200-disk-1'], 'prepare: the target LVs');
    $C->copy_images_start($scfg, 'san', $scfg, 'san', [map { { source => $src[$_], target => $t[$_] } } 0, 1]);
    my @rec = map { PVE::Storage::Custom::BlkClone::LVMJobs::load('san', $_) } @t;
    is($rec[0]{job}, $rec[1]{job}, 'one job');
    is_deeply([map { "$_->{method} $_->{consistency}" } @rec], ['xcopy-lid1 bulk', 'xcopy-lid1 bulk'],
        'job start: EXTENDED COPY for both, bulk');
    my $st = run_out($t[0]);
    is($st->{state}, 'complete', 'the job completes') or diag(explain($st));
    for my $i (0, 1) {
        my $r = $st->{pairs}[$i]{report} // {};
        is($r->{method}, 'xcopy-lid1', "disk $i copied by xcopy-lid1");
        is($r->{offloaded_bytes}, (8, 4)[$i] * $MiB, "disk $i: all " . (8, 4)[$i] . ' MiB offloaded');
        ok(defined $r->{read_bytes} && $r->{read_bytes} == 0 && $r->{written_bytes} == 0,
            "disk $i: no byte read or written by the initiator (read " . ($r->{read_bytes} // '?')
            . ', written ' . ($r->{written_bytes} // '?') . ')');
        is_deeply($C->copy_image_status($scfg, 'san', $t[$i], undef), { state => 'complete', progress => 100 },
            "copy_image_status of disk $i: complete");
        is(gsum("/dev/$VG/$t[$i]"), gsum("/dev/$VG/$src[$i]"), "disk $i: bytes equal (O_DIRECT reads in the guest)");
    }
};
lap('clone');

subtest 'free with saferemove: the LU zeroes the LV (WRITE SAME), outside the lock' => sub {
    my $t = 'vm-200-disk-0';
    ($out) = guest("dmsetup table $VG-vm--200--disk--0");
    my ($len, $start) = $out =~ /^0 (\d+) linear \S+ (\d+)\s*$/m;
    ok($len && defined $start, 'its window on the LU: ' . ($len // '?') . ' sectors at ' . ($start // '?'));
    my $zeros = Digest::SHA::sha256_hex("\0" x (($len // 0) * 512));
    isnt(gsum($S, $start, $len), $zeros, 'the window holds the clone');
    my $w = locked(sub { $C->free_image('san', $scfg, $t, 0, 'raw') });
    my $mark = @GuestCmd::LOG;
    my ($log, $err) = capture_out($w);
    is($err, '', 'the worker ran');
    like($log, qr/with blkclone zero \(write_same_unmap: /, "blkclone zero, by the LU's WRITE SAME");
    ok(grep({ ($_->[1] // '') eq 'zero' } @GuestCmd::LOG[$mark .. $#GuestCmd::LOG]), 'blkclone zero ran in the guest');
    is(gsum($S, $start, $len), $zeros, 'the window reads zeros on the LU');
    ($out) = guest("LVM_SYSTEM_DIR=/tmp/pvelvm lvm lvs --noheadings -o lv_name $VG");
    unlike($out, qr/vm-200-disk-0/, 'and the LV is gone');
};
lap('free');

done_testing();
