import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';

/** An upstream's answer: status and headers now, the body relayed into the client's response or dropped. */
export interface UpstreamReply {
  statusCode: number;
  /** Lower-case names; a repeated header is an array (set-cookie). */
  headers: Record<string, string | string[]>;
  /** Writes the body into `res` (its head already written), honouring backpressure, and ends it. */
  relayTo(res: ServerResponse): void;
  /** Reads the body to its end and drops it (the connection goes back to the pool). */
  dump(): Promise<void>;
}

/** Body bytes held before relayTo() is called; past this the upstream is paused. */
const HOLD_BYTES = 64 * 1024;

/**
 * An undici dispatch handler that writes the upstream's body straight into the client's
 * response: no Readable body stream and no pipe per request, which were the largest share of
 * a hop's instructions after node:http itself (undici's `request()` builds both). Bytes that
 * arrive before the stage calls relayTo() (it may still look at the status) are held.
 */
export class RelayHandler implements UpstreamReply {
  statusCode = 0;
  headers: Record<string, string | string[]> = {};
  /** Settles with this reply once the head is in, or with undici's error before it. */
  readonly head: Promise<UpstreamReply>;
  private settle!: { ok: (r: UpstreamReply) => void; fail: (e: Error) => void };
  private abort: ((e?: Error) => void) | undefined;
  private resume: (() => void) | undefined;
  private res: ServerResponse | undefined;
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** onData said "stop" while holding: relayTo() or dump() resumes the upstream. */
  private paused = false;
  private done = false;
  private failed: Error | undefined;
  private dropping: (() => void) | undefined;
  private started = false;

  constructor() {
    this.head = new Promise((ok, fail) => {
      this.settle = { ok, fail };
    });
  }

  onConnect(abort: (e?: Error) => void): void {
    this.abort = abort;
  }

  onHeaders(statusCode: number, raw: Buffer[] | string[] | null, resume: () => void): boolean {
    if (statusCode < 200) return true; // 1xx: the final head follows
    this.statusCode = statusCode;
    this.resume = resume;
    const h: Record<string, string | string[]> = {};
    if (raw)
      for (let i = 0; i + 1 < raw.length; i += 2) {
        // latin1 both ways: the bytes go back out exactly as they came
        const k = raw[i]!.toString('latin1').toLowerCase();
        const v = raw[i + 1]!.toString('latin1');
        const have = h[k];
        if (have === undefined) h[k] = v;
        else if (Array.isArray(have)) have.push(v);
        else h[k] = [have, v];
      }
    this.headers = h;
    this.started = true;
    this.settle.ok(this);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.dropping) return true;
    if (this.res) return this.res.write(chunk);
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    this.paused = this.heldBytes >= HOLD_BYTES;
    return !this.paused;
  }

  onComplete(): void {
    this.done = true;
    if (this.dropping) this.dropping();
    else this.res?.end();
  }

  onError(e: Error): void {
    if (!this.started) {
      this.started = true;
      this.settle.fail(e);
      return;
    }
    this.failed = e;
    if (this.dropping) this.dropping();
    else this.res?.destroy();
  }

  relayTo(res: ServerResponse): void {
    this.res = res;
    // the client went away: stop reading the upstream (its connection is not reused)
    res.once('close', () => {
      if (!this.done && !this.failed) this.abort?.();
    });
    if (this.failed) {
      res.destroy();
      return;
    }
    res.on('drain', () => this.resume?.());
    const held = this.held;
    this.held = [];
    for (const c of held) res.write(c);
    if (this.done) res.end();
    else if (this.paused) this.resume?.();
  }

  dump(): Promise<void> {
    this.held = [];
    if (this.done || this.failed) return Promise.resolve();
    return new Promise((resolve) => {
      this.dropping = resolve;
      this.resume?.();
    });
  }
}

/** Sends `opts` through `pool` and resolves with the answer's head (the body follows through the reply). */
export function dispatchRelay(pool: Dispatcher, opts: Dispatcher.DispatchOptions): Promise<UpstreamReply> {
  const h = new RelayHandler();
  try {
    pool.dispatch(opts, h as unknown as Dispatcher.DispatchHandler);
  } catch (e) {
    return Promise.reject(e);
  }
  return h.head;
}
