/** Where a client is, in stable ids. Fields the data doesn't know are null. */
export interface Location {
  /** ISO 3166-1 alpha-2, e.g. 'CN', 'US'. */
  country: string | null;
  /** ISO 3166-2 for Chinese provinces, e.g. 'CN-BJ'. */
  province: string | null;
  city: string | null;
  /** Carrier id: telecom, unicom, mobile, cernet, cbn, … or 'other'. */
  isp: string | null;
  asn: number | null;
  /**
   * Prefix length of the network around the address over which this answer is the same,
   * i.e. the widest ECS scope this location allows (RFC 7871 §7.2.1).
   */
  prefix: number;
  family: 4 | 6;
  /**
   * Which data answered: 'ip2region' (China: province, city, carrier), 'mmdb' (the DB-IP Lite
   * country database), 'ip2region+mmdb' (ip2region's range, its country code from DB-IP Lite),
   * 'table', 'private' or 'none'.
   */
  source: string;
}

/** The interface every geo source implements (contract suite: geo-db.contract.ts). */
export interface GeoDb {
  /** Looks up an address or subnet ('1.2.3.4', '1.2.3.0/24', '2001:db8::/48'). Throws ERR_GEO_BAD_IP. */
  lookup(ipOrSubnet: string): Location;
}
