package PVE::Storage::LVMPlugin;

# Test double of pve-storage's LVM plugin (src/PVE/Storage/LVMPlugin.pm,
# 9.1.7), for what a subclass relies on, shaped like the real one:
#   - every LVM operation is a run_command of the real command line
#     (/sbin/lvs, /sbin/vgs, /sbin/lvcreate, /sbin/lvrename,
#     /sbin/lvremove, /sbin/lvchange), so a test can answer them
#     (t/lib/FakeLVM.pm) or let real lvm2 answer;
#   - lvm_list_volumes / lvm_vgs read the same columns the real ones ask
#     for, separated by ':';
#   - alloc_image: the first free vm-VMID-disk-N, lvcreate of SIZE KiB
#     with the tag pve-vm-VMID, under the caller's lock;
#   - free_image (under the caller's lock): without saferemove an
#     lvremove; with saferemove only an lvrename to del-NAME, returning a
#     cleanup worker that activates del-NAME, zeroes it (blkdiscard
#     --zeroout where the device has write-zeroes, else cstream from
#     /dev/zero), then takes the storage lock again for the lvremove.
#     PVE runs that worker after the lock is released (vdisk_free).
# Raw volumes only; no snapshots (snapshot-as-volume-chain), no qcow2.

use strict;
use warnings;

use Cwd qw(abs_path);

use PVE::Tools qw(run_command);
use PVE::Storage::Plugin;

use base qw(PVE::Storage::Plugin);

sub type { return 'lvm'; }

sub plugindata {
    return {
        content => [{ images => 1, rootdir => 1 }, { images => 1 }],
        format => [{ raw => 1, qcow2 => 1 }, 'raw'],
        'sensitive-properties' => {},
    };
}

sub properties {
    return { map { $_ => { type => 'string' } }
        qw(vgname base saferemove saferemove-stepsize saferemove_throughput tagged_only) };
}

sub options {
    return { map { $_ => { optional => 1 } }
        qw(vgname nodes shared disable saferemove saferemove-stepsize saferemove_throughput
        content base tagged_only bwlimit snapshot-as-volume-chain) };
}

sub lvm_vgs {
    my ($includepvs) = @_;
    my @cols = qw(vg_name vg_size vg_free lv_count);
    push @cols, qw(pv_name pv_size pv_free) if $includepvs;
    my $vgs = {};
    run_command(['/sbin/vgs', '--separator', ':', '--noheadings', '--units', 'b', '--unbuffered',
        '--nosuffix', '--options', join(',', @cols)],
        outfunc => sub {
            my $line = $_[0] =~ s/^\s+|\s+$//gr;
            my ($name, $size, $free, $count) = split(':', $line);
            $vgs->{$name} = { size => int($size), free => int($free), lvcount => int($count) };
        });
    return $vgs;
}

sub lvm_list_volumes {
    my ($vgname) = @_;
    my $cmd = ['/sbin/lvs', '--separator', ':', '--noheadings', '--units', 'b', '--unbuffered',
        '--nosuffix', '--config', 'report/time_format="%s"', '--options',
        'vg_name,lv_name,lv_size,lv_attr,pool_lv,data_percent,metadata_percent,snap_percent,uuid,tags,metadata_size,time'];
    push @$cmd, $vgname if $vgname;
    my $lvs = {};
    run_command($cmd, outfunc => sub {
        my $line = $_[0] =~ s/^\s+|\s+$//gr;
        my ($vg, $lv, $size, $attr, undef, undef, undef, undef, undef, $tags, undef, $ctime) =
            split(':', $line);
        return if !$vg || !$lv;
        $lvs->{$vg}{$lv} = { lv_size => int($size), lv_state => substr($attr, 4, 1),
            lv_type => substr($attr, 0, 1), ctime => $ctime, ($tags ? (tags => $tags) : ()) };
    });
    return $lvs;
}

sub parse_volname {
    my ($class, $volname) = @_;
    die "lvm name '$volname' contains illegal characters\n"
        if $volname !~ m/^[a-z0-9][a-z0-9\-\_\.]*[a-z0-9]$/i;
    if ($volname =~ m/^(vm-(\d+)-\S+)$/) {
        return ('images', $1, $2, undef, undef, undef, $volname =~ m/\.qcow2$/ ? 'qcow2' : 'raw');
    }
    die "unable to parse lvm volume name '$volname'\n";
}

sub filesystem_path {
    my ($class, $scfg, $volname, $snapname) = @_;
    my (undef, $name, $vmid, undef, undef, undef, $format) = $class->parse_volname($volname);
    die "snapshot is working with qcow2 format only" if defined($snapname) && $format ne 'qcow2';
    my $path = "/dev/$scfg->{vgname}/$name";
    return wantarray ? ($path, $vmid, 'images') : $path;
}

sub path {
    my ($class, $scfg, $volname, $storeid, $snapname) = @_;
    return $class->filesystem_path($scfg, $volname, $snapname);
}

sub find_free_diskname {
    my ($class, $storeid, $scfg, $vmid, $fmt) = @_;
    my $vg = $scfg->{vgname};
    my $lvs = lvm_list_volumes($vg);
    my %used = map { /^(?:vm|base)-\Q$vmid\E-disk-(\d+)/ ? ($1 => 1) : () } keys %{ $lvs->{$vg} };
    for my $i (0 .. 1023) {
        return "vm-$vmid-disk-$i" if !$used{$i};
    }
    die "unable to allocate an image name for VM $vmid in storage '$storeid'\n";
}

