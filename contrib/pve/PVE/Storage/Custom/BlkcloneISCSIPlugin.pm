package PVE::Storage::Custom::BlkcloneISCSIPlugin;

# Proxmox VE storage plugin: guest disks on the LUNs of one iSCSI target,
# reached with libiscsi (iscsi:// URLs, as the iscsidirect storage), with
# full clones offloaded to the array through blkclone.
#
# Copy offload follows the contract of the pve-storage fork that carries
# it (API 16: copy_image_prepare / copy_image_start / copy_images_start /
# copy_image_status, features copy-offload-atomic and copy-offload-bulk,
# the base options copy-offload and copy-offload-timeout) on top of
# "blkclone job":
#   prepare  (under the storage lock) assigns a target LUN, so a rollback
#            can free it;
#   start    runs "blkclone job start --offload=require --json SRC DST",
#            which returns once the copy's point in time is fixed, and
#            remembers the job id for the target (BlkClone::Local);
#   status   maps "blkclone job status --json ID": pending with the
#            pair's percentage, complete, or dies with blkclone's error;
#   free     of a target whose job still runs cancels the job first.
# copy_image, the first RFC's one-call form, is a thin adapter over the
# same calls.
#
# LUNs are not created here: the administrator exports a pool of them
# (blkclone-luns) and the plugin assigns them to volumes, keeping the
# assignment in LunPool's file.  A volume name never picks a LUN by
# itself: every entry point looks the name up in that assignment and
# refuses a LUN outside the storage's set.  A freed LUN is zeroed, in a
# cleanup worker outside the storage lock, before it is handed out again.

use strict;
use warnings;

use File::Temp;
use POSIX qw(ceil);

use PVE::Storage::Plugin;
use PVE::Storage::Custom::BlkClone::Exec;
use PVE::Storage::Custom::BlkClone::Local;
use PVE::Storage::Custom::BlkClone::LunPool;

use base qw(PVE::Storage::Plugin);

my $Exec = 'PVE::Storage::Custom::BlkClone::Exec';
my $Pool = 'PVE::Storage::Custom::BlkClone::LunPool';
my $Local = 'PVE::Storage::Custom::BlkClone::Local';

# Where PVE keeps storage secrets (as for CIFS and PBS); tests move it.
our $PRIV_DIR = '/etc/pve/priv/storage';

# Export and import pass through a sparse file in a private directory
# made here (mkdtemp, 0700); tests move it.
our $TMP_DIR = '/var/tmp';

# Probes, job start/status/cancel are short.
my $PROBE_TIMEOUT = 60;
# How long a LUN's size and a pair's plan are trusted (seconds); an absent
# LUN is asked again sooner.
our $SIZE_TTL = 600;
our $ABSENT_TTL = 60;
our $PLAN_TTL = 60;

# --- API version ---

# The newest storage API this plugin was checked against: 16, the
# pve-storage fork that defines the copy-offload contract.
use constant API_VALIDATED => 16;

# The host's API version, capped at the one validated: a PVE that is
# newer calls nothing we do not know, and an older one must never be
# told a version it does not have (it refuses to load the plugin).
sub api {
    my $host = eval { PVE::Storage::APIVER() };
    return API_VALIDATED if !defined $host;
    return $host < API_VALIDATED ? $host : API_VALIDATED;
}

sub type { return 'blkcloneiscsi'; }

sub plugindata {
    return {
        content => [{ images => 1 }, { images => 1 }],
        format => [{ raw => 1 }, 'raw'],
        'sensitive-properties' => { password => 1 },
    };
}

# Property names are global across every storage plugin, and a name
# declared twice makes PVE's SectionConfig init() die outside any eval:
# every storage is down then.  So only names no other plugin would use
# are declared here; 'portal', 'target', 'username', 'password' are
# pve-storage's (iscsi, cifs, pbs) and only used.
sub properties {
    return {
        'blkclone-luns' => {
            description => "LUNs of the target this storage may assign to volumes (e.g. 1-8,10).",
            type => 'string',
            pattern => '\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*',
        },
        'blkclone-offload' => {
            description => "How blkclone copies a clone: 'require' only in the array"
                . " (EXTENDED COPY, token copy), 'auto' also through this host when the"
                . " array cannot (still a background job with progress).",
            type => 'string',
            enum => ['require', 'auto'],
            default => 'require',
        },
    };
}

