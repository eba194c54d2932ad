#!/usr/bin/perl
# The shared-LVM plugin beside other plugins, loaded as pve-storage loads
# them (each custom plugin registered in an eval of its own, then one
# PVE::Storage::Plugin->init() over all, outside any eval, which dies for
# a property declared twice or an option naming no property).  Each case
# runs in a fresh perl with a different hash order: init() visits the
# plugins in hash order, so an order-dependent clash shows up here.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use lib 't/lib', 't/plugins', '.';

my $tmp = tempdir('blkclone-pve-lvm-load.XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $n = 0;
sub run_perl {
    my ($code, %env) = @_;
    my $f = "$tmp/case" . $n++ . '.pl';
    open(my $fh, '>', $f) or die "$f: $!\n";
    print $fh "use strict; use warnings; use lib 't/lib', 't/plugins', '.'; use PVEEnv;\n"
        . "\$SIG{__WARN__} = sub { print STDERR \@_ if \$_[0] !~ /older storage API/ };\n$code\n";
    close($fh);
    local @ENV{ keys %env } = values %env;
    my $out = `$^X $f 2>&1`;
    return ($out, $? >> 8);
}

my $LVM = 'PVE::Storage::Custom::BlkcloneLVMPlugin';
my $report = 'my $p = PVE::Storage::Plugin->private(); print "types: ", join(",", grep { $p->{options}{$_} }'
    . ' qw(lvm dir blkclonelvm blkcloneiscsi examplenas offloadnas)), "\n";'
    . ' print "lvm-opts: ", join(",", sort grep { /^copy-offload/ } keys %{ $p->{options}{blkclonelvm} // {} }), "\n";';

for my $seed (1 .. 6) {
    subtest "hash seed $seed" => sub {
        my %env = (PERL_HASH_SEED => $seed, PERL_PERTURB_KEYS => 0);
        # beside the iSCSI plugin and a second third-party plugin
        my ($out, $rc) = run_perl("load_custom_plugins('PVE::Storage::Custom::ExampleNASPlugin',"
            . " 'PVE::Storage::Custom::BlkcloneISCSIPlugin', '$LVM'); $report", %env);
        is($rc, 0, 'the program runs') or diag($out);
        unlike($out, qr/Error loading|duplicate property|undefined property/, 'no load error');
        like($out, qr/^types: lvm,dir,blkclonelvm,blkcloneiscsi,examplenas$/m, 'every storage type is usable');
        like($out, qr/^lvm-opts: $/m, 'a pve-storage without copy-offload: the LVM plugin lists none of it');

        # a plugin of the old RFC that declares copy-offload itself
        ($out, $rc) = run_perl("load_custom_plugins('PVE::Storage::Custom::OffloadNASPlugin', '$LVM'); $report", %env);
        is($rc, 0, 'beside a plugin declaring copy-offload: runs') or diag($out);
        like($out, qr/^types: lvm,dir,blkclonelvm,offloadnas$/m, 'both load');
        like($out, qr/^lvm-opts: $/m, 'ours still lists no copy-offload (it is not the base\'s)');

        # the fork's pve-storage: the base defines both options
        ($out, $rc) = run_perl("define_base_property('copy-offload', { type => 'boolean', optional => 1 });"
            . " define_base_property('copy-offload-timeout', { type => 'integer', optional => 1 });"
            . " load_custom_plugins('PVE::Storage::Custom::ExampleNASPlugin', '$LVM'); $report", %env);
        is($rc, 0, "the fork's base: runs") or diag($out);
        like($out, qr/^types: lvm,dir,blkclonelvm,examplenas$/m, 'loads');
        like($out, qr/^lvm-opts: copy-offload,copy-offload-timeout$/m, 'lists both base options, declares neither');
    };
}

subtest 'a second plugin of type blkclonelvm: only that one is lost' => sub {
    my ($out, $rc) = run_perl("{ package PVE::Storage::Custom::OtherLVM; use base 'PVE::Storage::Plugin';"
        . " sub api { 13 } sub type { 'blkclonelvm' } sub properties { {} } sub options { {} } }"
        . " \$INC{'PVE/Storage/Custom/OtherLVM.pm'} = 1;"
        . " load_custom_plugins('$LVM', 'PVE::Storage::Custom::OtherLVM'); $report");
    like($out, qr/Error loading storage plugin "PVE::Storage::Custom::OtherLVM": duplicate plugin registration/,
        'the second is refused with a warning');
    like($out, qr/^types: lvm,dir,blkclonelvm$/m, 'ours and the built-in ones work');
    is($rc, 0, 'exit 0');
};

done_testing();
