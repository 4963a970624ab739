/** A harness for router stage unit tests: a fake request/response, fake deps, a hand-set map. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ManualClock } from '../../src/core/clock.ts';
import { newRouteContext, type RouteContext, type RouterMap, type Stage } from '../../src/router/index.ts';
import type { RouterDeps } from '../../src/router/types.ts';
import type { ShardId, ShardOwner } from '../../src/shardmap/index.ts';
import type { Topology } from '../../src/topology/index.ts';
import { RequestSigner } from '../../src/trust/index.ts';

export class FakeRes {
  status = 0;
  headers: Record<string, string> = {};
  body = '';
  headersSent = false;
  setHeader(k: string, v: string): void {
    this.headers[k.toLowerCase()] = v;
  }
  writeHead(status: number, h: Record<string, string | number> = {}): this {
    this.status = status;
    for (const [k, v] of Object.entries(h)) this.headers[k.toLowerCase()] = String(v);
    this.headersSent = true;
    return this;
  }
  end(b = ''): void {
    this.body += b;
  }
  destroy(): void {}
  json(): Record<string, unknown> {
    return JSON.parse(this.body) as Record<string, unknown>;
  }
}

/** A map where every shard is owned by `fallback` unless set. */
export class StaticMap implements RouterMap {
  owners = new Map<ShardId, Partial<ShardOwner> & { zone: string; epoch: number }>();
  writable = true;
  constructor(public fallback = 'sh-a') {}
  entry(shard: ShardId): ShardOwner {
    const o = this.owners.get(shard) ?? { zone: this.fallback, epoch: 1 };
    return { notBefore: 0, draining: false, revision: 1, ...o };
  }
  canWrite(zone: string, shard: ShardId, epoch: number): boolean {
    const o = this.entry(shard);
    return this.writable && o.zone === zone && o.epoch === epoch && !o.draining;
  }
  async waitForEpoch(_shard: ShardId, _epoch: number, _ms: number): Promise<boolean> {
    return false;
  }
  ready(): boolean {
    return true;
  }
}

/** A StaticMap the test moves while routers run: waitForEpoch resolves once set() reaches the epoch. */
export class SettableMap extends StaticMap {
  private waiters: (() => void)[] = [];
  set(shard: ShardId, zone: string, epoch: number): void {
    this.owners.set(shard, { zone, epoch });
    for (const w of this.waiters.splice(0)) w();
  }
  override waitForEpoch(shard: ShardId, epoch: number, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      const check = () => {
        if (this.entry(shard).epoch >= epoch) {
          clearTimeout(t);
          resolve(true);
        } else this.waiters.push(check);
      };
      check();
    });
  }
}

export function makeCtx(opts: { method?: string; url?: string; headers?: Record<string, string> } = {}): {
  ctx: RouteContext;
  res: FakeRes;
} {
  const url = opts.url ?? '/';
  const method = opts.method ?? 'GET';
  const res = new FakeRes();
  const ctx = newRouteContext(
    { url, method, headers: opts.headers ?? {} } as unknown as IncomingMessage,
    res as unknown as ServerResponse,
  );
  return { ctx, res };
}

export function makeDeps(topology: Topology, zone: string, map: RouterMap = new StaticMap()): RouterDeps {
  return {
    topology,
    zone,
    map,
    upstreams: undefined as never,
    clock: new ManualClock(),
    signer: new RequestSigner({ secret: Buffer.alloc(32, 7), zone, clock: new ManualClock() }),
    count() {},
    reject(ctx, status, code, message, extra) {
      const res = ctx.res as unknown as FakeRes;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: code, message, zone, ...extra }));
    },
  };
}

/** Runs one stage; says whether it passed the request on (next) or answered. */
export async function runStage(
  stage: Stage,
  ctx: RouteContext,
  deps: RouterDeps,
  config = deps.topology.config.router,
): Promise<{ next: boolean }> {
  const h = stage.create(config, deps);
  if (!h) return { next: true };
  let next = false;
  await h(ctx, async () => {
    next = true;
  });
  return { next };
}
