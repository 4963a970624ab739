import { connect } from 'node:net';
import type { ProbeRequest } from '../types.ts';
import { connectError } from './connect-error.ts';

/** A TCP connect, closed at once: proves the listener accepts connections. */
export function tcpProbe(req: ProbeRequest): Promise<void> {
  const { target } = req;
  return new Promise((resolve, reject) => {
    const s = connect({ host: target.host, port: target.port, localAddress: req.localAddress });
    const onAbort = () => s.destroy();
    req.signal.addEventListener('abort', onAbort, { once: true });
    const done = () => req.signal.removeEventListener('abort', onAbort);
    s.once('connect', () => {
      done();
      s.destroy();
      resolve();
    });
    s.once('error', (e) => {
      done();
      reject(connectError('tcp', target.id, e));
    });
  });
}
