#!/usr/bin/perl
# The shared-LVM plugin with the real blkclone: its job start, status,
# cancel and zero, at the paths the plugin names, on real block devices.
# This host has no device-mapper for real lvm2, so the volume group is
# t/lib/FakeLVM.pm in loop mode: each LV a loop device over a file,
# /dev/VG/NAME a link to it; PVE's LVM plugin (the double, or the real
# one with PVE_STORAGE_SRC) runs its usual lvm2 command lines against it.
# Loop devices have no in-array copy, so the plugin runs with offload
# 'auto' (its test hook $OFFLOAD): a host copy by the same job commands.
# The oracle is the backing files, never blkclone reading its output.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use Digest::SHA;
use Time::HiRes qw(sleep);
use lib 't/lib', '.';

BEGIN {
    plan skip_all => 'needs root (loop devices)' if $> != 0;
    plan skip_all => 'BLKCLONE must name a built blkclone' if !-x ($ENV{BLKCLONE} // '');
    plan skip_all => 'losetup missing' if system('losetup -f >/dev/null 2>&1') != 0;
}
use PVEEnv;
use FakeLVM;
use PVE::Storage::Plugin;
use PVE::Storage::Custom::BlkClone::Exec;
use PVE::Storage::Custom::BlkClone::LVMJobs;

my $C = 'PVE::Storage::Custom::BlkcloneLVMPlugin';
my $root = tempdir('blkclone-pve-lvm-real.XXXXXX', TMPDIR => 1, CLEANUP => 1);
mkdir "$root/$_", 0700 for qw(lock state lv bcstate);
set_lock_dir("$root/lock");
$ENV{BLKCLONE_STATE_DIR} = "$root/bcstate";
$PVE::Storage::Custom::BlkClone::LVMJobs::STATE_DIR = "$root/state/jobs";
$PVE::Storage::Custom::BlkClone::Exec::BINARY = $ENV{BLKCLONE};
{
    local $SIG{__WARN__} = sub { warn @_ if $_[0] !~ /older storage API/ };
    PVEEnv::load_custom_plugins($C);
}
FakeLVM::install('PVE::Storage::LVMPlugin', $C, 'PVE::Storage::Custom::BlkClone::Exec');
FakeLVM::use_loops("$root/lv");
{ no warnings 'once'; $PVE::Storage::Custom::BlkcloneLVMPlugin::OFFLOAD = 'auto'; }
my $VG = "bcpvetest$$";
END { FakeLVM::cleanup_loops() }

my $MiB = 1 << 20;
sub sha_file { my ($f, $len) = @_; open(my $fh, '<', $f) or die "$f: $!"; binmode $fh;
    my $buf = ''; my $got = read($fh, $buf, $len); die "$f: short read" if $got != $len; return Digest::SHA::sha256_hex($buf) }
sub img { "$root/lv/$VG-$_[0].img" }
sub fill {    # random data through the block device, with a hole in the middle
    my ($lv, $size) = @_;
    my $dev = "/dev/$VG/$lv";
    system("dd if=/dev/urandom of=$dev bs=1M count=" . ($size / $MiB / 2) . " oflag=direct status=none") == 0 or die;
    system("dd if=/dev/urandom of=$dev bs=1M seek=" . (3 * $size / $MiB / 4) . ' count=' . ($size / $MiB / 4)
        . " oflag=direct status=none") == 0 or die;
}
my $scfg = { type => 'blkclonelvm', vgname => $VG, shared => 1, saferemove => 1 };
sub locked { my ($code) = @_; return $C->cluster_lock_storage('san', 1, undef, $code) }
sub capture_out { my ($code) = @_; my $out = ''; open(my $fh, '>', \$out) or die; my $old = select($fh);
    eval { $code->() }; my $err = $@; select($old); return ($out, $err) }
sub prepare { my ($src, $vmid) = @_;
    locked(sub { $C->copy_image_prepare($scfg, 'san', $src, $scfg, 'san', $vmid, undef, { format => 'raw' }) }) }
sub wait_complete {
    my ($t) = @_;
    my ($last, @seen) = (-1);
    for (1 .. 3000) {    # a safety net, not a time the test depends on
        my $s = $C->copy_image_status($scfg, 'san', $t, undef);
        push @seen, $s->{progress};
        return ($s, \@seen) if $s->{state} eq 'complete';
        sleep(0.1);
    }
    return (undef, \@seen);
}

FakeLVM::reset_vg($VG, undef, 1 << 30);
FakeLVM::pv_loop($VG, 8 * $MiB);
FakeLVM::add_lv($VG, 'vm-100-disk-0', 16 * $MiB);
FakeLVM::add_lv($VG, 'vm-100-disk-1', 8 * $MiB);
fill('vm-100-disk-0', 16 * $MiB);
fill('vm-100-disk-1', 8 * $MiB);

subtest 'volume_has_feature on a loop device: no in-array copy' => sub {
    ok(!$C->volume_has_feature($scfg, 'copy-offload-bulk', 'san', 'vm-100-disk-0', undef, 0),
        'copy-offload-bulk is not claimed');
    my ($ok, $why) = PVE::Storage::Custom::BlkcloneLVMPlugin::source_offload($scfg, 'vm-100-disk-0');
    like($why, qr/offers no in-array copy/, "why: $why");
};

subtest 'offload required (production): refused before any write' => sub {
    local $PVE::Storage::Custom::BlkcloneLVMPlugin::OFFLOAD = 'require';
    my $before = sha_file(img('vm-100-disk-1'), 8 * $MiB);
    eval { prepare('vm-100-disk-0', 500) };
    like($@, qr/^copy offload unavailable from san:vm-100-disk-0 to san:vm-500-disk-0: .*xcopy/,
        "prepare: blkclone probe's reason (" . ($@ =~ s/\n//r) . ')');
    ok(!$FakeLVM::VG{$VG}{lvs}{'vm-500-disk-0'}, 'the target LV is removed again');

    # a target prepared without the pair check, started under require
    my $t = do { local $PVE::Storage::Custom::BlkcloneLVMPlugin::OFFLOAD = 'auto'; prepare('vm-100-disk-1', 500) };
    my $res0 = PVE::Storage::Custom::BlkClone::Exec::run(['job', 'list', '--json']);
    eval { $C->copy_image_start($scfg, 'san', 'vm-100-disk-1', $scfg, 'san', $t, undef) };
    like($@, qr/^copy offload unavailable \(blkclone exit 3\): /, "job start: exit 3 (" . ($@ =~ s/\n//r) . ')');
    my $res1 = PVE::Storage::Custom::BlkClone::Exec::run(['job', 'list', '--json']);
    is($res1->{stdout}, $res0->{stdout}, 'no job left behind');
    is(PVE::Storage::Custom::BlkClone::LVMJobs::load('san', $t)->{state}, 'prepared', 'the target stays prepared');
    is(sha_file(img($t), 8 * $MiB), sha_file('/dev/zero', 8 * $MiB), 'and untouched');
    my $w = locked(sub { $C->free_image('san', $scfg, $t, 0, 'raw') });
    capture_out($w);
    is(sha_file(img('vm-100-disk-1'), 8 * $MiB), $before, 'the source is unchanged');
};

subtest 'prepare, start, status to complete: bytes equal' => sub {
    my $t = prepare('vm-100-disk-0', 200);
    is($t, 'vm-200-disk-0', 'target created');
    @FakeLVM::LOG = ();
    $C->copy_image_start($scfg, 'san', 'vm-100-disk-0', $scfg, 'san', $t, undef);
    my $rec = PVE::Storage::Custom::BlkClone::LVMJobs::load('san', $t);
    like($rec->{job}, qr/^[0-9a-f]{16}$/, "the real blkclone's job id ($rec->{job})");
    is($rec->{method}, 'host', 'a host copy on loop devices (offload auto)');
    is($rec->{consistency}, 'bulk', 'bulk');
    my ($s, $seen) = wait_complete($t);
    ok($s, 'complete') or diag("progress seen: @$seen");
    my @p = grep { defined } @$seen;
    ok(!grep({ $p[$_] < $p[$_ - 1] } 1 .. $#p), "progress never decreases (@p[0 .. ($#p < 5 ? $#p : 5)] ...)");
    is(sha_file(img($t), 16 * $MiB), sha_file(img('vm-100-disk-0'), 16 * $MiB), 'target bytes equal the source (backing files)');
    my $res = PVE::Storage::Custom::BlkClone::Exec::run(['job', 'status', '--json', $rec->{job}]);
    is($res->{exit}, 2, 'the ended job was forgotten (job status: exit 2)');
};

subtest 'copy_images_start: two disks, one real job' => sub {
    my @t = map { prepare($_, 300) } qw(vm-100-disk-0 vm-100-disk-1);
    $C->copy_images_start($scfg, 'san', $scfg, 'san', [
        { source => 'vm-100-disk-0', target => $t[0] }, { source => 'vm-100-disk-1', target => $t[1] }]);
    my @j = map { PVE::Storage::Custom::BlkClone::LVMJobs::load('san', $_)->{job} } @t;
    is($j[0], $j[1], 'one job for both');
    ok(wait_complete($_), "$_ complete") for @t;
    is(sha_file(img($t[0]), 16 * $MiB), sha_file(img('vm-100-disk-0'), 16 * $MiB), 'disk 0 equal');
    is(sha_file(img($t[1]), 8 * $MiB), sha_file(img('vm-100-disk-1'), 8 * $MiB), 'disk 1 equal');
};

subtest 'free_image with saferemove: the real blkclone zero in the worker' => sub {
    my $t = 'vm-200-disk-0';
    isnt(sha_file(img($t), 16 * $MiB), sha_file('/dev/zero', 16 * $MiB), 'the volume holds data');
    my $worker = locked(sub { $C->free_image('san', $scfg, $t, 0, 'raw') });
    is(ref($worker), 'CODE', 'renamed, with a worker');
    @FakeLVM::LOG = ();
    my $out = '';
    {
        open(my $fh, '>', \$out) or die;
        my $old = select($fh);
        eval { $worker->() };
        select($old);
        is($@, '', 'the worker ran');
    }
    like($out, qr/with blkclone zero \(zeroout: /, 'blkclone zero, the loop device offering write-zeroes');
    my ($z) = grep { $_->{prog} eq 'zero' } @FakeLVM::LOG;
    is($z && $z->{alarm}, 0, 'outside the lock');
    is(sha_file(img($t), 16 * $MiB), sha_file('/dev/zero', 16 * $MiB), 'the backing file reads zeros');
    ok(!$FakeLVM::VG{$VG}{lvs}{"del-$t"}, 'and the LV is removed');
};

subtest 'free_image of a target whose job may still run: cancelled first' => sub {
    my $t = prepare('vm-100-disk-0', 400);
    $C->copy_image_start($scfg, 'san', 'vm-100-disk-0', $scfg, 'san', $t, undef);
    my $id = PVE::Storage::Custom::BlkClone::LVMJobs::load('san', $t)->{job};
    @FakeLVM::LOG = ();
    my $worker = locked(sub { $C->free_image('san', $scfg, $t, 0, 'raw') });
    my @order = map { $_->{prog} } grep { $_->{prog} =~ /^(job cancel|job forget|lvrename)$/ } @FakeLVM::LOG;
    is("@order", 'job cancel job forget lvrename', 'cancel, forget, then rename');
    # whether it was still copying or had just ended, it is over now
    my $res = PVE::Storage::Custom::BlkClone::Exec::run(['job', 'status', '--json', $id]);
    is($res->{exit}, 2, 'the job is gone');
    ok(!PVE::Storage::Custom::BlkClone::LVMJobs::load('san', $t), 'and its record');
    my $out = '';
    {
        open(my $fh, '>', \$out) or die;
        my $old = select($fh);
        eval { $worker->() };
        select($old);
        is($@, '', 'the worker ran');
    }
    like($out, qr/with blkclone zero/, 'blkclone zeroed it');
    is(sha_file(img($t), 16 * $MiB), sha_file('/dev/zero', 16 * $MiB), 'the backing file reads zeros');
    ok(!$FakeLVM::VG{$VG}{lvs}{"del-$t"}, 'removed after zeroing');
};

done_testing();
