package ForkFlow;

# The calls the pve-storage fork that defines copy offload
# (ciroiriarte/pve-storage at c0a97988, API 16: src/PVE/Storage.pm)
# makes into a storage plugin for an offloaded clone, for running a
# plugin through them where PVE::Storage has none (pve-storage 9.1.7 and
# the test doubles).  Written from the fork's documented behaviour, not
# its code:
#   copy_offload_class: undef unless the TARGET storage has copy-offload
#     set and both storages have the same type; then 'atomic' if the
#     source volume has copy-offload-atomic, else 'bulk' if it has
#     copy-offload-bulk (volume_has_feature gets no target);
#   vdisk_copy_prepare: copy_image_prepare under the target storage's
#     lock (cluster_lock_storage with its 'shared'), "TARGET:VOLNAME";
#   vdisk_copy_start: copy_image_start, no lock;
#   vdisk_copy: prepare, start (the target freed if that dies), wait;
#   vdisk_copy_start_group: copies grouped per (source, target) storage
#     pair, each group to copy_images_start, no lock;
#   vdisk_copy_wait: copy_image_status once a second; progress reported
#     when it changes, which also restarts the deadline of
#     copy-offload-timeout seconds (default 86400); 'complete' ends it,
#     anything but 'pending' is an error; on any error the target is
#     freed with vdisk_free and the error died with again;
#   vdisk_free: free_image under the lock; a cleanup worker it returns is
#     run by a forked worker (fork_worker; in CLI context it is waited for).

use strict;
use warnings;

use POSIX ();
use PVE::Storage::Plugin;

use base 'Exporter';
our @EXPORT = qw(copy_offload_class vdisk_copy_prepare vdisk_copy_start vdisk_copy_start_group vdisk_copy_wait vdisk_copy vdisk_free);

sub split_volid {
    my ($volid) = @_;
    $volid =~ /^([a-z][a-z0-9\-_.]*[a-z0-9]):(.+)$/i or die "unable to parse volume ID '$volid'\n";
    return ($1, $2);
}

sub scfg_of {
    my ($cfg, $storeid) = @_;
    return $cfg->{ids}{$storeid} // die "storage '$storeid' does not exist\n";
}

sub plugin_of { return PVE::Storage::Plugin->lookup($_[0]->{type}); }

sub copy_offload_class {
    my ($cfg, $volid, $target_storeid, $snap, $running) = @_;
    my ($storeid, $volname) = split_volid($volid);
    my ($scfg, $tscfg) = (scfg_of($cfg, $storeid), scfg_of($cfg, $target_storeid));
    return undef if !$tscfg->{'copy-offload'} || $scfg->{type} ne $tscfg->{type};
    for my $class (qw(atomic bulk)) {
        return $class if plugin_of($scfg)->volume_has_feature($scfg, "copy-offload-$class", $storeid, $volname,
            $snap, $running);
    }
    return undef;
}

sub vdisk_copy_prepare {
    my ($cfg, $volid, $target_storeid, $target_vmid, $snap, $opts) = @_;
    my ($storeid, $volname) = split_volid($volid);
    my ($scfg, $tscfg) = (scfg_of($cfg, $storeid), scfg_of($cfg, $target_storeid));
    my $plugin = plugin_of($scfg);
    my $new = $plugin->cluster_lock_storage($target_storeid, $tscfg->{shared}, undef, sub {
        $plugin->copy_image_prepare($scfg, $storeid, $volname, $tscfg, $target_storeid, $target_vmid, $snap, $opts);
    });
    return "$target_storeid:$new";
}

sub vdisk_copy_start {
    my ($cfg, $volid, $target_volid, $snap) = @_;
    my ($s, $v) = split_volid($volid);
    my ($ts, $tv) = split_volid($target_volid);
    my ($scfg, $tscfg) = (scfg_of($cfg, $s), scfg_of($cfg, $ts));
    return plugin_of($scfg)->copy_image_start($scfg, $s, $v, $tscfg, $ts, $tv, $snap);
}

