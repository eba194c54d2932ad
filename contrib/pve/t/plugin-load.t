#!/usr/bin/perl
# The blkclone plugin beside other storage plugins, loaded as pve-storage
# loads them (PVEEnv::load_custom_plugins: each custom plugin registers
# in an eval of its own, then PVE::Storage::Plugin->init() checks all
# plugins at once, outside any eval).  Property names are global across
# all plugins: one declared twice makes init() die, and as that happens
# while PVE::Storage is being loaded, every PVE daemon that needs storage
# fails to start.  The blkclone plugin declares only names no other
# plugin would use.  The second plugins are in t/plugins/
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use lib 't/lib', 't/plugins', '.';
use PVEEnv;
use PVE::Storage::Plugin;

my $C = 'PVE::Storage::Custom::BlkcloneISCSIPlugin';
my $tmp = tempdir('blkclone-pve-load.XXXXXX', TMPDIR => 1, CLEANUP => 1);

# run_perl(CODE, %env): (output with stderr, exit code) of CODE in a
# fresh perl, with the tests' library paths and PVEEnv loaded.
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

subtest 'beside a second custom plugin: both load' => sub {
    my @warnings;
    {
        local $SIG{__WARN__} = sub { push @warnings, $_[0] if $_[0] !~ /older storage API/ };
        load_custom_plugins('PVE::Storage::Custom::ExampleNASPlugin', $C);
    }
    is("@warnings", '', 'no plugin failed to load');
    my $pdata = PVE::Storage::Plugin->private();
    is($pdata->{plugins}{blkcloneiscsi}, $C, 'blkcloneiscsi is registered');
    is($pdata->{plugins}{examplenas}, 'PVE::Storage::Custom::ExampleNASPlugin', 'examplenas too');
    ok($pdata->{options}{blkcloneiscsi}{'blkclone-luns'} && $pdata->{options}{examplenas}{'nas-pool'},
        'both have their options');
    ok($pdata->{propertyList}{'blkclone-luns'} && $pdata->{propertyList}{'nas-pool'},
        "both plugins' properties are in the one property list");
    ok(!$pdata->{propertyList}{'copy-offload'}, 'copy-offload is nobody\'s here (pve-storage 9.1.7 has none)');
    ok(!$pdata->{options}{blkcloneiscsi}{'copy-offload'}, 'so the blkclone plugin does not offer it');
    ok($pdata->{options}{dir} && $pdata->{options}{iscsi}, 'the built-in plugins are still there');
};

subtest 'what the blkclone plugin declares' => sub {
    my $props = $C->properties();
    is_deeply([sort keys %$props], ['blkclone-luns', 'blkclone-offload'], 'only blkclone-luns and blkclone-offload');
    my $pdata = PVE::Storage::Plugin->private();
    my $base = $pdata->{'base-property-list'} // {};
    for my $p (sort keys %$props) {
        my @by = grep { $_ ne 'blkcloneiscsi' && exists $pdata->{plugins}{$_}->properties()->{$p} }
            sort keys %{ $pdata->{plugins} };
        push @by, 'the base plugin' if exists $base->{$p};
        is("@by", '', "'$p' is declared by no other loaded plugin");
    }
    for my $p (qw(portal target username password luns copy-offload copy-offload-timeout)) {
        ok(!exists $props->{$p}, "'$p' is not declared (pve-storage's, or too generic)");
    }
};

subtest 'a second plugin of a type pve-storage has: only it is lost' => sub {
    my ($out, $rc) = run_perl('load_custom_plugins("PVE::Storage::Custom::IscsiTypePlugin", '
        . '"PVE::Storage::Custom::BlkcloneISCSIPlugin"); print "started: ", '
        . 'join(",", grep { /^(iscsi|blkcloneiscsi)$/ } sort keys %{ PVE::Storage::Plugin->private()->{options} }), "\n";');
    like($out, qr/^Error loading storage plugin "PVE::Storage::Custom::IscsiTypePlugin": duplicate plugin registration \(type = iscsi\)/m,
        'a warning names the plugin');
    like($out, qr/^started: blkcloneiscsi,iscsi$/m, 'the rest loads, the blkclone plugin too');
    is($rc, 0, 'exit 0');
};

subtest "a second plugin declaring 'luns': both load" => sub {
    my ($out, $rc) = run_perl('BEGIN { load_custom_plugins("PVE::Storage::Custom::LunListPlugin",'
        . ' "PVE::Storage::Custom::BlkcloneISCSIPlugin") } my $o = PVE::Storage::Plugin->private()->{options};'
        . ' print "usable: ", join(",", grep { $o->{$_} } qw(dir lvm iscsi luniscsi blkcloneiscsi)), "\n";');
    like($out, qr/^usable: dir,lvm,iscsi,luniscsi,blkcloneiscsi$/m, 'every storage type, both plugins too');
    is($rc, 0, 'exit 0');
};

