import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RouteContext } from './types.ts';

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** A fresh per-request context: the one place its fields get their starting values. */
export function newRouteContext(req: IncomingMessage, res: ServerResponse): RouteContext {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const method = req.method ?? 'GET';
  return {
    req,
    res,
    method,
    safe: SAFE.has(method),
    path: q < 0 ? url : url.slice(0, q),
    query: q < 0 ? '' : url.slice(q + 1),
    resource: undefined,
    key: undefined,
    keySource: undefined,
    shard: undefined,
    keyZone: undefined,
    owner: undefined,
    target: undefined,
    why: '',
    hop: 0,
    senderEpoch: undefined,
    fromZone: undefined,
    secondRead: false,
    responseHeaders: {},
    trusted: undefined,
    body: undefined,
  };
}
