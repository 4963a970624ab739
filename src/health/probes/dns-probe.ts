import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import * as dnsPacket from 'dns-packet';
import { healthErrors } from '../errors.ts';
import type { ProbeRequest } from '../types.ts';
import { connectError } from './connect-error.ts';

let nextId = 1;

/**
 * A UDP query for the apex SOA. Any well-formed answer with our id counts (NXDOMAIN or
 * REFUSED still prove a live server) except SERVFAIL. The socket is connected, so a closed
 * port fails at once (ICMP port unreachable) instead of waiting for the timeout.
 */
export function dnsProbe(req: ProbeRequest): Promise<void> {
  const { target } = req;
  const id = nextId;
  nextId = (nextId % 65535) + 1;
  const query = dnsPacket.encode({
    type: 'query',
    id,
    flags: 0,
    questions: [{ type: 'SOA', name: req.dnsName }],
  });
  return new Promise((resolve, reject) => {
    const sock = createSocket(isIP(target.host) === 6 ? 'udp6' : 'udp4');
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      req.signal.removeEventListener('abort', onAbort);
      sock.close();
      if (err) reject(err);
      else resolve();
    };
    const onAbort = () => finish(connectError('dns', target.id, req.signal.reason ?? new Error('aborted')));
    req.signal.addEventListener('abort', onAbort, { once: true });
    sock.on('error', (e) => finish(connectError('dns', target.id, e)));
    sock.on('message', (msg) => {
      let p: dnsPacket.Packet;
      try {
        p = dnsPacket.decode(msg);
      } catch (e) {
        finish(healthErrors.ERR_HEALTH_PROBE_BAD_ANSWER(`health/dns: ${target.id}: malformed answer`, { cause: e }));
        return;
      }
      if (p.id !== id || p.type !== 'response') return; // not ours: keep waiting until the timeout
      const rcode = (p as { rcode?: string }).rcode;
      if (rcode === 'SERVFAIL')
        finish(healthErrors.ERR_HEALTH_PROBE_BAD_ANSWER(`health/dns: ${target.id}: SERVFAIL`, { details: { rcode } }));
      else finish();
    });
    sock.bind({ address: req.localAddress, port: 0 }, () => {
      if (settled) return;
      sock.connect(target.port, target.host, (e?: Error) => {
        if (settled) return;
        if (e) return finish(connectError('dns', target.id, e));
        sock.send(query, (e2) => {
          if (e2) finish(connectError('dns', target.id, e2));
        });
      });
    });
  });
}
