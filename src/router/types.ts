import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../core/clock.ts';
import type { ShardId, ShardMapView, ShardOwner } from '../shardmap/index.ts';
import type { ResourceConfig, Topology, TopologyConfig } from '../topology/index.ts';
import type { RequestSigner } from '../trust/index.ts';
import type { Upstreams } from './upstreams.ts';

/** The `router:` config section. */
export type RouterConfig = TopologyConfig['router'];

/** The shard-map view a router needs (a zone's own `ShardMap` satisfies it). */
export type RouterMap = Pick<ShardMapView, 'entry' | 'canWrite' | 'waitForEpoch' | 'ready'>;

/** A resource the request's path matched. */
export interface MatchedResource extends ResourceConfig {
  name: string;
}

/** Per-request state the stages enrich, then act on (enrich first, decide later). */
export interface RouteContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly method: string;
  /** GET, HEAD, OPTIONS: served by replicas where the resource allows it. */
  readonly safe: boolean;
  readonly path: string;
  /** Raw query string (without '?'), '' when none. */
  readonly query: string;
  resource: MatchedResource | undefined;
  /** The primary key (hashed), when one was found. */
  key: string | undefined;
  /** Where the key came from, e.g. 'header:x-user-id', 'mapping:order', 'geo:north-china'. */
  keySource: string | undefined;
  shard: ShardId | undefined;
  /** A zone named by the key itself (session ids), for `local` resources. */
  keyZone: string | undefined;
  owner: ShardOwner | undefined;
  /** The zone that should answer. */
  target: string | undefined;
  /** Why target was chosen: owner, core-write, local-read, key-zone, default. */
  why: string;
  /** Forwards so far (from x-multizone-hop). */
  hop: number;
  /** The epoch the previous router routed by (x-multizone-epoch), if forwarded. */
  senderEpoch: number | undefined;
  fromZone: string | undefined;
  /** A local 404 may be retried at the owner zone. */
  secondRead: boolean;
  /** Extra response headers (routing cookie, …). */
  responseHeaders: Record<string, string>;
  /** The zone whose valid signature the request carries (zone-auth); undefined for a public client. */
  trusted: string | undefined;
  /** The request body, once a stage had to read it (to verify or sign it); sent instead of the stream. */
  body: Buffer | undefined;
}

/** What the router needs for a zone whose app is an external HTTP service. */
export interface ExternalAppDeps {
  /** Signs every request to the app with the app's key (`zones.<z>.app.keyFile`), not the cluster secret. */
  signer: RequestSigner;
  /** The zone's own watch over the app's health path: false after `health.fall` failed probes. */
  up(): boolean;
}

/** What stages may use; built once per zone. */
export interface RouterDeps {
  topology: Topology;
  zone: string;
  map: RouterMap;
  upstreams: Upstreams;
  clock: Clock;
  /** Signs this zone's requests to other zones and verifies theirs (the cluster secret). */
  signer: RequestSigner;
  /** Set when the zone's app is an external service (`zones.<z>.app`): see ExternalAppDeps. */
  app?: ExternalAppDeps;
  /** True when this zone cannot reach `other` (a drill's partition). */
  cut?(from: string, to: string): boolean;
  count(route: string): void;
  reject(ctx: RouteContext, status: number, code: string, message: string, extra?: Record<string, unknown>): void;
}

/**
 * A chain handler: answer, or call next exactly once (and return what it returns). Stages
 * that only enrich are plain functions returning next(), not `async`: no promise per stage.
 */
export type Handler = (ctx: RouteContext, next: () => Promise<void>) => Promise<void> | void;

/** A named stage, created once per zone; null = not enabled by this config. */
export interface Stage {
  name: string;
  create(config: RouterConfig, deps: RouterDeps): Handler | null;
}
