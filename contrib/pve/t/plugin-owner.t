#!/usr/bin/perl
# Which LUN a volume name reaches.  PVE checks permissions by the owner
# the name carries (vm-200-...: VM.Config.Disk on VM 200), so a name must
# never reach a LUN assigned to another volume, or one outside the
# storage's set: every entry point looks the name up in the assignment,
# and a refusal runs no blkclone at all.
use strict;
use warnings;
use Test::More;
use lib 't/lib', '.';
use PVEEnv;
use BlkCloneTest;
use PVE::Storage::Plugin;
use PVE::Storage::Custom::BlkcloneISCSIPlugin;

my $C = 'PVE::Storage::Custom::BlkcloneISCSIPlugin';
my $root = setup();
$PVE::Storage::Custom::BlkcloneISCSIPlugin::PRIV_DIR = "$root/priv";
my $Pool = 'PVE::Storage::Custom::BlkClone::LunPool';
my $Local = 'PVE::Storage::Custom::BlkClone::Local';
{
    local $SIG{__WARN__} = sub { warn @_ if $_[0] !~ /older storage API/ };
    load_custom_plugins($C);
}
fake_blkclone();

my $scfg = { type => 'blkcloneiscsi', portal => '127.0.0.1:3260', target => 'iqn.2026-11.test:a',
    'blkclone-luns' => '1-4', shared => 1 };
my %map = (
    1 => { volname => 'vm-100-disk-0', vmid => 100, size => 16777216 },
    2 => { volname => 'vm-100-lun2', vmid => 100, size => 16777216 },      # a name of earlier versions
    9 => { volname => 'vm-200-disk-9', vmid => 200, size => 16777216 },    # LUN 9 is not in 1-4
    3 => { volname => 'vm-200-disk-3', vmid => 100, size => 16777216 },    # owner and name disagree
);
$Pool->can('save')->('st', \%map);
my $NOPE = qr/^volume '[^']+' does not exist on storage 'st'$/;

# Every entry point that takes a volume name, as PVE calls it.
my %entry = (
    path => sub { $C->path($scfg, $_[0], 'st') },
    activate_volume => sub { $C->activate_volume('st', $scfg, $_[0]) },
    qemu_blockdev_options => sub { $C->qemu_blockdev_options($scfg, 'st', $_[0], '10.0', {}) },
    volume_size_info => sub { $C->volume_size_info($scfg, 'st', $_[0]) },
    free_image => sub { $C->free_image('st', $scfg, $_[0], 0, 'raw') },
    clone_image => sub { $C->clone_image($scfg, 'st', $_[0], 200) },
    copy_image_prepare => sub { $C->copy_image_prepare($scfg, 'st', $_[0], $scfg, 'st', 200, undef, {}) },
    'copy_image_start (source)' => sub { $C->copy_image_start($scfg, 'st', $_[0], $scfg, 'st', 'vm-100-disk-0', undef) },
    'copy_image_start (target)' => sub { $C->copy_image_start($scfg, 'st', 'vm-100-disk-0', $scfg, 'st', $_[0], undef) },
    copy_images_start => sub { $C->copy_images_start($scfg, 'st', $scfg, 'st', [{ source => 'vm-100-disk-0', target => $_[0] }]) },
    copy_image_status => sub { $C->copy_image_status($scfg, 'st', $_[0], undef) },
    copy_image => sub { $C->copy_image($scfg, 'st', $_[0], 200, 'raw', {}) },
    volume_export => sub { open(my $fh, '>', \my $buf); $C->volume_export($scfg, 'st', $fh, $_[0], 'raw+size', undef, undef, 0) },
);

my %case = (
    'vm-200-lun1' => [$NOPE, "VM 200 naming VM 100's LUN 1 the old way"],
    'vm-200-disk-0' => [$NOPE, 'a name nobody was given'],
    'vm-200-disk-9' => [qr/^LUN 9 of volume 'vm-200-disk-9' is not in storage 'st' \(blkclone-luns 1-4\)$/,
        'a LUN outside the storage\'s set'],
    'vm-200-disk-3' => [qr/^LUN 3 of storage 'st' belongs to VM 100, not to 'vm-200-disk-3'$/,
        'an entry whose owner is not the name\'s'],
    '../vm-100-disk-0' => [qr/^unable to parse blkclone-iscsi volume name/, 'a name that is no name'],
);

for my $vol (sort keys %case) {
    my ($re, $what) = @{ $case{$vol} };
    subtest "$vol: $what" => sub {
        for my $e (sort keys %entry) {
            my $n = @{ fake_log() };
            my (undef, $err) = capture(sub { $entry{$e}->($vol) });
            chomp $err;
            like($err, $re, "$e refused: $err");
            is(scalar @{ fake_log() }, $n, "$e ran no blkclone");
        }
        ok(!$C->volume_has_feature($scfg, "copy-offload-$_", 'st', $vol, undef, 0), "copy-offload-$_: no")
            for qw(atomic bulk);
    };
}

subtest 'alloc_image: names of the VM only, never twice' => sub {
    eval { $C->alloc_image('st', $scfg, 200, 'raw', 'vm-100-disk-5', 1024) };
    like($@, qr/^volume name 'vm-100-disk-5' does not belong to VM 200$/, "another VM's name refused");
    eval { $C->alloc_image('st', $scfg, 100, 'raw', 'vm-100-disk-0', 1024) };
    like($@, qr/^volume 'vm-100-disk-0' already exists on storage 'st'$/, 'an existing name refused');
    eval { $C->alloc_image('st', $scfg, 100, 'raw', 'vm-100-lun4', 1024) };
    is($@, '', 'vm-N-lunL is just a name now: LUN 4 is free, the name picks nothing');
    my $m = $Pool->can('load')->('st');
    is($m->{4}{volname}, 'vm-100-lun4', 'assigned LUN 4 (the only free one)');
    eval { $C->alloc_image('st', $scfg, 100, 'raw', 'vm-100-cloudinit', 1024) };
    like($@, qr/no free LUN/, 'a cloud-init disk is accepted by name (then needs a free LUN)');
    eval { $C->alloc_image('st', $scfg, 100, 'qcow2', undef, 1024) };
    like($@, qr/raw volumes only/, 'raw only');
};

subtest 'the owner can reach its own volumes' => sub {
    is(($C->path($scfg, 'vm-100-disk-0', 'st'))[0], 'iscsi://127.0.0.1:3260/iqn.2026-11.test:a/1', 'vm-100-disk-0: LUN 1');
    is(($C->path($scfg, 'vm-100-lun2', 'st'))[0], 'iscsi://127.0.0.1:3260/iqn.2026-11.test:a/2',
        'vm-100-lun2 (assigned by an earlier version): LUN 2');
    ok($C->activate_volume('st', $scfg, 'vm-100-disk-0'), 'activates');
};

subtest 'a damaged assignment file is an error, not a free-for-all' => sub {
    write_file("$root/state/st.luns.json", '{"luns":{"1":{"volname":"vm-100-disk-0","vmid":100},'
        . '"2":{"volname":"vm-100-disk-0","vmid":100}}}');
    eval { $C->path($scfg, 'vm-100-disk-0', 'st') };
    like($@, qr/assigned to LUNs 1,2 .* damaged/, 'one name on two LUNs');
    write_file("$root/state/st.luns.json", '{"luns":{"x":{"volname":"vm-100-disk-0","vmid":100}}}');
    eval { $C->path($scfg, 'vm-100-disk-0', 'st') };
    like($@, qr/'x' is not a LUN number/, 'a key that is no LUN');
};

done_testing();
