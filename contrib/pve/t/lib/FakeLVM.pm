package FakeLVM;

# A volume group without lvm2, for the LVM plugin tests: answers the LVM
# command lines PVE's LVM plugin runs (/sbin/lvs, /sbin/vgs,
# /sbin/lvcreate, /sbin/lvrename, /sbin/lvremove, /sbin/lvchange,
# /sbin/vgscan) and its zeroing (blkdiscard, cstream), keeping the VG in
# memory.  Installed in place of run_command in the packages that run
# them (the real or the double PVE::Storage::LVMPlugin, and the blkclone
# plugin), so the real LVMPlugin's own lvs parsing and saferemove worker
# run unchanged; every other command (blkclone) goes to the original
# run_command.  Output is printed as lvm2 prints it (--noheadings,
# --separator ':', --units b --nosuffix, leading blanks).
#
# Every command, answered or passed on, is logged in @LOG with the alarm
# armed when it started (the cluster lock's alarm(60)) and whether a
# timeout of its own was given.

use strict;
use warnings;

use Time::HiRes qw(alarm);

our @LOG;
our %VG;    # name => { pv, size, lvs => { name => { size, active, tags, loop } } }
my $EXTENT = 4 * 1024 * 1024;

# Loop mode (use_loops): every LV is a real block device, a loop device
# over a sparse file in $LOOP_DIR, and /dev/VG/NAME a link to it, so the
# real blkclone copies and zeroes real devices at the paths the plugin
# names (this host may have no device-mapper for real lvm2).
our $LOOP_DIR;

sub use_loops {
    my ($dir) = @_;
    $LOOP_DIR = $dir;
}

sub loop_create {
    my ($vg, $name, $size) = @_;
    my $img = "$LOOP_DIR/$vg-$name.img";
    open(my $fh, '>', $img) or die "$img: $!\n";
    truncate($fh, $size) or die "$img: $!\n";
    close($fh);
    chomp(my $loop = `losetup -f --show $img`);
    die "losetup $img failed\n" if $loop !~ m{^/dev/loop\d+$};
    mkdir "/dev/$vg";
    unlink "/dev/$vg/$name";
    symlink($loop, "/dev/$vg/$name") or die "/dev/$vg/$name: $!\n";
    return { loop => $loop, img => $img };
}

sub loop_remove {
    my ($vg, $name, $d) = @_;
    unlink "/dev/$vg/$name";
    system('losetup', '-d', $d->{loop}) if $d->{loop};
    # the file stays (in the test's directory) for the test to read
}

# A loop device standing for the VG's physical volume (what a probe of
# the PV sees).
sub pv_loop {
    my ($vg, $size) = @_;
    my $img = "$LOOP_DIR/$vg.pv.img";
    open(my $fh, '>', $img) or die "$img: $!\n";
    truncate($fh, $size) or die "$img: $!\n";
    close($fh);
    chomp(my $loop = `losetup -f --show $img`);
    die "losetup $img failed\n" if $loop !~ m{^/dev/loop\d+$};
    $VG{$vg}{pv} = $loop;
    $VG{$vg}{pv_loop} = 1;
    return $loop;
}

sub cleanup_loops {
    for my $vg (keys %VG) {
        system('losetup', '-d', $VG{$vg}{pv}) if $VG{$vg}{pv_loop};
        loop_remove($vg, $_, $VG{$vg}{lvs}{$_}) for keys %{ $VG{$vg}{lvs} };
        rmdir "/dev/$vg";
    }
    %VG = ();
}

sub reset_vg {
    my ($name, $pv, $size) = @_;
    %VG = ($name => { pv => $pv, size => $size, lvs => {} });
    @LOG = ();
}

sub add_vg {
    my ($name, $pv, $size) = @_;
    $VG{$name} = { pv => $pv, size => $size, lvs => {} };
}

sub add_lv {
    my ($vg, $name, $size, %o) = @_;
    $VG{$vg}{lvs}{$name} = { size => $size, active => $o{active} // 0, tags => $o{tags} // '',
        ($LOOP_DIR ? %{ loop_create($vg, $name, $size) } : ()) };
}

sub install {
    my (@packages) = @_;
    no strict 'refs';
    no warnings 'redefine';
    for my $pkg (@packages) {
        my $orig = \&{"${pkg}::run_command"};
        *{"${pkg}::run_command"} = sub { return run($orig, @_) };
    }
}

sub vg_free {
    my ($vg) = @_;
    my $used = 0;
    $used += $_->{size} for values %{ $VG{$vg}{lvs} };
    return $VG{$vg}{size} - $used;
}

sub lines_out {
    my ($param, @lines) = @_;
    for my $l (@lines) {
        $param->{outfunc} ? $param->{outfunc}->($l) : print "$l\n";
    }
}

sub fail {
    my ($cmd, $param, $msg) = @_;
    $param->{errfunc}->($msg) if $param->{errfunc};
    return 5 if $param->{noerr};
    my $what = $param->{errmsg} // "command '" . join(' ', @$cmd) . "' failed";
    die "$what: exit code 5\n";
}