sub vdisk_copy_start_group {
    my ($cfg, $copies) = @_;
    my %groups;
    for my $c (@$copies) {
        my ($s, $v) = split_volid($c->{source});
        my ($ts, $tv) = split_volid($c->{target});
        my $g = $groups{"$s/$ts"} //= { storeid => $s, target_storeid => $ts, copies => [], orig => [] };
        push @{ $g->{copies} }, { source => $v, target => $tv, snap => $c->{snap} };
        push @{ $g->{orig} }, $c;
    }
    for my $key (sort keys %groups) {
        my $g = $groups{$key};
        my ($scfg, $tscfg) = (scfg_of($cfg, $g->{storeid}), scfg_of($cfg, $g->{target_storeid}));
        plugin_of($scfg)->copy_images_start($scfg, $g->{storeid}, $tscfg, $g->{target_storeid}, $g->{copies});
        $_->{started} = 1 for @{ $g->{orig} };
    }
    return;
}

sub vdisk_copy_wait {
    my ($cfg, $target_volid, $volid, $progress) = @_;
    my ($ts, $tv) = split_volid($target_volid);
    my $tscfg = scfg_of($cfg, $ts);
    my $source;
    if ($volid) {
        my ($s, $v) = split_volid($volid);
        $source = { scfg => scfg_of($cfg, $s), storeid => $s, volname => $v };
    }
    my $timeout = $tscfg->{'copy-offload-timeout'} // 24 * 3600;
    my $deadline = time() + $timeout;
    my $last;
    eval {
        while (1) {
            my $st = plugin_of($tscfg)->copy_image_status($tscfg, $ts, $tv, $source);
            my $state = $st->{state} // '';
            my $p = $st->{progress};
            if (defined $p && (!defined $last || $p != $last)) {
                $progress->($p) if $progress;
                $last = $p;
                $deadline = time() + $timeout;
            }
            last if $state eq 'complete';
            die "copy of '$target_volid' reported unexpected state '$state'\n" if $state ne 'pending';
            die "copy of '$target_volid' did not finish within ${timeout}s\n" if time() >= $deadline;
            sleep(1);
        }
    };
    if (my $err = $@) {
        eval { vdisk_free($cfg, $target_volid) };
        warn "could not clean up target volume '$target_volid' - $@" if $@;
        die $err;
    }
    return $target_volid;
}

sub vdisk_copy {
    my ($cfg, $volid, $target_storeid, $target_vmid, $snap, $opts, $progress) = @_;
    my $target = vdisk_copy_prepare($cfg, $volid, $target_storeid, $target_vmid, $snap, $opts);
    eval { vdisk_copy_start($cfg, $volid, $target, $snap) };
    if (my $err = $@) {
        eval { vdisk_free($cfg, $target) };
        warn "could not clean up target volume '$target' - $@" if $@;
        die $err;
    }
    return vdisk_copy_wait($cfg, $target, $volid, $progress);
}

sub vdisk_free {
    my ($cfg, $volid) = @_;
    my ($storeid, $volname) = split_volid($volid);
    my $scfg = scfg_of($cfg, $storeid);
    my $plugin = plugin_of($scfg);
    my $worker;
    $plugin->cluster_lock_storage($storeid, $scfg->{shared}, undef, sub {
        my (undef, undef, undef, undef, undef, $isBase, $format) = $plugin->parse_volname($volname);
        $worker = $plugin->free_image($storeid, $scfg, $volname, $isBase, $format);
    });
    return if !$worker;
    my $pid = fork() // die "fork: $!\n";
    if (!$pid) {
        my $ok = eval { $worker->(); 1 };
        print STDERR "cleanup worker: $@" if !$ok;
        POSIX::_exit($ok ? 0 : 1);
    }
    waitpid($pid, 0);
    die "cleanup worker failed (exit " . ($? >> 8) . ")\n" if $?;
    return;
}

1;
