/**
 * Delivering a miss while it is stored (Varnish's streaming fetch): the client gets the head
 * and each body chunk as the origin sends it, while the chunks are kept for the store. The
 * object is stored, and the requests collapsed on the fetch are released, only when the body
 * is complete; an origin abort stores nothing and fails the collapsed requests, so no one is
 * ever served a truncated object. A body that outgrows `maxObjectBytes` stops being kept and
 * just streams through (with backpressure from then on).
 */

import { type CachedObject, deliveryFlat, materialize } from './cached-object.ts';
import type { Lead } from './collapser.ts';
import type { CollapseOutcome, EdgeCtx, StreamingFill } from './context.ts';
import { cacheStatus, writeHead } from './deliver.ts';
import { ageHeader } from './freshness.ts';

/** What a streamed fill needs from the edge. */
export interface StreamFillDeps {
  maxObjectBytes: number;
  minCompressBytes: number;
  /** Stores the finished object (and drops the copy it replaces). */
  store(obj: CachedObject, replaces: CachedObject | undefined): void;
  /** Called once when the body is done: bytes sent to the client, stored or not. */
  finished(bytes: number, stored: boolean): void;
}

/** Writes the head now and the body as it arrives; settles `lead` when the body ends. */
export function streamFill(
  ctx: EdgeCtx,
  fill: StreamingFill,
  lead: Lead<CollapseOutcome> | undefined,
  now: number,
  d: StreamFillDeps,
): void {
  const { res } = ctx;
  const { meta, body } = fill;
  const flat = deliveryFlat(meta.headers);
  if (fill.contentLength !== undefined) flat.push('content-length', String(fill.contentLength));
  flat.push('age', String(ageHeader(meta, now)), 'cache-status', cacheStatus(ctx, meta, now));
  writeHead(res, meta.status, flat);

  let chunks: Buffer[] | undefined = [];
  let kept = 0;
  let sent = 0;
  let clientOpen = true;
  let settled = false;
  let over = false;
  const settle = (outcome: CollapseOutcome | Error) => {
    if (settled) return;
    settled = true;
    if (outcome instanceof Error) lead?.fail(outcome);
    else lead?.done(outcome);
  };
  const finish = (stored: boolean) => {
    if (over) return;
    over = true;
    d.finished(sent, stored);
  };
  // the object will not be stored: collapsed requests fetch for themselves, and without a
  // client there is no reason to go on reading
  const giveUp = () => {
    chunks = undefined;
    settle('uncacheable');
    if (!clientOpen) {
      body.destroy();
      finish(false);
    }
  };

  const resume = () => body.resume();
  res.on('close', () => {
    if (res.writableFinished) return;
    clientOpen = false;
    res.off('drain', resume);
    if (!chunks) giveUp();
    else body.resume(); // keep filling the store for the next requests
  });

  body.on('data', (c: Buffer) => {
    if (chunks) {
      kept += c.length;
      if (kept > d.maxObjectBytes) giveUp();
      else chunks.push(c);
    }
    if (!clientOpen) return;
    sent += c.length;
    // while the object is kept we read at the origin's pace (collapsed requests wait on it);
    // once it is not, the slowest reader sets the pace
    if (!res.write(c) && !chunks) {
      body.pause();
      res.once('drain', resume);
    }
  });
  body.on('end', () => {
    let stored = false;
    // a short body under a Content-Length is a truncated object: never store it
    if (chunks && (fill.contentLength === undefined || kept === fill.contentLength)) {
      d.store(materialize(meta, Buffer.concat(chunks, kept), d.minCompressBytes), fill.replaces);
      stored = true;
    }
    chunks = undefined;
    settle(stored ? 'stored' : 'uncacheable');
    if (clientOpen) res.end();
    finish(stored);
  });
  body.on('error', (e: Error) => {
    chunks = undefined;
    settle(e);
    // the head is out: the only honest signal left to the client is a cut connection
    res.destroy();
    finish(false);
  });
}
