package PVE::Storage::Custom::BlkClone::LunPool;

# Which LUNs of an iSCSI target a storage may hand out, and which of them
# belong to a guest now.  iSCSI has no notion of an owner, so the
# assignment is kept in a small JSON file; on a PVE cluster it lives on
# the cluster filesystem and every change is made under the storage's
# cluster lock (the caller takes it).

use strict;
use warnings;

use JSON::PP;

# Tests point this elsewhere; /etc/pve is the cluster filesystem.
our $STATE_DIR = '/etc/pve/priv/blkclone';

# parse_luns("1-4,7"): the sorted list of LUN numbers, or die.  LUN 0 is
# usually the target's controller LU (tgt), so it is never implied.
sub parse_luns {
    my ($spec) = @_;
    die "no LUNs configured (option 'blkclone-luns', e.g. 1-8; the 'luns' of earlier versions must be renamed)\n" if !defined $spec || $spec eq '';
    my %seen;
    for my $part (split /\s*,\s*/, $spec) {
        if ($part =~ /^(\d{1,5})$/) {
            $seen{ $1 + 0 } = 1;
        } elsif ($part =~ /^(\d{1,5})-(\d{1,5})$/ && $1 <= $2) {
            die "LUN range '$part' is too long (at most 1024 LUNs)\n" if $2 - $1 >= 1024;
            $seen{$_} = 1 for $1 .. $2;
        } else {
            die "invalid LUN list '$spec': use numbers and ranges like 1-4,7\n";
        }
    }
    die "LUN numbers must be below 16384\n" if grep { $_ >= 16384 } keys %seen;
    return [sort { $a <=> $b } keys %seen];
}

sub state_path {
    my ($storeid) = @_;
    die "invalid storage id '$storeid'\n" if $storeid !~ /^[a-z][a-z0-9\-_.]*$/i;
    return "$STATE_DIR/$storeid.luns.json";
}

# load($storeid): { LUN => { volname, vmid, size } } (empty when no file).
sub load {
    my ($storeid) = @_;
    my $path = state_path($storeid);
    open(my $fh, '<', $path) or do {
        return {} if $!{ENOENT};
        die "cannot read $path: $!\n";
    };
    local $/;
    my $text = <$fh>;
    close($fh);
    my $obj = eval { JSON::PP->new->decode($text) };
    die "$path is not valid JSON: $@" if !$obj;
    die "$path: no 'luns' object\n" if ref($obj) ne 'HASH' || ref($obj->{luns}) ne 'HASH';
    for my $lun (keys %{ $obj->{luns} }) {
        die "$path: '$lun' is not a LUN number\n" if $lun !~ /^\d{1,5}$/;
        my $e = $obj->{luns}{$lun};
        die "$path: LUN $lun has no volume name and owner\n"
            if ref($e) ne 'HASH' || !defined $e->{volname} || ref($e->{volname})
            || !defined $e->{vmid} || $e->{vmid} !~ /^\d+$/;
    }
    return $obj->{luns};
}

# save($storeid, $map): replace the file in one rename, so a reader sees
# the old map or the new one, never half of one.
sub save {
    my ($storeid, $map) = @_;
    my $path = state_path($storeid);
    if (!-d $STATE_DIR) {
        mkdir($STATE_DIR, 0700) or $!{EEXIST} or die "cannot create $STATE_DIR: $!\n";
    }
    my $tmp = "$path.tmp.$$";
    my $text = JSON::PP->new->canonical->pretty->encode({ luns => $map });
    open(my $fh, '>', $tmp) or die "cannot write $tmp: $!\n";
    print $fh $text or die "cannot write $tmp: $!\n";
    close($fh) or die "cannot write $tmp: $!\n";
    rename($tmp, $path) or do { my $e = $!; unlink $tmp; die "cannot replace $path: $e\n"; };
    return;
}

# free_luns($all, $map): the configured LUNs nobody owns.
sub free_luns {
    my ($all, $map) = @_;
    return [grep { !exists $map->{$_} } @$all];
}

1;
