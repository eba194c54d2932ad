package PVE::Storage::Custom::BlkcloneISCSIPlugin;

# Proxmox VE storage plugin: guest disks on the LUNs of one iSCSI target,
# reached with libiscsi (iscsi:// URLs, as the iscsidirect storage), with
# full clones offloaded to the array through blkclone.
#
# It implements the contract proposed on pve-devel ("offload full/live
# clone to storage backend"):
#   copy_image($scfg, $storeid, $src_volname, $vmid, $dst_format, $opts)
#       allocates a destination LUN, copies with
#       "blkclone copy --offload=require" and returns the new volname;
#       a failed offload frees the LUN again and dies with blkclone's
#       message -- there is no host copy behind the caller's back.
#   volume_has_feature(..., 'copy-offload', ...)
#       asks blkclone, for this source and the destination the copy
#       would get, whether an in-array method is usable.
#   the per-storage 'copy-offload' option
#       can only switch offload off; it never claims what blkclone denies.
#
# LUNs are not created here: the administrator exports a pool of them
# (option 'luns') and the plugin assigns them to guests, keeping the
# assignment in LunPool's file.  A LUN is zeroed when it is freed, so the
# next guest never reads the last one's data.

use strict;
use warnings;

use POSIX qw(ceil);

use PVE::Storage::Plugin;
use PVE::Storage::Custom::BlkClone::Exec;
use PVE::Storage::Custom::BlkClone::LunPool;

use base qw(PVE::Storage::Plugin);

# Where PVE keeps storage secrets (as for CIFS and PBS); tests move it.
our $PRIV_DIR = '/etc/pve/priv/storage';

# Probes are short; a copy has no time limit (PVE's task can be stopped).
my $PROBE_TIMEOUT = 60;

# Storage API version this module was written against (PVE 8.x/9.x
# accept 10).  copy_image and copy-offload need the API bump the RFC asks
# for; older PVE ignores them and uses its host copy.
sub api { return 10; }

sub type { return 'blkcloneiscsi'; }

sub plugindata {
    return {
        content => [{ images => 1 }, { images => 1 }],
        format => [{ raw => 1 }, 'raw'],
        'sensitive-properties' => { password => 1 },
    };
}

# 'portal', 'target', 'username' and 'password' are already defined by
# PVE's iscsi, cifs and pbs plugins (property names are global); only
# ours are declared here.  'copy-offload' is the RFC's option: when a
# pve-storage with the RFC defines it, it must not be declared twice.
sub properties {
    my $props = {
        luns => {
            description => "LUNs of the target this storage may assign to guests (e.g. 1-8,10).",
            type => 'string',
            pattern => '\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*',
        },
    };
    my $known = eval { PVE::Storage::Plugin->private()->{propertyList} } // {};
    if (!$known->{'copy-offload'}) {
        $props->{'copy-offload'} = {
            description => "Let the array copy full clones (blkclone copy --offload=require)."
                . " 0 sends every clone through the host; 1 allows offload only where"
                . " blkclone finds it usable.",
            type => 'boolean',
            default => 1,
        };
    }
    return $props;
}

sub options {
    return {
        portal => { fixed => 1 },
        target => { fixed => 1 },
        luns => {},
        username => { optional => 1 },
        password => { optional => 1 },
        'copy-offload' => { optional => 1 },
        nodes => { optional => 1 },
        disable => { optional => 1 },
        content => { optional => 1 },
        shared => { optional => 1 },
    };
}

# --- configuration hooks: the CHAP secret lives in a root-only file ---

sub password_file {
    my ($storeid) = @_;
    return "$PRIV_DIR/$storeid.pw";
}

sub set_password {
    my ($storeid, $password) = @_;
    die "the CHAP secret must be one line\n" if $password =~ /[\r\n]/;
    mkdir($PRIV_DIR, 0700) if !-d $PRIV_DIR;
    my $file = password_file($storeid);
    my $old = umask(0077);
    my $ok = open(my $fh, '>', $file);
    umask($old);
    die "cannot write $file: $!\n" if !$ok;
    print $fh "$password\n";
    close($fh) or die "cannot write $file: $!\n";
    return;
}

sub on_add_hook {
    my ($class, $storeid, $scfg, %param) = @_;
    PVE::Storage::Custom::BlkClone::LunPool::parse_luns($scfg->{luns});
    set_password($storeid, $param{password}) if defined $param{password};
    return;
}

sub on_update_hook {
    my ($class, $storeid, $scfg, %param) = @_;
    return if !exists $param{password};
    if (defined $param{password}) {
        set_password($storeid, $param{password});
    } else {
        unlink password_file($storeid);
    }
    return;
}

