package PVE::Storage::Custom::BlkcloneLVMPlugin;

# Proxmox VE storage plugin: PVE's shared (thick) LVM on a SAN LUN, with
# full clones copied inside the array by blkclone (SCSI EXTENDED COPY
# between windows of the LU, which blkclone finds below the LVs: LV
# segments, dm-multipath, the SCSI LU).
#
# Everything else is PVE's LVM plugin: the volume group, lvcreate for
# new disks, activation, listing, resize, saferemove.  What is added is
# the copy-offload contract of the pve-storage fork (API 16):
#   copy_image_prepare   under the target storage's lock: creates the
#                        target LV (the base class's alloc_image) and
#                        checks with "blkclone probe --offload=require"
#                        that this pair is copied in the array;
#   copy_image_start,    one "blkclone job start --offload=require" for
#   copy_images_start    all disks of a guest, returning once each
#                        pair's point in time is fixed;
#   copy_image_status    "blkclone job status": pending with a percentage,
#                        complete, or dies with blkclone's message;
#   volume_has_feature   'copy-offload-bulk' where the source's LU offers
#                        an in-array copy (EXTENDED COPY reads the source
#                        until the job ends: the caller keeps it still);
#   free_image           cancels a job still copying onto the volume, and
#                        with saferemove zeroes in PVE's cleanup worker
#                        (outside the lock) with "blkclone zero", which
#                        uses the LU's WRITE SAME / write-zeroes, where
#                        the LU offers it; elsewhere PVE's own zeroing.

use strict;
use warnings;

use PVE::Tools qw(run_command);
use PVE::Storage::Plugin;
use PVE::Storage::LVMPlugin;
use PVE::Storage::Custom::BlkClone::Exec;
use PVE::Storage::Custom::BlkClone::LVMJobs;

use base qw(PVE::Storage::LVMPlugin);


# The newest storage API this plugin was checked against (the fork's
# copy-offload contract, pve-storage at c0a97988).
my $APIVER_VALIDATED = 16;

# Probes are short; under the cluster lock they must end well before
# its alarm(60).
my $PROBE_TIMEOUT = 20;

# How long an answer of volume_has_feature's probe is reused.
my $PROBE_CACHE_SECONDS = 60;

# 'require' in production.  Only tests set 'auto', to run the same calls
# on loop devices, which have no in-array copy; it is not a storage option,
# so no configuration can make a host copy pass for an offload.
our $OFFLOAD = 'require';

sub api {
    my $host = eval { PVE::Storage::APIVER() } // $APIVER_VALIDATED;
    return $host < $APIVER_VALIDATED ? $host : $APIVER_VALIDATED;
}

sub type { return 'blkclonelvm'; }

sub plugindata {
    return {
        content => [{ images => 1, rootdir => 1 }, { images => 1 }],
        format => [{ raw => 1 }, 'raw'],
        'sensitive-properties' => {},
    };
}

# Nothing of its own: every option is PVE's LVM plugin's or the base's
# (property names are global across all plugins).
sub properties { return {}; }

sub options {
    my $opts = {
        vgname => { fixed => 1 },
        nodes => { optional => 1 },
        shared => { optional => 1 },
        disable => { optional => 1 },
        saferemove => { optional => 1 },
        'saferemove-stepsize' => { optional => 1 },
        saferemove_throughput => { optional => 1 },
        content => { optional => 1 },
        base => { fixed => 1, optional => 1 },
        tagged_only => { optional => 1 },
        bwlimit => { optional => 1 },
    };
    # The fork's base plugin defines these; a pve-storage without them has
    # no copy-offload contract at all, and naming them there would make
    # init() die for every storage ("undefined property").
    my $pd = PVE::Storage::Plugin->private();
    my $base = $pd->{'base-property-list'} // $pd->{propertyList} // {};
    for my $o ('copy-offload', 'copy-offload-timeout') {
        $opts->{$o} = { optional => 1 } if $base->{$o};
    }
    return $opts;
}

# --- helpers ---

sub lv_path {
    my ($scfg, $name) = @_;
    return "/dev/$scfg->{vgname}/$name";
}

# The LV's size in bytes, from the base class's lvs reader; dies when the
# LV does not exist.
sub lv_size {
    my ($scfg, $name) = @_;
    my $vg = $scfg->{vgname};
    my $lvs = PVE::Storage::LVMPlugin::lvm_list_volumes($vg);
    my $lv = $lvs->{$vg}{$name} or die "logical volume '$vg/$name' does not exist\n";
    return $lv->{lv_size};
}

