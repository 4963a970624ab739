#!/usr/bin/perl
# Writes a MaxMind-layout (GeoIP2-City) mmdb for the peers from lines "CIDR COUNTRY CONTINENT [SUBDIVISION]" on stdin.
# Usage: write-mmdb.pl OUT.mmdb < networks.txt   (needs Debian's libmaxmind-db-writer-perl)
use strict;
use warnings;
use MaxMind::DB::Writer::Tree;

my $out = shift or die "usage: $0 OUT.mmdb < networks.txt\n";
my %types = (
    country      => 'map',
    continent    => 'map',
    subdivisions => [ 'array', 'map' ],
    iso_code     => 'utf8_string',
    code         => 'utf8_string',
    names        => 'map',
    en           => 'utf8_string',
);
my $tree = MaxMind::DB::Writer::Tree->new(
    ip_version            => 6,
    record_size           => 28,
    database_type         => 'GeoIP2-City',
    languages             => ['en'],
    description           => { en => 'multizone dns bench networks' },
    map_key_type_callback => sub { $types{ $_[0] } },
    alias_ipv6_to_ipv4    => 1,
    remove_reserved_networks => 0,
);
while (my $line = <STDIN>) {
    chomp $line;
    next unless $line;
    my ($cidr, $cc, $cont, $sub) = split /\s+/, $line;
    my %rec = (
        country   => { iso_code => $cc, names => { en => $cc } },
        continent => { code => $cont, names => { en => $cont } },
    );
    $rec{subdivisions} = [ { iso_code => $sub, names => { en => $sub } } ] if $sub;
    $tree->insert_network("::$cidr" =~ s{/(\d+)$}{'/' . ($1 + 96)}er, \%rec);
}
open my $fh, '>:raw', $out or die "$out: $!";
$tree->write_tree($fh);
close $fh;
