import type { Timer } from '../core/clock.ts';
import { sdkErrors } from './errors.ts';
import { type HostAnswer, parseAnswer } from './parse-answer.ts';
import type { ResolverSettings } from './resolver-settings.ts';
import type { ResolverStats } from './resolver-types.ts';
import { hmacSha256Hex } from './sign.ts';

/** Fetches url and parses the /d answer; ERR_SDK_HTTP on a status other than 200. */
async function fetchAnswer(
  s: ResolverSettings,
  url: string,
  signal: AbortSignal,
  hosts: readonly string[],
  serverUrl: string,
): Promise<Map<string, HostAnswer>> {
  const r = await s.fetch(url, { signal, headers: { accept: 'application/json' } });
  const text = await r.text();
  if (r.status !== 200)
    throw sdkErrors.ERR_SDK_HTTP(`sdk: ${serverUrl} answered HTTP ${r.status}`, {
      details: { status: r.status },
    });
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    throw sdkErrors.ERR_SDK_BAD_ANSWER('sdk: bad /d answer: not JSON', { cause: e });
  }
  return parseAnswer(body, hosts);
}

/**
 * GETs one HTTPDNS server with a timeout (the per-server one, or what is left of the overall
 * budget); throws on HTTP errors and bad answers. Counts the request in stats.
 */
export async function askServer(
  s: ResolverSettings,
  stats: ResolverStats,
  serverUrl: string,
  hosts: readonly string[],
  budgetMs: number,
): Promise<Map<string, HostAnswer>> {
  const hostParam = hosts.join(',');
  let path = `/d?host=${encodeURIComponent(hostParam)}&query=${s.query}`;
  if (s.secret) {
    // signed only when there is a secret: unsigned, the request leaves without a microtask's delay
    const t = Math.floor(s.clock.wallTime() / 1000) + s.signTtl;
    const sig = await hmacSha256Hex(s.secret, `${hostParam}-${t}`);
    path = `/sign_d?host=${encodeURIComponent(hostParam)}&query=${s.query}&t=${t}&s=${sig}`;
    if (s.account) path += `&account=${encodeURIComponent(s.account)}`;
  }
  if (s.clientIp) path += `&ip=${encodeURIComponent(s.clientIp)}`;
  const ctl = new AbortController();
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = s.clock.setTimer(Math.min(s.timeoutMs, budgetMs), () => {
      ctl.abort();
      reject(sdkErrors.ERR_SDK_HTTP(`sdk: ${serverUrl} timed out`));
    });
  });
  try {
    stats.requests++;
    const work = fetchAnswer(s, `${serverUrl}${path}`, ctl.signal, hosts, serverUrl);
    work.catch(() => {}); // the timeout may win; don't leave this rejection unhandled
    return await Promise.race([work, timeout]);
  } finally {
    timer?.cancel();
  }
}
