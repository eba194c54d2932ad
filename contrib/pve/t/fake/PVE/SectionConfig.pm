package PVE::SectionConfig;

# Test double of pve-common's SectionConfig (src/PVE/SectionConfig.pm),
# the base of PVE::Storage::Plugin: only the plugin registry, with the
# same split the real one has:
#   register()  only records a plugin (its type and plugindata); it dies
#               only for a type registered twice (real: register()).
#   init()      checks every registered plugin at once: a property
#               declared by two plugins, or by a plugin and the base,
#               dies "duplicate property '...'"; an option naming no
#               declared property dies "undefined property '...'"
#               (real: init() -> init_unified()).  Plugins are visited
#               in hash order, as there.  Like the real one since
#               pve-common 9.2 ("make init() repeatable"), a second
#               init() starts again from the base's own property list.
# pve-storage calls init() outside any eval (src/PVE/Storage.pm, after
# the custom plugins are loaded), so a clash found here takes every
# storage down, not only the plugin that caused it.
#
# Not modelled: property isolation ('isolate-properties', pve-common
# 9.2.1), the config parser and writer, schemas.

use strict;
use warnings;

sub private { die "overwrite me"; }

sub type { die "overwrite me"; }

sub properties { return {}; }

sub options { return {}; }

sub plugindata { return {}; }

sub register {
    my ($class) = @_;
    my $type = $class->type();
    my $pdata = $class->private();
    # no newline, as in the real one (perl adds " at ... line N.")
    die "duplicate plugin registration (type = $type)" if defined $pdata->{plugins}{$type};
    $pdata->{plugindata}{$type} = $class->plugindata();
    $pdata->{plugins}{$type} = $class;
}

sub init {
    my ($class) = @_;
    my $pdata = $class->private();
    $pdata->{$_} //= {} for qw(options plugins plugindata propertyList);

    # start from the base's own properties every time
    my $base = ($pdata->{'base-property-list'} //= { %{ $pdata->{propertyList} } });
    my $props = $pdata->{propertyList} = { map { $_ => { %{ $base->{$_} } } } keys %$base };
    $pdata->{options} = {};

    my $plugins = $pdata->{plugins};
    for my $type (keys %$plugins) {
        my $p = $plugins->{$type}->properties();
        for my $name (keys %$p) {
            die "duplicate property '$name'" if defined $props->{$name};
            $props->{$name} = { %{ $p->{$name} }, optional => 1 };
        }
    }
    for my $type (keys %$plugins) {
        my $o = $plugins->{$type}->options();
        for my $name (keys %$o) {
            die "undefined property '$name'" if !$props->{$name};
        }
        $pdata->{options}{$type} = { %$o };
    }
    $props->{type}{type} = 'string';
    $props->{type}{enum} = [sort keys %$plugins];
}

sub lookup {
    my ($class, $type) = @_;
    my $plugin = $class->private()->{plugins}{$type};
    die "unknown section type '$type'\n" if !$plugin;
    return $plugin;
}

sub lookup_types {
    my ($class) = @_;
    return [sort keys %{ $class->private()->{plugins} }];
}

1;
