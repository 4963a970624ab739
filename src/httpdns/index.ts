/** HTTPDNS: `/d`, `/sign_d`, `/resolve`, RFC 8484 DoH and speed reports over steering. See README.md. */
export { httpdnsErrors } from './errors.ts';
export { MAX_HOSTS } from './handlers/d.ts';
export { FAILED_RTT_MS, LatencyAggregator, type SpeedSample, subnetKey } from './latency.ts';
export { type HttpdnsConfig, type HttpdnsServer, type HttpdnsServerOptions, startHttpdnsServer } from './server.ts';
export { hmacHex, MAX_SIGNATURE_AHEAD_S, signedString } from './sign.ts';
