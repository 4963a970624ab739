/**
 * A DNS worker process (forked by workers.ts through core/worker-pool.ts, never by hand):
 * builds its zone's authoritative servers from the topology, serves the UDP sockets and TCP
 * listeners it is sent, and keeps its steering state a copy of its zone process's.
 */
import type { RemoteInfo, Socket as UdpSocket } from 'node:dgram';
import type { Server } from 'node:net';
import { systemClock } from '../core/clock.ts';
import { createLogger } from '../core/logger.ts';
import { systemRandom } from '../core/random.ts';
import { runWorker } from '../core/worker-child.ts';
import { defaultGeoDb } from '../geo/index.ts';
import { createSteering, MutableSteeringState, type SteeringSnapshot } from '../steering/index.ts';
import { parseTopology } from '../topology/index.ts';
import { type DnsServer, startDnsServer } from './server.ts';
import type { DnsWorkerPayload } from './workers.ts';

runWorker<DnsWorkerPayload>((p, ctx) => {
  const logger = createLogger({ level: p.logLevel, name: `multizone dns worker ${p.zone}#${ctx.index}` });
  const topology = parseTopology(p.topology, p.file);
  const state = new MutableSteeringState();
  state.restore(p.state);
  const steering = createSteering({ topology, geo: defaultGeoDb(), random: systemRandom(), state });
  const servers: DnsServer[] = [];
  let udp: UdpSocket | undefined;
  let early: [Buffer, RemoteInfo][] = [];
  const hold = (msg: Buffer, rinfo: RemoteInfo) => void early.push([msg, rinfo]);
  const onState = (body: unknown) => {
    const m = body as { kind: string; state: SteeringSnapshot };
    if (m.kind === 'state') state.restore(m.state);
  };
  return {
    listeners: p.hosts.length * 2,
    async attach(h, i) {
      if (i % 2 === 0) {
        // the UDP socket comes first: hold its queries until the server has its TCP listener too
        udp = h as UdpSocket;
        udp.on('message', hold);
        return;
      }
      const u = udp!;
      const srv = await startDnsServer({
        topology,
        host: p.hosts[(i - 1) / 2] ?? '127.0.0.1',
        port: 0,
        steering,
        state,
        logger,
        metrics: ctx.metrics,
        clock: systemClock,
        zone: p.zone,
        ...(p.leanPath === undefined ? {} : { leanPath: p.leanPath }),
        ...(p.config ? { config: p.config } : {}),
        attach: { udp: u, tcp: h as Server },
      });
      u.off('message', hold);
      for (const [msg, rinfo] of early) u.emit('message', msg, rinfo);
      early = [];
      servers.push(srv);
    },
    onAsk: async (body) => onState(body),
    onTell: onState,
    async close() {
      for (const s of servers.splice(0)) await s.close();
    },
  };
});