sub on_delete_hook {
    my ($class, $storeid, $scfg) = @_;
    unlink password_file($storeid);
    return;
}

# --- addresses ---

# vm-<VMID>-lun<N>: the owner for PVE's permission checks, the LUN for us.
sub parse_volname {
    my ($class, $volname) = @_;
    if ($volname =~ m/^vm-(\d+)-lun(\d{1,5})$/) {
        return ('images', $volname, $1, undef, undef, 0, 'raw');
    }
    die "unable to parse blkclone-iscsi volume name '$volname'\n";
}

sub volname_lun {
    my ($volname) = @_;
    $volname =~ m/^vm-\d+-lun(\d{1,5})$/ or die "unable to parse blkclone-iscsi volume name '$volname'\n";
    return $1 + 0;
}

# iscsi://[user@]portal/target/lun, as blkclone and QEMU's libiscsi take it.
sub lun_address {
    my ($scfg, $lun) = @_;
    my ($portal, $target) = ($scfg->{portal}, $scfg->{target});
    die "storage has no portal\n" if !defined $portal || $portal !~ /^[\w.\-:\[\]]+$/;
    die "storage has no valid target IQN\n" if !defined $target || $target !~ /^[\w.\-:]+$/;
    my $user = '';
    if (defined $scfg->{username}) {
        # blkclone reads the user from the URL; keep it URL-safe
        die "CHAP user name '$scfg->{username}' must be letters, digits, '.', '_' or '-'\n"
            if $scfg->{username} !~ /^[\w.\-]+$/;
        $user = "$scfg->{username}@";
    }
    return "iscsi://$user$portal/$target/$lun";
}

# What every blkclone run for this storage needs beyond its arguments.
sub exec_opts {
    my ($storeid, $scfg, %extra) = @_;
    my %o = (timeout => $PROBE_TIMEOUT, %extra);
    $o{password_file} = password_file($storeid) if defined $scfg->{username};
    return %o;
}

sub path {
    my ($class, $scfg, $volname, $storeid, $snapname) = @_;
    die "volume snapshots are not possible on blkclone-iscsi storage\n" if defined $snapname;
    my (undef, undef, $vmid) = $class->parse_volname($volname);
    return (lun_address({ %$scfg, username => undef }, volname_lun($volname)), $vmid, 'images');
}

sub qemu_blockdev_options {
    my ($class, $scfg, $storeid, $volname, $machine_version, $options) = @_;
    die "volume snapshots are not possible on blkclone-iscsi storage\n"
        if $options->{'snapshot-name'};
    return {
        driver => 'iscsi',
        transport => 'tcp',
        portal => "$scfg->{portal}",
        target => "$scfg->{target}",
        lun => volname_lun($volname),
    };
}

# --- allocation ---

# The smallest free LUN of at least $bytes (the lowest number among
# equals), or an explicit one; returns (lun, size) or dies.
sub pick_lun {
    my ($class, $storeid, $scfg, $bytes, $want) = @_;
    my $all = PVE::Storage::Custom::BlkClone::LunPool::parse_luns($scfg->{luns});
    my $map = PVE::Storage::Custom::BlkClone::LunPool::load($storeid);
    my $free = PVE::Storage::Custom::BlkClone::LunPool::free_luns($all, $map);
    if (defined $want) {
        die "LUN $want is not in storage '$storeid' ('luns' $scfg->{luns})\n"
            if !grep { $_ == $want } @$all;
        die "LUN $want of storage '$storeid' is in use by $map->{$want}{volname}\n"
            if exists $map->{$want};
        $free = [$want];
    }
    my ($best, $best_size);
    for my $lun (@$free) {
        my $size = eval {
            PVE::Storage::Custom::BlkClone::Exec::size_bytes(lun_address($scfg, $lun), exec_opts($storeid, $scfg));
        };
        next if !defined $size;    # an absent LUN is not a candidate
        next if $size < $bytes;
        ($best, $best_size) = ($lun, $size) if !defined $best || $size < $best_size;
    }
    die "no free LUN of at least $bytes bytes on storage '$storeid'\n" if !defined $best;
    return ($best, $best_size);
}

