import { Redis } from 'ioredis';
import { isPlatformError } from '../core/errors.ts';
import { checkId, checkTtl, encodeValue } from './check.ts';
import { sessionErrors } from './errors.ts';
import type { SessionStore } from './types.ts';

export interface RedisSessionStoreOptions {
  /** redis://[user:pass@]host:port[/db] */
  url: string;
  /** Key prefix; a zone's sessions live under `<prefix><id>` (ids already name their zone). */
  prefix?: string;
  /** How long connecting (and each reconnect attempt) may take, ms. */
  connectTimeoutMs?: number;
  /** How long one command may take before it fails with ERR_SESSION_UNAVAILABLE, ms. */
  commandTimeoutMs?: number;
}

/** The URL without its password, for messages. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

/**
 * Sessions in Redis (distributed mode): one key per session with Redis's own expiry
 * (SET … PX), sliding reads with GETEX … PX (Redis ≥ 6.2) in one round trip. Commands fail
 * fast while Redis is unreachable (no offline queue): a session read that cannot be answered
 * is ERR_SESSION_UNAVAILABLE, never a hang, and the caller decides (the accounts app
 * answers 503). ioredis keeps reconnecting in the background.
 */
export class RedisSessionStore implements SessionStore {
  private closed = false;

  private constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly where: string,
  ) {}

  /** Connects (or throws ERR_SESSION_UNAVAILABLE naming the URL). */
  static async open(opts: RedisSessionStoreOptions): Promise<RedisSessionStore> {
    const where = redact(opts.url);
    const redis = new Redis(opts.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: opts.connectTimeoutMs ?? 2000,
      commandTimeout: opts.commandTimeoutMs ?? 2000,
      // keep trying in the background after a drop, at most every 2 s
      retryStrategy: (times) => Math.min(times * 100, 2000),
    });
    // without a listener ioredis prints every reconnect failure; failures surface per command.
    // The first one is kept: connect() itself only says "Connection is closed."
    let first: Error | undefined;
    redis.on('error', (e: Error) => {
      first ??= e;
    });
    try {
      await redis.connect();
      const info = await redis.info('server');
      const version = /redis_version:(\d+)\.(\d+)/.exec(info);
      if (version && (Number(version[1]) < 6 || (Number(version[1]) === 6 && Number(version[2]) < 2)))
        throw sessionErrors.ERR_SESSION_UNAVAILABLE(
          `Redis at ${where} is ${version[1]}.${version[2]}; sessions need 6.2 or later (GETEX)`,
        );
    } catch (e) {
      redis.disconnect();
      if (isPlatformError(e)) throw e;
      throw sessionErrors.ERR_SESSION_UNAVAILABLE(
        `cannot reach Redis at ${where}: ${first?.message || (e as Error).message || String(e)}`,
        { cause: e, details: { url: where } },
      );
    }
    return new RedisSessionStore(redis, opts.prefix ?? 'mz:session:', where);
  }

  async put(id: string, value: unknown, ttlMs: number): Promise<void> {
    this.open();
    checkId(id);
    checkTtl(ttlMs);
    const json = encodeValue(value);
    await this.run('SET', () => this.redis.set(this.prefix + id, json, 'PX', ttlMs));
  }

  async get(id: string, opts: { slideMs?: number } = {}): Promise<unknown> {
    this.open();
    checkId(id);
    const slide = opts.slideMs;
    if (slide !== undefined) checkTtl(slide, 'slideMs');
    const key = this.prefix + id;
    const json = await this.run(slide === undefined ? 'GET' : 'GETEX', () =>
      slide === undefined ? this.redis.get(key) : this.redis.getex(key, 'PX', slide),
    );
    return json === null ? undefined : JSON.parse(json);
  }

  async delete(id: string): Promise<boolean> {
    this.open();
    checkId(id);
    return (await this.run('DEL', () => this.redis.del(this.prefix + id))) > 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  private open(): void {
    if (this.closed) throw sessionErrors.ERR_SESSION_CLOSED('the session store is closed');
  }

  private async run<T>(command: string, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      throw sessionErrors.ERR_SESSION_UNAVAILABLE(`Redis ${command} at ${this.where} failed: ${(e as Error).message}`, {
        cause: e,
        details: { url: this.where, command },
      });
    }
  }
}
