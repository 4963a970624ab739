import type { GeoDb } from '../../geo/index.ts';
import type { LatencyAggregator, SpeedSample } from '../latency.ts';
import { type HandlerContext, readLimited, replyError, replyJson } from '../reply.ts';
import { verifySignature } from '../sign.ts';

/** Largest report body, and most samples in one report. */
const MAX_BODY = 64 * 1024;
export const MAX_SAMPLES = 200;

export interface ReportDeps {
  aggregator: LatencyAggregator;
  geo: GeoDb;
  accounts: Readonly<Record<string, string>>;
  /** Zones known by name. */
  zones: ReadonlySet<string>;
  /** The one zone an address belongs to, or null when unknown or shared by several zones. */
  zoneOfIp: (ip: string) => string | null;
  wallTime: () => number;
  onSignatureRejected: (code: string) => void;
  onSamples: (n: number) => void;
}

/**
 * `POST /report` with JSON `{"reports":[{"zone"?,"ip"?,"rtt_ms","ok"?}…]}`: the connect
 * RTTs a client measured. When accounts are configured the body must be signed:
 * `?account=&t=&s=` with s = hex HMAC-SHA256(secret, `${body}-${t}`) over the exact body text.
 */
export function createReportHandler(deps: ReportDeps): (ctx: HandlerContext) => Promise<void> {
  const accountIds = Object.keys(deps.accounts);
  return async (ctx) => {
    const { req, res, params } = ctx;
    const type = String(req.headers['content-type'] ?? '').toLowerCase();
    if (!type.startsWith('application/json'))
      return replyError(res, 415, 'UnsupportedMediaType', 'POST JSON (content-type application/json)');
    const raw = await readLimited(req, MAX_BODY);
    if (!raw)
      return replyError(res, 413, 'PayloadTooLarge', `a report is at most ${MAX_BODY} bytes`, { connection: 'close' });
    const text = raw.toString('utf8');
    if (accountIds.length > 0) {
      const t = params.get('t');
      const s = params.get('s');
      if (!t || !s) {
        deps.onSignatureRejected('SignatureRequired');
        return replyError(res, 403, 'SignatureRequired', 'reports must be signed (account=, t=, s=)');
      }
      const account = params.get('account') ?? (accountIds.length === 1 ? accountIds[0]! : '');
      const secret = Object.hasOwn(deps.accounts, account) ? deps.accounts[account] : undefined;
      if (secret === undefined) {
        deps.onSignatureRejected('AccountUnknown');
        return replyError(res, 403, 'AccountUnknown', 'no such account');
      }
      const v = verifySignature(secret, `${text}-${t}`, t, s, deps.wallTime());
      if (v !== 'ok') {
        deps.onSignatureRejected(v);
        return replyError(res, 403, v, 'signature refused');
      }
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return replyError(res, 400, 'InvalidJson', 'the body is not JSON');
    }
    const list = (body as { reports?: unknown })?.reports;
    if (!Array.isArray(list) || list.length > MAX_SAMPLES)
      return replyError(res, 400, 'InvalidReport', `reports must be an array of at most ${MAX_SAMPLES} samples`);
    const samples: SpeedSample[] = [];
    let rejected = 0;
    for (const r of list as Record<string, unknown>[]) {
      const rtt = r?.rtt_ms;
      const ok = r?.ok === undefined ? true : r.ok === true;
      let zone: string | null = typeof r?.zone === 'string' && deps.zones.has(r.zone) ? r.zone : null;
      if (!zone && typeof r?.ip === 'string') zone = deps.zoneOfIp(r.ip);
      if (!zone || typeof rtt !== 'number' || !Number.isFinite(rtt) || rtt < 0 || rtt > 60_000) {
        rejected++;
        continue;
      }
      samples.push({ zone, rttMs: rtt, ok });
    }
    if (samples.length) {
      deps.aggregator.add(ctx.client, deps.geo.lookup(ctx.client).isp, samples);
      deps.onSamples(samples.length);
    }
    replyJson(res, 200, { accepted: samples.length, rejected });
  };
}