sub lvcreate {
    my ($vg, $name, $size, $tags) = @_;
    $size .= 'k' if $size =~ m/\d$/;
    my $cmd = ['/sbin/lvcreate', '-aly', '-Wy', '--yes', '--size', $size, '--name', $name,
        '--setautoactivation', 'n'];
    push @$cmd, '--addtag', $_ for @$tags;
    push @$cmd, $vg;
    run_command($cmd, errmsg => "lvcreate '$vg/$name' error");
}

sub alloc_image {
    my ($class, $storeid, $scfg, $vmid, $fmt, $name, $size) = @_;
    die "unsupported format '$fmt'" if $fmt ne 'raw';
    $name = $class->find_free_diskname($storeid, $scfg, $vmid, $fmt) if !$name;
    $class->parse_volname($name);
    my $vg = $scfg->{vgname};
    my $vgs = lvm_vgs();
    die "no such volume group '$vg'\n" if !defined($vgs->{$vg});
    my $free = int($vgs->{$vg}{free});
    die "not enough free space ($free < $size)\n" if $free < $size;
    lvcreate($vg, $name, $size, ["pve-vm-$vmid"]);
    return $name;
}

# Must be called with the storage lock held.
sub free_image {
    my ($class, $storeid, $scfg, $volname, $isBase, $format) = @_;
    my $vg = $scfg->{vgname};
    my ($name) = ($class->parse_volname($volname))[1];
    if (!$scfg->{saferemove}) {
        run_command(['/sbin/lvremove', '-f', "$vg/$name"], errmsg => "lvremove '$vg/$name' error");
        return undef;
    }
    run_command(['/sbin/lvrename', $vg, $name, "del-$name"], errmsg => "lvrename '$vg/$name' error");
    return sub {
        my $lvmpath = "/dev/$vg/del-$name";
        print "zero-out data on image $name ($lvmpath)\n";
        run_command(['/sbin/lvchange', '-aly', $lvmpath],
            errmsg => "can't activate LV '$lvmpath' to zero-out its data");
        run_command(['/sbin/lvchange', '--refresh', $lvmpath],
            errmsg => "can't refresh LV '$lvmpath' to zero-out its data");
        my $bdev = abs_path($lvmpath) // '';
        if ($bdev =~ m|^/dev/(dm-\d+)$|) {
            my $wz = 0;
            if (open(my $fh, '<', "/sys/block/$1/queue/write_zeroes_max_bytes")) {
                ($wz) = (<$fh> // '0') =~ /^(\d+)/;
            }
            my $cmd = $wz
                ? ['blkdiscard', $lvmpath, '-v', '--zeroout', '--step', ($scfg->{'saferemove-stepsize'} // 32) * 1048576]
                : ['/usr/bin/cstream', '-i', '/dev/zero', '-o', $lvmpath, '-T', '10', '-v', '1', '-b',
                    '1048576', '-t', $scfg->{saferemove_throughput} // '-10485760'];
            eval { run_command($cmd, errmsg => 'zero out finished') };
            warn $@ if $@;
        } else {
            # as the real one: nothing to zero without a device-mapper node
            warn "skip zero-out for volume '$lvmpath' - no device mapper link\n";
        }
        $class->cluster_lock_storage($storeid, $scfg->{shared}, undef, sub {
            run_command(['/sbin/lvremove', '-f', "$vg/del-$name"], errmsg => "lvremove '$vg/del-$name' error");
        });
        print "successfully removed volume $name ($vg/del-$name)\n";
    };
}

sub status {
    my ($class, $storeid, $scfg, $cache) = @_;
    $cache->{vgs} = lvm_vgs() if !$cache->{vgs};
    my $info = $cache->{vgs}{ $scfg->{vgname} } or return undef;
    return ($info->{size}, $info->{free}, $info->{size} - $info->{free}, 1);
}

sub activate_volume {
    my ($class, $storeid, $scfg, $volname, $snapname, $cache) = @_;
    my $path = $class->path($scfg, $volname, $storeid, $snapname);
    run_command(['/sbin/lvchange', '-aey', $path], errmsg => "can't activate LV '$path'");
    run_command(['/sbin/lvchange', '--refresh', $path], errmsg => "can't refresh LV '$path' for activation");
}

sub deactivate_volume {
    my ($class, $storeid, $scfg, $volname, $snapname, $cache) = @_;
    my $path = $class->path($scfg, $volname, $storeid, $snapname);
    return if !-b $path;
    run_command(['/sbin/lvchange', '-aln', $path], errmsg => "can't deactivate LV '$path'");
}

sub volume_has_feature {
    my ($class, $scfg, $feature, $storeid, $volname, $snapname, $running) = @_;
    my $features = {
        copy => { base => { qcow2 => 1, raw => 1 }, current => { qcow2 => 1, raw => 1 }, snap => { qcow2 => 1 } },
        rename => { current => { qcow2 => 1, raw => 1 } },
        snapshot => { current => { qcow2 => 1 }, snap => { qcow2 => 1 } },
    };
    my (undef, undef, undef, undef, undef, $isBase, $format) = $class->parse_volname($volname);
    my $key = $snapname ? 'snap' : $isBase ? 'base' : 'current';
    return 1 if defined($features->{$feature}{$key}{$format});
    return undef;
}

1;