sub size_of {
    my ($s) = @_;
    my %u = (k => 1024, m => 1024**2, g => 1024**3, b => 1);
    die "fake lvcreate: size '$s'\n" if $s !~ /^(\d+)([kmgb]?)$/i;
    my $b = $1 * $u{ lc($2 || 'm') };
    return int(($b + $EXTENT - 1) / $EXTENT) * $EXTENT;    # whole extents, as lvm2
}

sub split_lv {
    my ($arg) = @_;
    $arg =~ s{^/dev/}{};
    return split m{/}, $arg, 2;
}

sub run {
    my ($orig, $cmd, %param) = @_;
    my $left = alarm(0);
    alarm($left) if $left;
    my $prog = ref($cmd) eq 'ARRAY' ? $cmd->[0] : '';
    (my $base = $prog) =~ s{.*/}{};
    my %known = map { $_ => 1 } qw(lvs vgs lvcreate lvrename lvremove lvchange vgscan blkdiscard cstream);
    push @LOG, { cmd => [@$cmd], prog => $known{$base} ? $base : join(' ', grep { defined } @$cmd[1, (($cmd->[1] // '') eq 'job' ? 2 : ())]),
        alarm => $left, timeout => $param{timeout}, fake => $known{$base} ? 1 : 0 };
    return $orig->($cmd, %param) if !$known{$base};

    my @a = @$cmd[1 .. $#$cmd];
    if ($base eq 'vgs') {
        lines_out(\%param, map {
            sprintf('  %s:%d:%d:%d', $_, $VG{$_}{size}, vg_free($_), scalar keys %{ $VG{$_}{lvs} })
        } sort keys %VG);
        return 0;
    }
    if ($base eq 'lvs') {
        my ($opt) = map { $a[$_ + 1] } grep { $a[$_] eq '--options' } 0 .. $#a;
        my @sel = grep { !/^-/ && $_ ne $opt && !/time_format|^[:b]$/ } @a;
        my @out;
        for my $vg (sort keys %VG) {
            for my $lv (sort keys %{ $VG{$vg}{lvs} }) {
                next if @sel && !grep { $_ eq $vg || $_ eq "$vg/$lv" } @sel;
                my $d = $VG{$vg}{lvs}{$lv};
                my %col = (vg_name => $vg, lv_name => $lv, lv_size => $d->{size},
                    lv_attr => $d->{active} ? '-wi-a-----' : '-wi-------', tags => $d->{tags},
                    devices => "$VG{$vg}{pv}(0)", time => 1700000000);
                push @out, '  ' . join(':', map { $col{$_} // '' } split /,/, $opt);
            }
        }
        return fail($cmd, \%param, "  Failed to find logical volume \"$sel[0]\"")
            if @sel && grep(m{/}, @sel) && !@out;
        lines_out(\%param, @out);
        return 0;
    }
    if ($base eq 'lvcreate') {
        my %o;
        for (my $i = 0; $i < @a; $i++) {
            if ($a[$i] =~ /^--(size|name|addtag|setautoactivation)$/) { push @{ $o{$1} }, $a[++$i] }
        }
        my $vg = $a[-1];
        my $name = $o{name}[0];
        return fail($cmd, \%param, "  Volume group \"$vg\" not found") if !$VG{$vg};
        return fail($cmd, \%param, "  Logical Volume \"$name\" already exists in volume group \"$vg\"")
            if $VG{$vg}{lvs}{$name};
        my $size = size_of($o{size}[0]);
        return fail($cmd, \%param, "  Volume group \"$vg\" has insufficient free space") if $size > vg_free($vg);
        add_lv($vg, $name, $size, active => 1, tags => join(',', @{ $o{addtag} // [] }));
        return 0;
    }
    if ($base eq 'lvrename') {
        my ($vg, $old, $new) = @a;
        my $lvs = $VG{$vg}{lvs};
        return fail($cmd, \%param, "  Existing logical volume \"$old\" not found") if !$lvs->{$old};
        return fail($cmd, \%param, "  Logical volume \"$new\" already exists") if $lvs->{$new};
        $lvs->{$new} = delete $lvs->{$old};
        if ($lvs->{$new}{loop}) {
            unlink "/dev/$vg/$old";
            symlink($lvs->{$new}{loop}, "/dev/$vg/$new") or die "/dev/$vg/$new: $!\n";
        }
        return 0;
    }
    if ($base eq 'lvremove') {
        my ($vg, $lv) = split_lv($a[-1]);
        return fail($cmd, \%param, "  Failed to find logical volume \"$vg/$lv\"") if !$VG{$vg}{lvs}{$lv};
        my $d = delete $VG{$vg}{lvs}{$lv};
        loop_remove($vg, $lv, $d) if $d->{loop};
        return 0;
    }
    if ($base eq 'lvchange') {
        my ($vg, $lv) = split_lv($a[-1]);
        my $d = $VG{$vg}{lvs}{$lv} or return fail($cmd, \%param, "  Failed to find logical volume \"$vg/$lv\"");
        $d->{active} = 1 if $a[0] =~ /^-a[ey]?y$/;
        $d->{active} = 0 if $a[0] eq '-aln' || $a[0] eq '-an';
        return 0;
    }
    return 0;    # vgscan, blkdiscard, cstream: nothing to do in memory
}

# The commands of @LOG whose program (or blkclone subcommand) is $prog.
sub runs {
    my ($prog) = @_;
    return grep { $_->{prog} eq $prog } @LOG;
}

1;