# Options defined by the base plugin only when the running pve-storage
# has them (the fork's copy-offload and copy-offload-timeout).
sub base_has_property {
    my ($name) = @_;
    my $pdata = eval { PVE::Storage::Plugin->private() } // {};
    my $base = $pdata->{'base-property-list'} // $pdata->{propertyList} // {};
    return exists $base->{$name};
}

sub options {
    my $o = {
        portal => { fixed => 1 },
        target => { fixed => 1 },
        'blkclone-luns' => {},
        'blkclone-offload' => { optional => 1 },
        username => { optional => 1 },
        password => { optional => 1 },
        nodes => { optional => 1 },
        disable => { optional => 1 },
        content => { optional => 1 },
        shared => { optional => 1 },
    };
    for my $p (qw(copy-offload copy-offload-timeout)) {
        $o->{$p} = { optional => 1 } if base_has_property($p);
    }
    return $o;
}

# The LUN list.  Earlier versions called it 'luns': PVE's config parser
# drops that line with a warning ("unexpected property") before the
# plugin sees the storage, so it cannot be read here; the error says
# what to rename.
sub luns_spec {
    my ($scfg) = @_;
    return $scfg->{'blkclone-luns'};
}

sub all_luns {
    my ($scfg) = @_;
    return $Pool->can('parse_luns')->(luns_spec($scfg));
}

