/** DNS: authoritative GeoDNS over UDP and TCP, answering from steering. See README.md. */
export type { DnsConfig, DnsContext, DnsStage, Handler, Next, StageDeps, Transport, VersionedState } from './chain.ts';
export { dnsErrors } from './errors.ts';
export { createDnsHandler, type DnsHandler, type DnsHandlerOptions } from './handler.ts';
export { DnsStats, publishDnsStats } from './metrics.ts';
export { type DnsServer, type DnsServerOptions, startDnsServer } from './server.ts';
export { STAGES as DNS_STAGES } from './stages/order.ts';
export { DnsWorkers, type DnsWorkersOptions } from './workers.ts';
