import { promises as dnsPromises, type LookupAddress } from 'node:dns';
import { type AgentOptions, Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent, type AgentOptions as HttpsAgentOptions } from 'node:https';
import { isIP, type Socket } from 'node:net';
import { Agent, buildConnector } from 'undici';
import { type Clock, systemClock } from '../core/clock.ts';
import { sdkErrors } from './errors.ts';
import { createResolver, type Resolver, type ResolverOptions, type SystemLookup } from './resolver.ts';

/** The system resolver through Node's dns.promises.lookup (getaddrinfo: hosts file, LocalDNS). */
export function systemLookupFrom(lookup: typeof dnsPromises.lookup = dnsPromises.lookup): SystemLookup {
  return async (host) => {
    const all = (await lookup(host, { all: true })) as LookupAddress[];
    return all
      .filter((a) => a.family === 4 || a.family === 6)
      .map((a) => ({ address: a.address, family: a.family as 4 | 6 }));
  };
}

/** createResolver with Node's system resolver as the fallback (injectable through `systemLookup`). */
export function createNodeResolver(options: ResolverOptions): Resolver {
  return createResolver({ systemLookup: systemLookupFrom(), ...options });
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A dns.lookup-compatible function for net.connect / http.Agent / https.Agent ({ lookup }):
 * answers the best-ranked address from the resolver. With `all` it returns every address,
 * best first (Node 20's autoSelectFamily asks for all).
 */
export function createLookup(resolver: Resolver) {
  return function lookup(hostname: string, options: unknown, callback?: LookupCallback): void {
    const cb = (typeof options === 'function' ? options : callback) as LookupCallback;
    const o = (typeof options === 'object' && options !== null ? options : { family: options }) as {
      family?: number | string;
      all?: boolean;
    };
    const fam = o.family === 'IPv4' ? 4 : o.family === 'IPv6' ? 6 : Number(o.family ?? 0);
    resolver.lookup(hostname).then(
      (r) => {
        const list: LookupAddress[] = [
          ...(fam === 6 ? [] : r.ipv4.map((address) => ({ address, family: 4 }))),
          ...(fam === 4 ? [] : r.ipv6.map((address) => ({ address, family: 6 }))),
        ];
        if (list.length === 0) {
          const e = Object.assign(new Error(`sdk: no IPv${fam} address for ${hostname}`), { code: 'ENOTFOUND' });
          return cb(e, o.all ? [] : '', 0);
        }
        if (o.all) cb(null, list);
        else cb(null, list[0]!.address, list[0]!.family);
      },
      (err) =>
        cb(
          Object.assign(err, { code: err?.code === sdkErrors.ERR_SDK_UNRESOLVED.code ? 'ENOTFOUND' : err?.code }),
          '',
          0,
        ),
    );
  };
}

/** Reports the TCP connect time of sockets an http(s).Agent opens to the resolver's ranking. */
function measure(resolver: Resolver, clock: Clock, socket: Socket, host: string | undefined): void {
  const t0 = clock.now();
  socket.once('connect', () => {
    if (socket.remoteAddress) resolver.report(socket.remoteAddress, true, clock.now() - t0, host);
  });
}

/**
 * An http.Agent (or https.Agent with `https: true`) that connects to the best-ranked
 * address while the Host header and TLS SNI stay the hostname, and feeds connect times
 * back into the ranking.
 */
export function createNodeAgent(
  resolver: Resolver,
  opts: AgentOptions & HttpsAgentOptions & { https?: boolean; clock?: Clock } = {},
): HttpAgent {
  const { https, clock = systemClock, ...agentOpts } = opts;
  const lookup = createLookup(resolver);
  const Base = https ? HttpsAgent : HttpAgent;
  const agent = new Base({ ...agentOpts, lookup } as AgentOptions);
  const create = (
    agent as unknown as { createConnection: (o: { host?: string }, cb?: unknown) => Socket }
  ).createConnection.bind(agent);
  (agent as unknown as { createConnection: unknown }).createConnection = (o: { host?: string }, cb?: unknown) => {
    const s = create(o, cb);
    measure(resolver, clock, s, o.host);
    return s;
  };
  return agent as HttpAgent;
}

export interface DispatcherOptions {
  /** TLS and socket options for every connection (e.g. `ca` for a private CA). */
  connect?: Record<string, unknown>;
  /** Addresses tried per request before giving up. Default 3. */
  attempts?: number;
  clock?: Clock;
  /** Other undici Agent options. */
  agent?: Omit<ConstructorParameters<typeof Agent>[0], 'connect'>;
}

/**
 * An undici Agent for `fetch(url, { dispatcher })` / `request(url, { dispatcher })`: each new
 * connection goes to the best-ranked address for the URL's host (the next one when it
 * fails), while Host and TLS SNI stay the hostname. Every attempt feeds the ranking and the
 * speed reports (TCP connect time).
 */
export function createDispatcher(resolver: Resolver, opts: DispatcherOptions = {}): Agent {
  const attempts = opts.attempts ?? 3;
  if (!Number.isInteger(attempts) || attempts < 1)
    throw sdkErrors.ERR_SDK_INVALID_OPTION('sdk: attempts must be a positive integer');
  const clock = opts.clock ?? systemClock;
  const base = buildConnector((opts.connect ?? {}) as buildConnector.BuildOptions);
  const connect: buildConnector.connector = (o, callback) => {
    const hostname = o.hostname;
    if (isIP(hostname) || hostname.startsWith('[')) return base(o, callback);
    resolver.resolve(hostname).then(
      (ips) => {
        const tries = ips.slice(0, attempts);
        const attempt = (i: number) => {
          const ip = tries[i]!;
          const t0 = clock.now();
          let connected = false;
          const sock = base({ ...o, hostname: ip, servername: o.servername || hostname }, (err, s) => {
            if (!err) return callback(null, s!);
            if (!connected) resolver.report(ip, false, undefined, hostname);
            if (i + 1 < tries.length) attempt(i + 1);
            else callback(err, null);
          });
          (sock as unknown as Socket).once('connect', () => {
            connected = true;
            resolver.report(ip, true, clock.now() - t0, hostname);
          });
        };
        if (tries.length === 0) callback(sdkErrors.ERR_SDK_UNRESOLVED(`sdk: no address for ${hostname}`), null);
        else attempt(0);
      },
      (err) => callback(err, null),
    );
  };
  return new Agent({ ...opts.agent, connect });
}