# Called by PVE under the storage's cluster lock.  $size is in KiB.
sub alloc_image {
    my ($class, $storeid, $scfg, $vmid, $fmt, $name, $size) = @_;
    die "blkclone-iscsi storage holds raw volumes only, not '$fmt'\n" if $fmt ne 'raw';
    my $want;
    if (defined $name) {
        my (undef, undef, $owner) = $class->parse_volname($name);
        die "volume name '$name' does not belong to VM $vmid\n" if $owner != $vmid;
        $want = volname_lun($name);
    }
    my ($lun, $lun_size) = $class->pick_lun($storeid, $scfg, $size * 1024, $want);
    my $volname = "vm-$vmid-lun$lun";
    my $map = PVE::Storage::Custom::BlkClone::LunPool::load($storeid);
    $map->{$lun} = { volname => $volname, vmid => $vmid + 0, size => $lun_size };
    PVE::Storage::Custom::BlkClone::LunPool::save($storeid, $map);
    return $volname;
}

# Give a LUN back to the pool; unless the caller knows nothing was
# written to it, zero it first (a failed zeroing keeps it assigned, so it
# is never handed out with data on it).
sub release_lun {
    my ($class, $storeid, $scfg, $volname, $untouched) = @_;
    my $lun = volname_lun($volname);
    my $map = PVE::Storage::Custom::BlkClone::LunPool::load($storeid);
    die "volume '$volname' is not allocated on storage '$storeid'\n"
        if !exists $map->{$lun} || $map->{$lun}{volname} ne $volname;
    PVE::Storage::Custom::BlkClone::Exec::zero(lun_address($scfg, $lun), exec_opts($storeid, $scfg, timeout => undef))
        if !$untouched;
    delete $map->{$lun};
    PVE::Storage::Custom::BlkClone::LunPool::save($storeid, $map);
    return;
}

sub free_image {
    my ($class, $storeid, $scfg, $volname, $isBase, $format) = @_;
    $class->release_lun($storeid, $scfg, $volname, 0);
    return undef;
}

sub list_images {
    my ($class, $storeid, $scfg, $vmid, $vollist, $cache) = @_;
    my $map = PVE::Storage::Custom::BlkClone::LunPool::load($storeid);
    my @res;
    for my $lun (sort { $a <=> $b } keys %$map) {
        my $e = $map->{$lun};
        my $volid = "$storeid:$e->{volname}";
        if ($vollist) {
            next if !grep { $_ eq $volid } @$vollist;
        } elsif (defined $vmid) {
            next if $e->{vmid} != $vmid;
        }
        push @res, { volid => $volid, format => 'raw', size => $e->{size}, vmid => $e->{vmid} };
    }
    return \@res;
}

# Used: the assigned LUNs; free: the others that answer.
sub status {
    my ($class, $storeid, $scfg, $cache) = @_;
    my $all = PVE::Storage::Custom::BlkClone::LunPool::parse_luns($scfg->{luns});
    my $map = PVE::Storage::Custom::BlkClone::LunPool::load($storeid);
    my ($used, $free) = (0, 0);
    $used += $_->{size} // 0 for values %$map;
    for my $lun (@{ PVE::Storage::Custom::BlkClone::LunPool::free_luns($all, $map) }) {
        my $size = eval {
            PVE::Storage::Custom::BlkClone::Exec::size_bytes(lun_address($scfg, $lun), exec_opts($storeid, $scfg));
        };
        $free += $size if defined $size;
    }
    return ($used + $free, $free, $used, 1);
}

sub volume_size_info {
    my ($class, $scfg, $storeid, $volname, $timeout) = @_;
    my $size = PVE::Storage::Custom::BlkClone::Exec::size_bytes(lun_address($scfg, volname_lun($volname)),
        exec_opts($storeid, $scfg, timeout => $timeout || $PROBE_TIMEOUT));
    return wantarray ? ($size, 'raw', $size, undef) : $size;
}

sub activate_storage { return 1; }
sub deactivate_storage { return 1; }

sub activate_volume {
    my ($class, $storeid, $scfg, $volname, $snapname, $cache) = @_;
    die "volume snapshots are not possible on blkclone-iscsi storage\n" if $snapname;
    return 1;
}

sub deactivate_volume {
    my ($class, $storeid, $scfg, $volname, $snapname, $cache) = @_;
    die "volume snapshots are not possible on blkclone-iscsi storage\n" if $snapname;
    return 1;
}

sub create_base { die "base images are not possible on blkclone-iscsi storage\n"; }
sub clone_image { die "linked clones are not possible on blkclone-iscsi storage\n"; }
sub volume_resize { die "LUNs of blkclone-iscsi storage are resized on the target\n"; }
sub volume_snapshot { die "volume snapshots are not possible on blkclone-iscsi storage\n"; }
sub volume_snapshot_rollback { die "volume snapshots are not possible on blkclone-iscsi storage\n"; }
sub volume_snapshot_delete { die "volume snapshots are not possible on blkclone-iscsi storage\n"; }