sub offload_mode {
    my ($scfg) = @_;
    my $m = $scfg->{'blkclone-offload'} // 'require';
    die "blkclone-offload '$m' is not require or auto\n" if $m ne 'require' && $m ne 'auto';
    return $m;
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
    all_luns($scfg);
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

# --- names and the LUNs behind them ---

# Proxmox's own names (vm-N-disk-M, vm-N-cloudinit, base-N-disk-M) and
# vm-N-lunL, the names of earlier versions.  The name says who owns the
# volume (PVE's permission checks rely on it), never which LUN it is.
sub parse_volname {
    my ($class, $volname) = @_;
    if ($volname =~ m/^(vm|base)-(\d+)-disk-(\d{1,4})$/) {
        return ('images', $volname, $2, undef, undef, $1 eq 'base' ? 1 : 0, 'raw');
    }
    if ($volname =~ m/^vm-(\d+)-(?:cloudinit|lun\d{1,5})$/) {
        return ('images', $volname, $1, undef, undef, 0, 'raw');
    }
    die "unable to parse blkclone-iscsi volume name '$volname'\n";
}

# owned_lun($storeid, $scfg, $volname[, $map]): (LUN, its entry) of the
# volume, or die: the name must be assigned to exactly one LUN, that LUN
# must be in the storage's set, and the entry's owner must be the name's.
sub owned_lun {
    my ($class, $storeid, $scfg, $volname, $map) = @_;
    my (undef, undef, $vmid) = $class->parse_volname($volname);
    $map //= $Pool->can('load')->($storeid);
    my @luns = grep { ($map->{$_}{volname} // '') eq $volname } keys %$map;
    die "volume '$volname' does not exist on storage '$storeid'\n" if !@luns;
    die "volume '$volname' is assigned to LUNs " . join(',', sort { $a <=> $b } @luns)
        . " of storage '$storeid': the assignment file is damaged\n" if @luns > 1;
    my $lun = $luns[0];
    die "LUN $lun of volume '$volname' is not in storage '$storeid' (blkclone-luns "
        . (luns_spec($scfg) // '') . ")\n"
        if !grep { $_ == $lun } @{ all_luns($scfg) };
    die "LUN $lun of storage '$storeid' belongs to VM $map->{$lun}{vmid}, not to '$volname'\n"
        if ($map->{$lun}{vmid} // -1) != $vmid;
    return ($lun, $map->{$lun});
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

sub volume_address {
    my ($class, $storeid, $scfg, $volname) = @_;
    my ($lun) = $class->owned_lun($storeid, $scfg, $volname);
    return lun_address($scfg, $lun);
}

sub path {
    my ($class, $scfg, $volname, $storeid, $snapname) = @_;
    die "volume snapshots are not possible on blkclone-iscsi storage\n" if defined $snapname;
    my (undef, undef, $vmid) = $class->parse_volname($volname);
    die "no storage id given for '$volname'\n" if !defined $storeid;
    my ($lun) = $class->owned_lun($storeid, $scfg, $volname);
    return (lun_address({ %$scfg, username => undef }, $lun), $vmid, 'images');
}

sub filesystem_path {
    my ($class, $scfg, $volname, $snapname) = @_;
    die "blkclone-iscsi volumes have no file system path (they are iSCSI LUNs)\n";
}

sub qemu_blockdev_options {
    my ($class, $scfg, $storeid, $volname, $machine_version, $options) = @_;
    die "volume snapshots are not possible on blkclone-iscsi storage\n"
        if $options->{'snapshot-name'};
    my ($lun) = $class->owned_lun($storeid, $scfg, $volname);
    return {
        driver => 'iscsi',
        transport => 'tcp',
        portal => "$scfg->{portal}",
        target => "$scfg->{target}",
        lun => int($lun),
    };
}

# --- sizes: asked once per LUN per $SIZE_TTL, not on every status ---

sub size_key { my ($scfg, $lun) = @_; return "size " . lun_address({ %$scfg, username => undef }, $lun); }

# lun_size($storeid, $scfg, $lun): bytes, or undef when the LUN does not answer.
sub lun_size {
    my ($class, $storeid, $scfg, $lun) = @_;
    my $key = size_key($scfg, $lun);
    my $c = $Local->can('cache_get')->($key, $SIZE_TTL);
    return $c->[0] if $c && defined $c->[0];
    $c = $Local->can('cache_get')->($key, $ABSENT_TTL);
    return undef if $c;
    my $size = eval { $Exec->can('size_bytes')->(lun_address($scfg, $lun), exec_opts($storeid, $scfg)) };
    $Local->can('cache_put')->($key, $size);
    return $size;
}

# --- allocation ---

# The smallest free LUN of at least $bytes (the lowest number among
# equals); returns (lun, size) or dies.
sub pick_lun {
    my ($class, $storeid, $scfg, $bytes, $map) = @_;
    $map //= $Pool->can('load')->($storeid);
    my $free = $Pool->can('free_luns')->(all_luns($scfg), $map);
    my ($best, $best_size);
    for my $lun (@$free) {
        my $size = $class->lun_size($storeid, $scfg, $lun);
        next if !defined $size || $size < $bytes;
        ($best, $best_size) = ($lun, $size) if !defined $best || $size < $best_size;
    }
    die "no free LUN of at least $bytes bytes on storage '$storeid'\n" if !defined $best;
    return ($best, $best_size);
}

sub free_diskname {
    my ($vmid, $map) = @_;
    my %taken = map { ($_->{volname} // '') => 1 } values %$map;
    for my $i (0 .. 1023) {
        return "vm-$vmid-disk-$i" if !$taken{"vm-$vmid-disk-$i"};
    }
    die "unable to allocate an image name for VM $vmid\n";
}

# Called by PVE under the storage's lock.  $size is in KiB.  A LUN is
# assigned whole: an EFI vars or TPM state disk of a few MiB takes one
# too, and the task log says so.
sub alloc_image {
    my ($class, $storeid, $scfg, $vmid, $fmt, $name, $size) = @_;
    die "blkclone-iscsi storage holds raw volumes only, not '$fmt'\n" if $fmt ne 'raw';
    my $map = $Pool->can('load')->($storeid);
    if (defined $name) {
        my (undef, undef, $owner) = $class->parse_volname($name);
        die "volume name '$name' does not belong to VM $vmid\n" if $owner != $vmid;
        die "volume '$name' already exists on storage '$storeid'\n"
            if grep { ($_->{volname} // '') eq $name } values %$map;
    } else {
        $name = free_diskname($vmid, $map);
    }
    my $bytes = $size * 1024;
    my ($lun, $lun_size) = $class->pick_lun($storeid, $scfg, $bytes, $map);
    if ($lun_size > $bytes) {
        printf "%s:%s: %d bytes asked, LUN %d (%d bytes) assigned whole%s\n", $storeid, $name, $bytes,
            $lun, $lun_size, $bytes <= (4 << 20) ? ' (an EFI or TPM disk takes a whole LUN: keep small LUNs for them)' : '';
    }
    $map->{$lun} = { volname => $name, vmid => $vmid + 0, size => $lun_size };
    $Pool->can('save')->($storeid, $map);
    return $name;
}

sub cancel_job_of {
    my ($class, $storeid, $scfg, $volname) = @_;
    my $link = $Local->can('job_link_get')->($storeid, $volname) or return;
    my $id = $link->{id};
    print "cancelling blkclone job $id writing $storeid:$volname\n";
    eval { $Exec->can('job_cancel')->($id, exec_opts($storeid, $scfg)) };
    if (my $err = $@) {
        chomp $err;
        die "$err; $storeid:$volname is not freed while job $id may still write it (blkclone job list;"
            . " once it is gone, remove " . $Local->can('dir')->() . '/'
            . $Local->can('job_link_name')->($storeid, $volname) . ")\n";
    }
    $Local->can('job_link_remove')->($storeid, $volname);
    eval { $Exec->can('job_forget')->($id, exec_opts($storeid, $scfg)) } if !$Local->can('job_linked')->($id);
    return $id;
}

# Called by PVE under the storage's lock (on shared storage a cluster
# lock whose code is aborted after 60 s).  Only quick steps here: cancel
# a copy still writing the volume, and mark its LUN as being freed (it
# is neither listed nor handed out).  The zeroing runs in the cleanup
# worker returned, which PVE forks outside the lock (as LVM's saferemove);
# it gives the LUN back to the pool only once it reads zeros.
sub free_image {
    my ($class, $storeid, $scfg, $volname, $isBase, $format) = @_;
    my $map = $Pool->can('load')->($storeid);
    my ($lun, $entry) = $class->owned_lun($storeid, $scfg, $volname, $map);
    $class->cancel_job_of($storeid, $scfg, $volname);
    my $mark = "del-$volname";
    $map->{$lun} = { %$entry, volname => $mark, state => 'freeing', since => time() };
    $Pool->can('save')->($storeid, $map);
    my $addr = lun_address($scfg, $lun);
    return sub {
        print "zeroing LUN $lun of $storeid:$volname before it returns to the pool\n";
        $Exec->can('zero')->($addr, exec_opts($storeid, $scfg, timeout => undef));
        $class->cluster_lock_storage($storeid, $scfg->{shared}, undef, sub {
            my $m = $Pool->can('load')->($storeid);
            if (($m->{$lun}{volname} // '') eq $mark) {
                delete $m->{$lun};
                $Pool->can('save')->($storeid, $m);
            }
        });
        print "LUN $lun of storage '$storeid' is free again\n";
    };
}

sub list_images {
    my ($class, $storeid, $scfg, $vmid, $vollist, $cache) = @_;
    my $map = $Pool->can('load')->($storeid);
    my @res;
    for my $lun (sort { $a <=> $b } keys %$map) {
        my $e = $map->{$lun};
        next if $e->{state};
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

# Used: the assigned LUNs (and those being zeroed); free: the others that
# answer, by their cached sizes.
sub status {
    my ($class, $storeid, $scfg, $cache) = @_;
    my $map = $Pool->can('load')->($storeid);
    my ($used, $free) = (0, 0);
    $used += $_->{size} // 0 for values %$map;
    for my $lun (@{ $Pool->can('free_luns')->(all_luns($scfg), $map) }) {
        my $size = $class->lun_size($storeid, $scfg, $lun);
        $free += $size if defined $size;
    }
    return ($used + $free, $free, $used, 1);
}

sub volume_size_info {
    my ($class, $scfg, $storeid, $volname, $timeout) = @_;
    my $addr = $class->volume_address($storeid, $scfg, $volname);
    my $size = $Exec->can('size_bytes')->($addr, exec_opts($storeid, $scfg, timeout => $timeout || $PROBE_TIMEOUT));
    return wantarray ? ($size, 'raw', $size, undef) : $size;
}

sub activate_storage { return 1; }
sub deactivate_storage { return 1; }

sub activate_volume {
    my ($class, $storeid, $scfg, $volname, $snapname, $cache) = @_;
    die "volume snapshots are not possible on blkclone-iscsi storage\n" if $snapname;
    $class->owned_lun($storeid, $scfg, $volname);
    return 1;
}

sub deactivate_volume {
    my ($class, $storeid, $scfg, $volname, $snapname, $cache) = @_;
    die "volume snapshots are not possible on blkclone-iscsi storage\n" if $snapname;
    return 1;
}

sub create_base { die "base images are not possible on blkclone-iscsi storage\n"; }

sub clone_image {
    my ($class, $scfg, $storeid, $volname, $vmid, $snap) = @_;
    $class->owned_lun($storeid, $scfg, $volname);
    die "linked clones are not possible on blkclone-iscsi storage (full clones are: copy offload)\n";
}

sub rename_volume { die "renaming volumes is not possible on blkclone-iscsi storage\n"; }
sub volume_resize { die "LUNs of blkclone-iscsi storage are resized on the target\n"; }
sub volume_snapshot { die "volume snapshots are not possible on blkclone-iscsi storage\n"; }
sub volume_snapshot_rollback { die "volume snapshots are not possible on blkclone-iscsi storage\n"; }
sub volume_snapshot_delete { die "volume snapshots are not possible on blkclone-iscsi storage\n"; }

# --- export and import: raw+size, for storage_migrate ---
#
# The stream is PVE's raw+size format: the image size in bytes as a
# 64-bit little-endian number, then the raw bytes.  blkclone cannot write
# to a pipe, so the data passes through a sparse file on this host: it
# takes as much space there as the volume holds data.

sub raw_size_only {
    my ($snapshot, $base_snapshot, $with_snapshots) = @_;
    return !defined $snapshot && !defined $base_snapshot && !$with_snapshots;
}

sub volume_export_formats {
    my ($class, $scfg, $storeid, $volname, $snapshot, $base_snapshot, $with_snapshots) = @_;
    return raw_size_only($snapshot, $base_snapshot, $with_snapshots) ? ('raw+size') : ();
}

sub volume_import_formats {
    my ($class, $scfg, $storeid, $volname, $snapshot, $base_snapshot, $with_snapshots) = @_;
    return raw_size_only($snapshot, $base_snapshot, $with_snapshots) ? ('raw+size') : ();
}

sub write_all {
    my ($fh, $buf) = @_;
    my $off = 0;
    while ($off < length($buf)) {
        my $n = syswrite($fh, $buf, length($buf) - $off, $off);
        die "export: write failed: $!\n" if !defined $n;
        $off += $n;
    }
}

# read_full($fh, $len): up to $len bytes, fewer only at the end of the stream.
sub read_full {
    my ($fh, $len) = @_;
    my $buf = '';
    while (length($buf) < $len) {
        my $n = sysread($fh, $buf, $len - length($buf), length($buf));
        die "import: read failed: $!\n" if !defined $n;
        last if $n == 0;
    }
    return $buf;
}

sub volume_export {
    my ($class, $scfg, $storeid, $fh, $volname, $format, $snapshot, $base_snapshot, $with_snapshots) = @_;
    die "volume export format $format not available for $class\n"
        if $format ne 'raw+size' || !raw_size_only($snapshot, $base_snapshot, $with_snapshots);
    my $addr = $class->volume_address($storeid, $scfg, $volname);
    my $size = $Exec->can('size_bytes')->($addr, exec_opts($storeid, $scfg));
    # removed with its content when $dir goes out of scope
    my $dir = File::Temp->newdir('blkclone-export-XXXXXX', DIR => $TMP_DIR);
    my $tmp = $dir->dirname . '/volume.raw';
    open(my $out, '>', $tmp) or die "export: cannot create $tmp: $!\n";
    truncate($out, $size) or die "export: cannot size $tmp: $!\n";
    close($out);
    $Exec->can('copy_through')->($addr, $tmp, exec_opts($storeid, $scfg, timeout => undef));
    open(my $in, '<', $tmp) or die "export: cannot read $tmp: $!\n";
    binmode($in);
    binmode($fh);
    write_all($fh, pack('Q<', $size));
    my $sent = 0;
    while (1) {
        my $buf = read_full($in, 1 << 20);
        last if $buf eq '';
        write_all($fh, $buf);
        $sent += length($buf);
    }
    close($in);
    die "export: sent $sent of $size bytes\n" if $sent != $size;
    return;
}

sub volume_import {
    my ($class, $scfg, $storeid, $fh, $volname, $format, $snapshot, $base_snapshot, $with_snapshots,
        $allow_rename) = @_;
    die "volume import format '$format' not available for $class\n"
        if $format ne 'raw+size' || !raw_size_only($snapshot, $base_snapshot, $with_snapshots);
    my (undef, $name, $vmid) = $class->parse_volname($volname);
    binmode($fh);
    my $head = read_full($fh, 8);
    die "import: no size found in the stream's header\n" if length($head) != 8;
    my $size = unpack('Q<', $head);

    # the data first, into a sparse file: a broken stream allocates nothing
    # removed with its content when $dir goes out of scope
    my $dir = File::Temp->newdir('blkclone-import-XXXXXX', DIR => $TMP_DIR);
    my $tmp = $dir->dirname . '/volume.raw';
    open(my $out, '>', $tmp) or die "import: cannot create $tmp: $!\n";
    binmode($out);
    my $got = 0;
    while ($got < $size) {
        my $want = $size - $got < (1 << 20) ? $size - $got : 1 << 20;
        my $buf = read_full($fh, $want);
        last if $buf eq '';
        if ($buf =~ /[^\0]/) {
            sysseek($out, $got, 0) // die "import: seek in $tmp: $!\n";
            write_all($out, $buf);
        }
        $got += length($buf);
    }
    die "import: the stream ended after $got of $size bytes\n" if $got != $size;
    die "import: the stream holds more than its header's $size bytes\n" if read_full($fh, 1) ne '';
    truncate($out, $size) or die "import: cannot size $tmp: $!\n";
    close($out) or die "import: cannot write $tmp: $!\n";

    my $new = $class->cluster_lock_storage($storeid, $scfg->{shared}, undef, sub {
        my $map = $Pool->can('load')->($storeid);
        my $taken = grep { ($_->{volname} // '') eq $name } values %$map;
        die "volume '$storeid:$name' already exists\n" if $taken && !$allow_rename;
        return $class->alloc_image($storeid, $scfg, $vmid, 'raw', $taken ? undef : $name, ceil($size / 1024));
    });
    eval {
        $Exec->can('copy_through')->($tmp, $class->volume_address($storeid, $scfg, $new),
            exec_opts($storeid, $scfg, timeout => undef));
    };
    if (my $err = $@) {
        my $worker = eval {
            $class->cluster_lock_storage($storeid, $scfg->{shared}, undef, sub {
                $class->free_image($storeid, $scfg, $new, 0, 'raw');
            });
        };
        eval { $worker->() } if $worker;
        die $err;
    }
    return "$storeid:$new";
}

# --- copy offload ---

# The plan for the pair SRC-volume -> the LUN a prepare would assign now,
# cached per pair for $PLAN_TTL seconds: { method, consistency, reason }.
sub offload_plan {
    my ($class, $scfg, $storeid, $volname, $target_scfg, $target_storeid) = @_;
    $target_scfg //= $scfg;
    $target_storeid //= $storeid;
    my ($lun, $entry) = $class->owned_lun($storeid, $scfg, $volname);
    my ($dst_lun) = $class->pick_lun($target_storeid, $target_scfg, $entry->{size} // 0);
    my ($src, $dst) = (lun_address($scfg, $lun), lun_address($target_scfg, $dst_lun));
    my $mode = offload_mode($target_scfg);
    my $key = "plan $mode $src $dst";
    my $c = $Local->can('cache_get')->($key, $PLAN_TTL);
    return $c->[0] if $c && ref($c->[0]) eq 'HASH';
    my $plan = $Exec->can('pair_plan')->($src, $dst, exec_opts($target_storeid, $target_scfg), offload => $mode);
    $Local->can('cache_put')->($key, $plan);
    return $plan;
}

sub volume_has_feature {
    my ($class, $scfg, $feature, $storeid, $volname, $snapname, $running, $opts) = @_;
    return undef if defined $snapname;
    if ($feature =~ /^copy-offload-(atomic|bulk)$/) {
        my $want = $1;
        my $plan = eval { $class->offload_plan($scfg, $storeid, $volname) };
        return $plan && ($plan->{consistency} // '') eq $want ? 1 : undef;
    }
    if ($feature eq 'copy-offload') {    # the first RFC
        my ($method) = eval { $class->copy_offload_check($scfg, $storeid, $volname, $opts) };
        return $method ? 1 : undef;
    }
    return 1 if $feature eq 'copy';
    return undef;
}

# Called by PVE under the TARGET storage's lock: assign the target LUN.
sub copy_image_prepare {
    my ($class, $scfg, $storeid, $volname, $target_scfg, $target_storeid, $target_vmid, $snap, $opts) = @_;
    die "copy offload cannot copy from a snapshot on blkclone-iscsi storage\n" if defined $snap;
    my $format = ($opts // {})->{format} // 'raw';
    die "copy offload cannot produce format '$format' (raw only)\n" if $format ne 'raw';
    my (undef, $entry) = $class->owned_lun($storeid, $scfg, $volname);
    my $size = $entry->{size} // $class->volume_size_info($scfg, $storeid, $volname);
    return $class->alloc_image($target_storeid, $target_scfg, $target_vmid, 'raw', undef, ceil($size / 1024));
}

sub stall_timeout {
    my ($scfg) = @_;
    my $t = $scfg->{'copy-offload-timeout'} // 24 * 3600;
    die "copy-offload-timeout '$t' is not a positive number of seconds\n" if $t !~ /^\d+$/ || $t < 1;
    return $t;
}

# Start all $copies ([{source, target, snap}]) as ONE blkclone job: their
# points in time are fixed together, and the call returns once they are.
sub copy_images_start {
    my ($class, $scfg, $storeid, $target_scfg, $target_storeid, $copies) = @_;
    return if !$copies || !@$copies;
    my (@pairs, %seen);
    for my $c (@$copies) {
        die "copy offload cannot copy from a snapshot on blkclone-iscsi storage\n" if defined $c->{snap};
        die "target '$c->{target}' named twice\n" if $seen{ $c->{target} }++;
        push @pairs, [
            $class->volume_address($storeid, $scfg, $c->{source}),
            $class->volume_address($target_storeid, $target_scfg, $c->{target}),
        ];
        die "a copy is already running onto $target_storeid:$c->{target}\n"
            if $Local->can('job_link_get')->($target_storeid, $c->{target});
    }
    my $job = $Exec->can('job_start')->(\@pairs, exec_opts($target_storeid, $target_scfg),
        offload => offload_mode($target_scfg), stall_timeout => stall_timeout($target_scfg));
    for my $i (0 .. $#$copies) {
        $Local->can('job_link_put')->($target_storeid, $copies->[$i]{target},
            { id => $job->{id}, pair => $i, source => "$storeid:$copies->[$i]{source}" });
        printf "copy offload: %s:%s -> %s:%s, blkclone job %s, %s (%s)\n", $storeid, $copies->[$i]{source},
            $target_storeid, $copies->[$i]{target}, $job->{id}, $job->{pairs}[$i]{method} // '?',
            $job->{pairs}[$i]{consistency} // $job->{consistency} // '?';
    }
    return;
}

sub copy_image_start {
    my ($class, $scfg, $storeid, $volname, $target_scfg, $target_storeid, $target_volname, $snap) = @_;
    return $class->copy_images_start($scfg, $storeid, $target_scfg, $target_storeid,
        [{ source => $volname, target => $target_volname, snap => $snap }]);
}

# Polled by PVE outside the lock: { state => pending, progress } while
# the job runs, { state => complete, progress => 100 } once it ended well;
# dies with blkclone's error when it failed or was cancelled.
sub copy_image_status {
    my ($class, $scfg, $storeid, $volname, $source) = @_;
    $class->owned_lun($storeid, $scfg, $volname);
    my $link = $Local->can('job_link_get')->($storeid, $volname)
        or die "no blkclone job is copying onto $storeid:$volname\n";
    my $id = $link->{id};
    my $st = $Exec->can('job_status')->($id, exec_opts($storeid, $scfg));
    my $pair = ref($st->{pairs}) eq 'ARRAY' ? $st->{pairs}[ $link->{pair} // 0 ] : undef;
    my $state = $st->{state};
    if ($state eq 'running') {
        my $p = $st->{progress};
        if (ref($pair) eq 'HASH' && ($pair->{bytes_total} // 0) > 0) {
            $p = 100 * ($pair->{bytes_done} // 0) / $pair->{bytes_total};
        }
        $p = 0 if !defined $p || ref($p) || $p !~ /^\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$/;
        $p = 99 if $p >= 100;    # complete is the job's word, not ours
        return { state => 'pending', progress => int($p) };
    }
    if ($state eq 'complete') {
        $Local->can('job_link_remove')->($storeid, $volname);
        eval { $Exec->can('job_forget')->($id, exec_opts($storeid, $scfg)) } if !$Local->can('job_linked')->($id);
        return { state => 'complete', progress => 100 };
    }
    my $err = $st->{error} // (ref($pair) eq 'HASH' ? $pair->{report}{error} : undef) // 'no error given';
    $Local->can('job_link_remove')->($storeid, $volname);
    die "blkclone job $id $state: $err\n";
}

# --- the first RFC's copy_image: prepare, start, wait, in one call ---

sub offload_enabled {
    my ($scfg) = @_;
    return !defined $scfg->{'copy-offload'} || $scfg->{'copy-offload'} ? 1 : 0;
}

# copy_offload_check($scfg, $storeid, $volname, $opts): (method, undef)
# when copy_image would copy in the array, else (undef, reason).
sub copy_offload_check {
    my ($class, $scfg, $storeid, $volname, $opts) = @_;
    $opts //= {};
    return (undef, "copy-offload is disabled on storage '$storeid'") if !offload_enabled($scfg);
    return (undef, 'cross-storage copies go through the host')
        if defined $opts->{target_storeid} && $opts->{target_storeid} ne $storeid;
    return (undef, "format '$opts->{target_format}' needs a converting host copy")
        if defined $opts->{target_format} && $opts->{target_format} ne 'raw';
    my $plan = eval {
        if (defined $opts->{target_volname}) {
            my $src = $class->volume_address($storeid, $scfg, $volname);
            my $dst = $class->volume_address($storeid, $scfg, $opts->{target_volname});
            return $Exec->can('pair_plan')->($src, $dst, exec_opts($storeid, $scfg), offload => offload_mode($scfg));
        }
        return $class->offload_plan($scfg, $storeid, $volname);
    };
    if (!$plan) {
        my $err = $@;
        chomp $err;
        return (undef, $err);
    }
    return ($plan->{method}, undef) if $plan->{method};
    return (undef, $plan->{reason});
}

sub copy_image {
    my ($class, $scfg, $storeid, $src_volname, $vmid, $dst_format, $opts) = @_;
    die "copy offload is disabled on storage '$storeid' (copy-offload 0)\n" if !offload_enabled($scfg);
    $dst_format //= 'raw';
    my $dst_volname = $class->cluster_lock_storage($storeid, $scfg->{shared}, undef, sub {
        return $class->copy_image_prepare($scfg, $storeid, $src_volname, $scfg, $storeid, $vmid, undef,
            { format => $dst_format });
    });
    eval {
        $class->copy_image_start($scfg, $storeid, $src_volname, $scfg, $storeid, $dst_volname, undef);
        my $last = -1;
        while (1) {
            my $st = $class->copy_image_status($scfg, $storeid, $dst_volname,
                { scfg => $scfg, storeid => $storeid, volname => $src_volname });
            if (($st->{progress} // -1) != $last) {
                $last = $st->{progress};
                printf "    (%.2f/100%%)\n", $last;
            }
            last if $st->{state} eq 'complete';
            sleep(1);
        }
    };
    if (my $err = $@) {
        chomp $err;
        my $worker = eval {
            $class->cluster_lock_storage($storeid, $scfg->{shared}, undef, sub {
                return $class->free_image($storeid, $scfg, $dst_volname, 0, 'raw');
            });
        };
        eval { $worker->() } if $worker;    # zeroes outside the lock
        die "$err; $storeid:$dst_volname " . ($@ ? "stays allocated: $@" : "was freed (zeroed)\n");
    }
    return $dst_volname;
}

1;