subtest 'a property declared twice: init() dies and takes every storage down (the fake, as the real one)' => sub {
    # the base defines copy-offload (the fork) and another plugin declares it again
    my $load = 'define_base_property("copy-offload", { type => "boolean", optional => 1 });'
        . ' load_custom_plugins("PVE::Storage::Custom::OffloadNASPlugin", "PVE::Storage::Custom::BlkcloneISCSIPlugin");';
    my ($out, $rc) = run_perl("BEGIN { $load } print qq(started\\n);");
    like($out, qr/duplicate property 'copy-offload'/, "init() dies: duplicate property 'copy-offload'");
    unlike($out, qr/Error loading storage plugin/, 'not a per-plugin load error: nothing catches it');
    unlike($out, qr/started/, 'the program does not start');
    isnt($rc, 0, "exit $rc");
    ($out) = run_perl("eval { $load }; print qq(error: \$\@); my \$o = PVE::Storage::Plugin->private()->{options};"
        . ' print "usable: ", join(",", grep { $o->{$_} } qw(dir lvm iscsi nfs offloadnas blkcloneiscsi)), "\n";');
    like($out, qr/^error: duplicate property 'copy-offload'/m, 'the same error');
    like($out, qr/^usable: $/m, 'no storage type has its options: dir, lvm, iscsi, nfs and both plugins are all down');
};

subtest 'a pve-storage whose base defines copy-offload and copy-offload-timeout (the fork)' => sub {
    my ($out, $rc) = run_perl('define_base_property($_, { type => "string", optional => 1 })'
        . ' for qw(copy-offload copy-offload-timeout);'
        . ' load_custom_plugins("PVE::Storage::Custom::BlkcloneISCSIPlugin");'
        . ' my $o = PVE::Storage::Plugin->private()->{options}{blkcloneiscsi};'
        . ' print "options: ", join(",", grep { $o->{$_} } qw(copy-offload copy-offload-timeout)), "\n";'
        . ' my $p = PVE::Storage::Custom::BlkcloneISCSIPlugin->properties();'
        . ' print "declared: ", join(",", grep { $p->{$_} } qw(copy-offload copy-offload-timeout)), "\n";');
    like($out, qr/^options: copy-offload,copy-offload-timeout$/m, 'both are offered as options');
    like($out, qr/^declared: $/m, 'neither is declared again');
    is($rc, 0, 'loads, exit 0');
};

subtest 'api(): the host APIVER, capped at 16 (the version validated)' => sub {
    # the doubles stand for PVE 8/9 (10, 15), the fork (16) and a newer
    # one (17); real sources have the one version they have
    my @cases = ([10, 6, 10], [15, 6, 15], [16, 7, 16], [17, 8, 16]);
    if (real_pve()) {
        my ($o) = run_perl('require PVE::Storage; print "APIVER ", PVE::Storage::APIVER(), "\\n";');
        my ($v) = $o =~ /^APIVER (\d+)$/m or die "no APIVER: $o";
        @cases = ([$v, undef, $v > 16 ? 16 : $v]);
    }
    for my $case (@cases) {
        my ($host, $age, $want) = @$case;
        my ($out, $rc) = run_perl('my @w; { local $SIG{__WARN__} = sub { push @w, @_ };'
            . ' load_custom_plugins("PVE::Storage::Custom::BlkcloneISCSIPlugin"); }'
            . ' print "api: ", PVE::Storage::Custom::BlkcloneISCSIPlugin->api(), "\n";'
            . ' print "loaded: ", (PVE::Storage::Plugin->private()->{plugins}{blkcloneiscsi} ? 1 : 0), "\n";'
            . ' print "errors: ", scalar(grep { /Error loading/ } @w), "\n";',
            PVE_FAKE_APIVER => $host, PVE_FAKE_APIAGE => $age);
        like($out, qr/^api: $want$/m, "host APIVER $host: api() is $want");
        like($out, qr/^loaded: 1$/m, "host APIVER $host: the plugin loads");
        like($out, qr/^errors: 0$/m, "host APIVER $host: no load error");
    }
};

subtest "another RFC plugin declaring 'copy-offload'" => sub {
    # init() visits the plugins in hash order; the blkclone plugin leaves
    # copy-offload out only if it is already declared when it is asked.
    my (%dies, @seeds);
    for my $seed (1 .. 8) {
        my ($out, $rc) = run_perl('eval { load_custom_plugins("PVE::Storage::Custom::OffloadNASPlugin",'
            . ' "PVE::Storage::Custom::BlkcloneISCSIPlugin") }; print $@ ? "died: $@" : "loaded\n";',
            PERL_HASH_SEED => $seed, PERL_PERTURB_KEYS => 0);
        if ($out =~ /^died: (.*)$/m) {
            $dies{$1}++;
            push @seeds, $seed;
        } elsif ($out !~ /^loaded$/m) {
            fail("seed $seed: $out");
        }
    }
    diag('init() died with hash seeds ' . join(' ', @seeds) . ': ' . join('; ', keys %dies)) if @seeds;
    is(scalar @seeds, 0, 'loads whatever the order of the plugins (8 hash seeds)');
};

done_testing();