# --- copy offload (the RFC's contract) ---

sub offload_enabled {
    my ($scfg) = @_;
    return !defined $scfg->{'copy-offload'} || $scfg->{'copy-offload'} ? 1 : 0;
}

# copy_offload_check($scfg, $storeid, $volname, $opts): (method, undef)
# when blkclone would copy this volume in the array to the destination
# copy_image would use, else (undef, reason).  $opts: target_storeid and
# target_format (the RFC's negotiation), target_volname (an existing
# destination; else the LUN an allocation would pick now).
sub copy_offload_check {
    my ($class, $scfg, $storeid, $volname, $opts) = @_;
    $opts //= {};
    return (undef, "copy-offload is disabled on storage '$storeid'") if !offload_enabled($scfg);
    return (undef, 'cross-storage copies go through the host')
        if defined $opts->{target_storeid} && $opts->{target_storeid} ne $storeid;
    return (undef, "format '$opts->{target_format}' needs a converting host copy")
        if defined $opts->{target_format} && $opts->{target_format} ne 'raw';
    my $src = lun_address($scfg, volname_lun($volname));
    my $dst;
    if (defined $opts->{target_volname}) {
        $dst = lun_address($scfg, volname_lun($opts->{target_volname}));
    } else {
        my $bytes = eval { $class->volume_size_info($scfg, $storeid, $volname) };
        return (undef, "cannot size the source: $@") if !defined $bytes;
        my ($lun) = eval { $class->pick_lun($storeid, $scfg, $bytes) };
        if (!defined $lun) {
            my $err = $@;
            chomp $err;
            return (undef, $err);
        }
        $dst = lun_address($scfg, $lun);
    }
    return PVE::Storage::Custom::BlkClone::Exec::offload_method($src, $dst, exec_opts($storeid, $scfg));
}

sub volume_has_feature {
    my ($class, $scfg, $feature, $storeid, $volname, $snapname, $running, $opts) = @_;
    return undef if defined $snapname;
    if ($feature eq 'copy-offload') {
        my ($method) = $class->copy_offload_check($scfg, $storeid, $volname, $opts);
        return $method ? 1 : undef;
    }
    return 1 if $feature eq 'copy';
    return undef;
}

sub copy_image {
    my ($class, $scfg, $storeid, $src_volname, $vmid, $dst_format, $opts) = @_;
    die "copy offload is disabled on storage '$storeid' (copy-offload 0)\n"
        if !offload_enabled($scfg);
    $dst_format //= 'raw';
    die "copy offload cannot convert to '$dst_format' (raw only)\n" if $dst_format ne 'raw';
    my $src = lun_address($scfg, volname_lun($src_volname));
    my $bytes = $class->volume_size_info($scfg, $storeid, $src_volname);

    my $dst_volname = $class->cluster_lock_storage($storeid, $scfg->{shared}, undef, sub {
        return $class->alloc_image($storeid, $scfg, $vmid, 'raw', undef, ceil($bytes / 1024));
    });
    my $dst = lun_address($scfg, volname_lun($dst_volname));
    print "copy offload: $storeid:$src_volname -> $storeid:$dst_volname\n";

    my $res = PVE::Storage::Custom::BlkClone::Exec::copy($src, $dst, exec_opts($storeid, $scfg, timeout => undef,
        on_progress => sub { print "    ($_[0]/100%)\n" }));
    if ($res->{failed}) {
        my $msg = $res->{message};
        # Zero outside the lock: on shared storage PVE's cluster lock
        # aborts its code after 60 s, and zeroing a LUN may take longer.
        # The LUN stays assigned meanwhile, so nobody else is handed it.
        eval {
            PVE::Storage::Custom::BlkClone::Exec::zero($dst, exec_opts($storeid, $scfg, timeout => undef))
                if !$res->{untouched};
            $class->cluster_lock_storage($storeid, $scfg->{shared}, undef, sub {
                $class->release_lun($storeid, $scfg, $dst_volname, 1);    # zeroed above, or untouched
            });
        };
        if (my $err = $@) {
            chomp $err;
            $msg .= "; $storeid:$dst_volname stays allocated: $err";
        } else {
            $msg .= "; $storeid:$dst_volname was freed" . ($res->{untouched} ? '' : ' (zeroed)');
        }
        die "$msg\n";
    }
    printf "copy offload: %s copied %d of %d bytes in the array in %.2f s\n",
        $res->{method}, $res->{offloaded_bytes} // 0, $res->{size_bytes} // 0, $res->{seconds} // 0;
    return $dst_volname;
}

1;