sub check_raw_image {
    my ($class, $volname, $snap) = @_;
    die "copy offload cannot copy from a snapshot: LVM volumes in raw format have none\n"
        if defined $snap;
    my ($vtype, $name, undef, undef, undef, $isBase, $format) = $class->parse_volname($volname);
    die "copy offload only handles VM images, not '$vtype'\n" if $vtype ne 'images';
    die "copy offload only copies raw volumes, not '$format'\n" if $format ne 'raw';
    return $name;
}

# key => [time, answer, reason]; tests empty it
our %PROBE_CACHE;

# Whether the LU(s) under an LV offer an in-array copy, by one probe of
# each physical volume the LV lies on (the LV itself may be inactive on
# this node), remembered for a short time.
sub source_offload {
    my ($scfg, $name) = @_;
    my $vg = $scfg->{vgname};
    my @pvs;
    run_command(['/sbin/lvs', '--noheadings', '--options', 'devices', "$vg/$name"],
        timeout => $PROBE_TIMEOUT,
        outfunc => sub {
            for my $d (split /,/, $_[0]) {
                push @pvs, $1 if $d =~ m{^\s*(/dev/[^\s(]+)\(\d+\)\s*$};
            }
        },
        errfunc => sub { });
    return (0, "no physical volume found under $vg/$name") if !@pvs;
    my $key = join(' ', sort @pvs);
    my $c = $PROBE_CACHE{$key};
    return @$c[1, 2] if $c && time() - $c->[0] < $PROBE_CACHE_SECONDS && time() >= $c->[0];
    my ($ok, $why) = (1, undef);
    for my $pv (@pvs) {
        my $p = eval { PVE::Storage::Custom::BlkClone::Exec::probe([$pv], timeout => $PROBE_TIMEOUT) };
        if (!$p) {
            ($ok, $why) = (0, "$@");
            last;
        }
        my $caps = ref($p->{volumes}) eq 'ARRAY' && ref($p->{volumes}[0]) eq 'HASH'
            ? $p->{volumes}[0]{capabilities} : undef;
        my @in_array = grep { ref($caps) eq 'HASH' && ref($caps->{$_}) eq 'HASH'
            && ($caps->{$_}{state} // '') eq 'supported' } qw(xcopy_lid1 token_copy nvme_copy);
        if (!@in_array) {
            ($ok, $why) = (0, "$pv offers no in-array copy");
            last;
        }
    }
    $PROBE_CACHE{$key} = [time(), $ok, $why];
    return ($ok, $why);
}

sub volume_has_feature {
    my ($class, $scfg, $feature, $storeid, $volname, $snapname, $running, $opts) = @_;

    if ($feature eq 'copy-offload-bulk') {
        my $name = eval { $class->check_raw_image($volname, $snapname) } or return undef;
        my ($ok) = eval { source_offload($scfg, $name) };
        return $ok ? 1 : undef;
    }
    # EXTENDED COPY reads the source until the job ends: never atomic.
    return undef if $feature eq 'copy-offload-atomic';
    return $class->SUPER::volume_has_feature($scfg, $feature, $storeid, $volname, $snapname,
        $running, $opts);
}

# --- the copy-offload contract ---

sub copy_image_prepare {
    my ($class, $scfg, $storeid, $volname, $target_scfg, $target_storeid, $target_vmid, $snap,
        $opts) = @_;

    my $format = $opts->{format} // 'raw';
    die "blkclone LVM copy offload cannot produce format '$format'\n" if $format ne 'raw';
    my $name = $class->check_raw_image($volname, $snap);
    die "copy offload needs a target storage of type '" . $class->type() . "'\n"
        if ($target_scfg->{type} // $class->type()) ne $class->type();

    my $size = lv_size($scfg, $name);
    $class->activate_volume($storeid, $scfg, $volname);

    # Created here, under the target storage's lock, so the name is ours
    # and the caller's rollback (free_image) frees exactly this volume.
    my $kib = int(($size + 1023) / 1024);
    my $target = $class->alloc_image($target_storeid, $target_scfg, $target_vmid, 'raw', undef,
        $kib);

    my $err;
    eval {
        my ($m, $why) = PVE::Storage::Custom::BlkClone::Exec::offload_method(
            lv_path($scfg, $name), lv_path($target_scfg, $target), timeout => $PROBE_TIMEOUT);
        die "copy offload unavailable from $storeid:$volname to $target_storeid:$target: $why\n"
            if !$m && $OFFLOAD eq 'require';
        PVE::Storage::Custom::BlkClone::LVMJobs::save($target_storeid, $target,
            { state => 'prepared', source => "$storeid:$volname", time => time() });
    };
    if ($err = $@) {
        # nothing was written to it: no zeroing needed
        eval {
            run_command(['/sbin/lvremove', '-f', "$target_scfg->{vgname}/$target"],
                errmsg => "lvremove '$target_scfg->{vgname}/$target' error");
        };
        warn $@ if $@;
        die $err;
    }
    return $target;
}

sub copy_image_start {
    my ($class, $scfg, $storeid, $volname, $target_scfg, $target_storeid, $target_volname,
        $snap) = @_;
    return $class->copy_images_start($scfg, $storeid, $target_scfg, $target_storeid,
        [{ source => $volname, target => $target_volname, snap => $snap }]);
}

# All disks of a guest in ONE job: "job start" returns once every pair is
# planned and accepted by the array, so a refusal of any disk comes back
# here, before anything was written.  EXTENDED COPY reads the sources
# after that (bulk): one job does not make the disks consistent with each
# other; the caller keeps the sources still until every copy is complete.
sub copy_images_start {
    my ($class, $scfg, $storeid, $target_scfg, $target_storeid, $copies) = @_;

    die "no copies to start\n" if ref($copies) ne 'ARRAY' || !@$copies;
    my (@pairs, %seen);
    for my $c (@$copies) {
        my ($dst) = ($class->parse_volname($c->{target}))[1];
        die "target $target_storeid:$dst appears twice in one batch\n" if $seen{$dst}++;
    }
    for my $c (@$copies) {
        my $src = $class->check_raw_image($c->{source}, $c->{snap});
        my ($dst) = ($class->parse_volname($c->{target}))[1];
        die "copy of $storeid:$src onto itself refused\n"
            if $storeid eq $target_storeid && $src eq $dst;
        # Only a target prepared for this copy may be written: a volume
        # name alone must never make blkclone overwrite a guest's disk.
        my $rec = PVE::Storage::Custom::BlkClone::LVMJobs::load($target_storeid, $dst);
        die "$target_storeid:$dst was not prepared by copy_image_prepare: refused\n"
            if !$rec || $rec->{state} ne 'prepared' || $rec->{source} ne "$storeid:$c->{source}";
        my ($sp, $dp) = (lv_path($scfg, $src), lv_path($target_scfg, $dst));
        $class->activate_volume($storeid, $scfg, $c->{source}) if !-b $sp;
        push @pairs, [$sp, $dp, $dst, "$storeid:$c->{source}"];
    }

    my $job = PVE::Storage::Custom::BlkClone::LVMJobs::start([map { [@$_[0, 1]] } @pairs],
        offload => $OFFLOAD, stall_timeout => $target_scfg->{'copy-offload-timeout'});
    for my $i (0 .. $#pairs) {
        my ($sp, $dp, $dst, $srcvol) = @{ $pairs[$i] };
        PVE::Storage::Custom::BlkClone::LVMJobs::save($target_storeid, $dst, {
            state => 'started', job => $job->{id}, source => $srcvol, source_path => $sp,
            destination => $dp, method => $job->{pairs}[$i]{method},
            consistency => $job->{pairs}[$i]{consistency}, time => time(),
        });
    }
    return;
}

sub copy_image_status {
    my ($class, $scfg, $storeid, $volname, $source) = @_;

    my ($name) = ($class->parse_volname($volname))[1];
    my $rec = PVE::Storage::Custom::BlkClone::LVMJobs::load($storeid, $name);
    die "no offloaded copy onto $storeid:$name is known on this node\n"
        if !$rec || $rec->{state} ne 'started';
    my $dp = lv_path($scfg, $name);
    die "the job record of $storeid:$name names $rec->{destination}, not $dp\n"
        if $rec->{destination} ne $dp;

    my $st = PVE::Storage::Custom::BlkClone::LVMJobs::status($rec->{job});
    my ($pair) = grep { ref($_) eq 'HASH' && ($_->{destination} // '') eq $dp }
        @{ ref($st->{pairs}) eq 'ARRAY' ? $st->{pairs} : [] };
    die "blkclone job $rec->{job} has no pair onto $dp\n" if !$pair;

    my $pair_exit = $pair->{exit_code};
    if (defined $pair_exit && $pair_exit == 0) {
        PVE::Storage::Custom::BlkClone::LVMJobs::remove($storeid, $name);
        PVE::Storage::Custom::BlkClone::LVMJobs::forget($rec->{job})
            if $st->{state} ne 'running' && !PVE::Storage::Custom::BlkClone::LVMJobs::job_referenced($storeid, $rec->{job});
        return { state => 'complete', progress => 100 };
    }
    if ($st->{state} eq 'failed' || $st->{state} eq 'cancelled' || $st->{state} eq 'complete'
        || defined $pair_exit) {
        my $why = (ref($pair->{report}) eq 'HASH' ? $pair->{report}{error} : undef)
            // $st->{error} // "ended $st->{state} before this pair was copied";
        die "offloaded copy onto $storeid:$name $st->{state} (blkclone job $rec->{job}): $why\n";
    }
    my ($done, $total) = ($pair->{bytes_done} // 0, $pair->{bytes_total} // 0);
    my $pct = $total > 0 ? 100 * $done / $total : 0;
    $pct = 0 if $pct < 0;
    $pct = 99.99 if $pct > 99.99;    # complete only when the pair says so
    return { state => 'pending', progress => sprintf('%.2f', $pct) + 0 };
}

# Under the storage lock (vdisk_free).  Slow work goes into the cleanup
# worker PVE runs after the lock is released.
sub free_image {
    my ($class, $storeid, $scfg, $volname, $isBase, $format) = @_;

    my ($name) = ($class->parse_volname($volname))[1];
    if (my $rec = PVE::Storage::Custom::BlkClone::LVMJobs::load($storeid, $name)) {
        # a job still writing into an LV about to be removed: stop it first
        PVE::Storage::Custom::BlkClone::LVMJobs::cancel($rec->{job}) if $rec->{state} eq 'started';
        PVE::Storage::Custom::BlkClone::LVMJobs::remove($storeid, $name);
        PVE::Storage::Custom::BlkClone::LVMJobs::forget($rec->{job})
            if $rec->{state} eq 'started' && !PVE::Storage::Custom::BlkClone::LVMJobs::job_referenced($storeid, $rec->{job});
    }

    my $base_worker = $class->SUPER::free_image($storeid, $scfg, $volname, $isBase, $format);
    return $base_worker if !$base_worker || !$scfg->{saferemove};

    # saferemove: the base class renamed the LV to del-NAME and returns
    # its zeroing worker.  Ours zeroes with the LU's own command where it
    # has one, and otherwise runs the base's worker unchanged.
    my $vg = $scfg->{vgname};
    return sub {
        my $path = "/dev/$vg/del-$name";
        run_command(['/sbin/lvchange', '-aly', $path],
            errmsg => "can't activate LV '$path' to zero-out its data");
        run_command(['/sbin/lvchange', '--refresh', $path],
            errmsg => "can't refresh LV '$path' to zero-out its data");
        my $how = eval { zero_offered($path) };
        if (!$how) {
            print "zero-out $name: " . ($@ ? "blkclone probe failed: $@" : "the LU offers no zeroing command")
                . "; PVE's own zeroing\n";
            return $base_worker->();
        }
        print "zero-out data on image $name ($path) with blkclone zero ($how)\n";
        PVE::Storage::Custom::BlkClone::Exec::zero($path);
        $class->cluster_lock_storage($storeid, $scfg->{shared}, undef, sub {
            run_command(['/sbin/lvremove', '-f', "$vg/del-$name"],
                errmsg => "lvremove '$vg/del-$name' error");
        });
        print "successfully removed volume $name ($vg/del-$name)\n";
        return;
    };
}

# The zeroing the device offers, in blkclone probe's words, or undef.
sub zero_offered {
    my ($path) = @_;
    my $p = PVE::Storage::Custom::BlkClone::Exec::probe([$path], timeout => $PROBE_TIMEOUT);
    my $caps = ref($p->{volumes}) eq 'ARRAY' && ref($p->{volumes}[0]) eq 'HASH'
        ? $p->{volumes}[0]{capabilities} : undef;
    return undef if ref($caps) ne 'HASH';
    for my $c (qw(write_same_unmap zeroout)) {
        next if ref($caps->{$c}) ne 'HASH' || ($caps->{$c}{state} // '') ne 'supported';
        return "$c: " . ($caps->{$c}{reason} // '');
    }
    return undef;
}

# The original RFC's one-call copy, for callers that still use it:
# prepare under the lock, start, and wait here.
sub copy_image {
    my ($class, $scfg, $storeid, $volname, $vmid, $format, $opts) = @_;
    my $target = $class->cluster_lock_storage($storeid, $scfg->{shared}, undef, sub {
        return $class->copy_image_prepare($scfg, $storeid, $volname, $scfg, $storeid, $vmid,
            undef, { format => $format // 'raw' });
    });
    eval {
        $class->copy_image_start($scfg, $storeid, $volname, $scfg, $storeid, $target, undef);
        while (1) {
            my $s = $class->copy_image_status($scfg, $storeid, $target, undef);
            last if $s->{state} eq 'complete';
            sleep(1);
        }
    };
    if (my $err = $@) {
        my $worker = eval {
            $class->cluster_lock_storage($storeid, $scfg->{shared}, undef, sub {
                return $class->free_image($storeid, $scfg, $target, 0, 'raw');
            });
        };
        warn "could not free $storeid:$target: $@" if $@;
        eval { $worker->() } if ref($worker) eq 'CODE';
        die $err;
    }
    return $target;
}

1;
