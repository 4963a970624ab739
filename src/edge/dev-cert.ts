import { isIP } from 'node:net';
import { generate } from 'selfsigned';
import { systemClock } from '../core/clock.ts';

/** A self-signed development certificate and its key, PEM. */
export interface DevCert {
  cert: string;
  key: string;
  names: string[];
}

/**
 * Makes a self-signed certificate for the given DNS names (and 127.0.0.1, ::1), valid
 * from `nowMs` for `days`: EC P-256, SHA-256. For development and tests only.
 */
export async function makeDevCert(
  names: readonly string[],
  nowMs = systemClock.wallTime(),
  days = 365,
): Promise<DevCert> {
  const dns = [...new Set(names.filter((n) => !isIP(n)))];
  const ips = [...new Set(['127.0.0.1', '::1', ...names.filter((n) => isIP(n))])];
  const notBeforeDate = new Date(nowMs - 60_000);
  const notAfterDate = new Date(nowMs + days * 86_400_000);
  const pems = await generate([{ name: 'commonName', value: dns[0] ?? 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          ...dns.map((value) => ({ type: 2 as const, value })),
          ...ips.map((ip) => ({ type: 7 as const, ip })),
        ],
      },
    ],
  });
  return { cert: pems.cert, key: pems.private, names: [...dns, ...ips] };
}
