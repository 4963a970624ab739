/**
 * How the CLI finds and calls a running cluster's control API. A control API that cannot be
 * reached is one line naming the URL tried, the cause and how to point elsewhere
 * (ERR_CLI_CONTROL_UNREACHABLE), never a stack trace.
 */
import { request } from 'undici';
import { loadTopology, parseHostPort } from '../topology/index.ts';
import { cliErrors } from './errors.ts';

/** The control API URL: --control, else control.listen of --config (default: the bundled topology). */
export function controlUrl(values: { control?: string | undefined; config?: string | undefined }): string {
  if (values.control) return values.control.replace(/\/+$/, '');
  const hp = parseHostPort(loadTopology(values.config).config.control.listen);
  // a control API listening on every address is reached on loopback
  const host = hp.host === '0.0.0.0' ? '127.0.0.1' : hp.host === '::' ? '[::1]' : hp.host;
  return `http://${host}:${hp.port}`;
}

/**
 * The innermost reason of a failed connection, as people know it: `connect ECONNREFUSED
 * 127.0.0.1:7070`, `getaddrinfo ENOTFOUND x`, rather than fetch's `fetch failed`.
 */
export function connectCause(e: unknown): string {
  let c = e as { cause?: unknown; message?: string; code?: string; errors?: unknown[] } | undefined;
  for (let i = 0; i < 8 && c?.cause; i++) c = c.cause as typeof c;
  if (c?.errors?.length) c = c.errors[0] as typeof c; // an AggregateError: every address failed
  const msg = c?.message || '';
  if (c?.code && !msg.includes(c.code)) return msg ? `${c.code}: ${msg}` : c.code;
  return msg || String(e);
}

/** A control call's answer; `json` is undefined when the body was not JSON. */
export interface ControlReply {
  status: number;
  json: unknown;
}

/**
 * Calls `base + path`; throws ERR_CLI_CONTROL_UNREACHABLE when nothing answers there.
 * `headersTimeout` for calls that take long (a planned failover waits for replication).
 */
export async function controlCall(
  base: string,
  path: string,
  method: 'GET' | 'POST',
  body?: unknown,
  o: { headersTimeout?: number } = {},
): Promise<ControlReply> {
  const url = `${base}${path}`;
  let r: Awaited<ReturnType<typeof request>>;
  try {
    r = await request(url, {
      method,
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(o.headersTimeout ? { headersTimeout: o.headersTimeout } : {}),
    });
  } catch (e) {
    throw unreachable(base, e);
  }
  const text = await r.body.text().catch(() => '');
  try {
    return { status: r.statusCode, json: JSON.parse(text) };
  } catch {
    return { status: r.statusCode, json: undefined };
  }
}

/** ERR_CLI_CONTROL_UNREACHABLE for `base`, with the cause and where to point instead. */
export function unreachable(base: string, e: unknown): Error {
  return cliErrors.ERR_CLI_CONTROL_UNREACHABLE(
    `cannot reach the control API at ${base} (${connectCause(e)}); is the cluster up (multizone up)? ` +
      'point elsewhere with --control URL or --config FILE',
    { cause: e },
  );
}

/** The reply's error as `message (CODE)`, for a control call that did not answer 200. */
export function replyProblem(r: ControlReply, base: string): string {
  const j = r.json as { error?: unknown; message?: unknown } | undefined;
  if (j && typeof j.error === 'string') return `${typeof j.message === 'string' ? j.message : 'refused'}\n(${j.error})`;
  return `${base} answered HTTP ${r.status} without a control API error; is it a multizone control API?`;
}
