import { request } from 'node:http';
import { request as requestTls } from 'node:https';
import { healthErrors } from '../errors.ts';
import type { ProbeRequest } from '../types.ts';
import { connectError } from './connect-error.ts';

/** True when status matches one of the patterns ('2xx' classes or exact '204'). */
export function statusMatches(status: number, patterns: readonly string[]): boolean {
  const s = String(status);
  return patterns.some((p) => (p.endsWith('xx') ? s[0] === p[0] && s.length === 3 : s === p));
}

/**
 * GET path on a fresh connection (no keep-alive: a kept connection can outlive a listener
 * that stopped accepting), body discarded; the status must match expectStatus. Over TLS
 * (HTTP/1.1) when the listener is HTTPS.
 */
export function httpProbe(req: ProbeRequest): Promise<void> {
  const { target } = req;
  const send = target.tls ? requestTls : request;
  return new Promise((resolve, reject) => {
    const r = send(
      {
        host: target.host,
        port: target.port,
        path: req.path,
        method: 'GET',
        agent: false,
        localAddress: req.localAddress,
        signal: req.signal,
        headers: { 'user-agent': 'multizone-health', connection: 'close' },
        // a liveness probe asks whether the listener serves, not who it is: development
        // certificates (`multizone cert`) are self-signed and their names are not the probed
        // address, and load balancers' health checks don't verify either
        ...(target.tls ? { rejectUnauthorized: false } : {}),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        res.on('error', () => {});
        if (statusMatches(status, req.expectStatus)) resolve();
        else
          reject(
            healthErrors.ERR_HEALTH_PROBE_STATUS(
              `health/http: ${target.id} answered ${status} (expected ${req.expectStatus.join(', ')})`,
              { details: { status } },
            ),
          );
      },
    );
    r.on('error', (e) => reject(connectError('http', target.id, e)));
    r.end();
  });
}
