package LVMTest;

# Shared setup of the LVM plugin tests with the stand-ins (t/lvm/*.t):
# private lock, state and job directories, the plugin loaded as
# pve-storage loads it, the in-memory VG (FakeLVM) answering the LVM
# command lines, the stand-in blkclone with a job store
# (t/bin/fake-blkclone-jobs), and the calls as pve-storage makes them.

use strict;
use warnings;

use File::Temp qw(tempdir);
use JSON::PP;

use PVEEnv;
use FakeLVM;
use PVE::Storage::Custom::BlkClone::Exec;
use PVE::Storage::Custom::BlkClone::LVMJobs;

use base 'Exporter';
our @EXPORT = qw($C $root $scfg slurp spit job set_job record blkclone_runs describe fresh locked
    prepare capture_out);

our $C = 'PVE::Storage::Custom::BlkcloneLVMPlugin';
our $root;
our $scfg = { type => 'blkclonelvm', vgname => 'pvevg', shared => 1, saferemove => 1 };
my $J = JSON::PP->new->canonical;

# setup(): the directories and the plugin; returns the warnings of loading it.
sub setup {
    $root = tempdir('blkclone-pve-lvm.XXXXXX', TMPDIR => 1, CLEANUP => 1);
    mkdir "$root/$_" for qw(lock state fake refusals);
    set_lock_dir("$root/lock");
    $ENV{BLKCLONE_STATE_DIR} = "$root/refusals";
    $ENV{FAKE_BLKCLONE_DIR} = "$root/fake";
    $ENV{FAKE_BLKCLONE_LOG} = "$root/fake.log";
    $PVE::Storage::Custom::BlkClone::LVMJobs::STATE_DIR = "$root/state/jobs";
    $PVE::Storage::Custom::BlkClone::Exec::BINARY = $ENV{FAKE_BLKCLONE_JOBS_BIN} // 't/bin/fake-blkclone-jobs';
    my @warnings;
    {
        local $SIG{__WARN__} = sub { push @warnings, $_[0] if $_[0] !~ /older storage API/ };
        load_custom_plugins($C);
    }
    FakeLVM::install('PVE::Storage::LVMPlugin', $C, 'PVE::Storage::Custom::BlkClone::Exec');
    return @warnings;
}

sub slurp { open(my $fh, '<', $_[0]) or die "$_[0]: $!"; local $/; return scalar <$fh> }
sub spit { open(my $fh, '>', $_[0]) or die "$_[0]: $!"; print $fh $_[1]; close($fh) }
# the stand-in's record of job ID, and changing it as the job would
sub job { return $J->decode(slurp("$root/fake/jobs/$_[0].json")) }
sub set_job { my ($id, $code) = @_; my $r = job($id); $code->($r); spit("$root/fake/jobs/$id.json", $J->encode($r)) }
# the plugin's record of a target of storage 'san'
sub record { return PVE::Storage::Custom::BlkClone::LVMJobs::load('san', $_[0]) }
sub blkclone_runs { return grep { !$_->{fake} } @FakeLVM::LOG }
sub describe { return join(', ', map { $_->{prog} . ($_->{alarm} ? ' (under the alarm)' : '') } @_) }

# A VG with two guest disks of VM 100, nothing else.
sub fresh {
    FakeLVM::reset_vg('pvevg', '/dev/mapper/mpatha', 1 << 30);
    FakeLVM::add_lv('pvevg', 'vm-100-disk-0', 16 << 20);
    FakeLVM::add_lv('pvevg', 'vm-100-disk-1', 8 << 20);
    unlink glob("$root/state/jobs/san/*.json");
    unlink glob("$root/fake/*.exit"), glob("$root/fake/*.err"), glob("$root/fake/*.json"),
        glob("$root/fake/*.alarm");
    %PVE::Storage::Custom::BlkcloneLVMPlugin::PROBE_CACHE = ();
}

# as vdisk_alloc/vdisk_free/vdisk_copy_prepare: under the cluster lock of
# the shared storage 'san'
sub locked { my ($code) = @_; return $C->cluster_lock_storage('san', 1, undef, $code) }
sub prepare {
    my ($src, $vmid) = @_;
    return locked(sub { $C->copy_image_prepare($scfg, 'san', $src, $scfg, 'san', $vmid, undef, { format => 'raw' }) });
}

# capture_out(CODE): (what CODE printed, its error)
sub capture_out {
    my ($code) = @_;
    my $out = '';
    open(my $fh, '>', \$out) or die;
    my $old = select($fh);
    eval { $code->() };
    my $err = $@;
    select($old);
    close($fh);
    return ($out, $err);
}

1;
