#!/usr/bin/perl
# The plugin with the real blkclone against tgt on 127.0.0.1 (started by
# tests/integration/test-pve-plugin.sh).  tgt has no EXTENDED COPY, so
# every pair must come out as "no copy-offload" and copy_image must stop
# with exit 3, leaving the destination LUN byte for byte as it was.
use strict;
use warnings;
use Test::More;
use Digest::SHA qw(sha256_hex);
use lib 't/lib', '.';
use PVEEnv;
use BlkCloneTest;
use PVE::Storage::Plugin;
use PVE::Storage::Custom::BlkcloneISCSIPlugin;

for (qw(BLKCLONE_PVE_PORTAL BLKCLONE_PVE_TARGET BLKCLONE_PVE_LUN_DIR BLKCLONE_PVE_CHAP_TARGET
        BLKCLONE_PVE_CHAP_USER BLKCLONE_PVE_CHAP_SECRET)) {
    die "$_ unset: run through tests/integration/test-pve-plugin.sh\n" if !$ENV{$_};
}
my $C = 'PVE::Storage::Custom::BlkcloneISCSIPlugin';
my $Pool = 'PVE::Storage::Custom::BlkClone::LunPool';
my $root = setup();
real_blkclone();
$PVE::Storage::Custom::BlkcloneISCSIPlugin::PRIV_DIR = "$root/priv";
{
    local $SIG{__WARN__} = sub { warn @_ if $_[0] !~ /older storage API/ };
    load_custom_plugins($C);
}

my $dir = $ENV{BLKCLONE_PVE_LUN_DIR};
my $scfg = { type => 'blkcloneiscsi', portal => $ENV{BLKCLONE_PVE_PORTAL},
    target => $ENV{BLKCLONE_PVE_TARGET}, luns => '1-5', shared => 1 };
sub lun_sha { sha256_hex(slurp_file("$dir/lun$_[0].img")) }

# LUN 1 is VM 100's disk; 2 (8 MiB) is too small for it, 3 (16 MiB)
# fits best, 4 (32 MiB) fits, 5 is not exported.
$Pool->can('save')->('tgt', { 1 => { volname => 'vm-100-lun1', vmid => 100, size => 16 << 20 } });

subtest 'sizes from the target' => sub {
    is(scalar $C->volume_size_info($scfg, 'tgt', 'vm-100-lun1'), 16 << 20, 'LUN 1: 16 MiB');
    my ($total, $free, $used, $active) = $C->status('tgt', $scfg);
    is($used, 16 << 20, 'used: the assigned LUN');
    is($free, (8 + 16 + 32) << 20, 'free: LUNs 2, 3, 4 (5 does not answer)');
};

subtest 'has_feature copy-offload on tgt: no' => sub {
    ok(!$C->volume_has_feature($scfg, 'copy-offload', 'tgt', 'vm-100-lun1', undef, 0, {}),
        'LUN 1 -> the LUN an allocation would pick: no offload');
    my ($m, $why) = $C->copy_offload_check($scfg, 'tgt', 'vm-100-lun1', {});
    like($why, qr/xcopy-lid1: source: INQUIRY 3PC bit is 0/, "blkclone's reason: $why");
    ($m, $why) = $C->copy_offload_check($scfg, 'tgt', 'vm-100-lun1', { target_volname => 'vm-1-lun4' });
    ok(!defined $m && $why =~ /3PC bit is 0/, 'LUN 1 -> LUN 4: no offload either');
    ok(!$C->volume_has_feature({ %$scfg, 'copy-offload' => 0 }, 'copy-offload', 'tgt', 'vm-100-lun1', undef, 0, {}),
        'copy-offload 0: no');
};

subtest 'copy_image on tgt: exit 3, destination untouched' => sub {
    my %before = map { $_ => lun_sha($_) } 2, 3, 4;
    my ($out, $err) = capture(sub { $C->copy_image($scfg, 'tgt', 'vm-100-lun1', 200, 'raw', {}) });
    like($err, qr/^copy offload unavailable \(blkclone exit 3\): iscsi:\/\/[^ ]+\/3: plan: offload required but unavailable: xcopy-lid1: source: INQUIRY 3PC bit is 0; .*the destination is untouched, a host copy may be used instead; tgt:vm-200-lun3 was freed\n$/,
        "dies with blkclone's message: $err");
    like($out, qr/tgt:vm-100-lun1 -> tgt:vm-200-lun3/, 'the task log names the pair');
    is(lun_sha($_), $before{$_}, "LUN $_ bytes unchanged") for 2, 3, 4;
    is_deeply([keys %{ $Pool->can('load')->('tgt') }], [1], 'LUN 3 is free again');
    ($out, $err) = capture(sub { $C->copy_image({ %$scfg, 'copy-offload' => 0 }, 'tgt', 'vm-100-lun1', 200, 'raw', {}) });
    like($err, qr/copy-offload 0/, 'copy-offload 0: refused before anything');
    is(lun_sha(3), $before{3}, 'LUN 3 still unchanged');
};

subtest 'alloc and free on tgt' => sub {
    my $vol = $C->alloc_image('tgt', $scfg, 300, 'raw', undef, 10 * 1024);
    is($vol, 'vm-300-lun3', '10 MiB: the smallest free LUN that fits (3, not 2 or 4)');
    my $vol2 = $C->alloc_image('tgt', $scfg, 301, 'raw', undef, 4 * 1024);
    is($vol2, 'vm-301-lun2', '4 MiB: LUN 2');
    eval { $C->alloc_image('tgt', $scfg, 302, 'raw', 'vm-302-lun3', 1024) };
    like($@, qr/LUN 3 of storage 'tgt' is in use by vm-300-lun3/, 'an assigned LUN is not handed out twice');
    eval { $C->alloc_image('tgt', $scfg, 302, 'raw', undef, 64 * 1024) };
    like($@, qr/no free LUN of at least 67108864 bytes/, 'nothing big enough');
    ok(slurp_file("$dir/lun3.img") =~ /[^\0]/, 'LUN 3 holds data before it is freed');
    $C->free_image('tgt', $scfg, $vol);
    ok(slurp_file("$dir/lun3.img") !~ /[^\0]/, 'free_image zeroed LUN 3 on the target');
    $C->free_image('tgt', $scfg, $vol2);
    is_deeply([keys %{ $Pool->can('load')->('tgt') }], [1], 'both back in the pool');
};

subtest 'CHAP' => sub {
    my $chap = { %$scfg, target => $ENV{BLKCLONE_PVE_CHAP_TARGET}, username => $ENV{BLKCLONE_PVE_CHAP_USER},
        luns => '1' };
    eval { $C->volume_size_info($chap, 'chap', 'vm-100-lun1') };
    like($@, qr/no secret|BLKCLONE_ISCSI_PASSWORD_FILE/, "without the secret file blkclone cannot log in: $@");
    $C->on_add_hook('chap', $chap, password => $ENV{BLKCLONE_PVE_CHAP_SECRET});
    is(scalar $C->volume_size_info($chap, 'chap', 'vm-100-lun1'), 16 << 20, 'with it: logged in, 16 MiB');
    write_file("$root/priv/chap.pw", "wrong\n");
    eval { $C->volume_size_info($chap, 'chap', 'vm-100-lun1') };
    like($@, qr/probe failed/, 'a wrong secret fails');
};

done_testing();
