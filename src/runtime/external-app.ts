/**
 * A zone whose app is an external HTTP service (`zones.<z>.app`): multizone starts nothing for
 * it, reads the key its router signs the app's requests with, and watches the app's health
 * path from the zone's own process. While the app is down the zone's `/_mz/health` answers
 * 503 and the zone stops renewing its lease, so the failover controller moves its shards to
 * its backups (as it would for a dead zone); when the app is back the lease is renewed again
 * and the zone can fail back.
 */
import { readFileSync } from 'node:fs';
import { configInvalid } from '../core/config.ts';
import { AppWatch } from '../health/index.ts';
import type { Zone } from '../topology/index.ts';
import { MIN_SECRET_BYTES, RequestSigner } from '../trust/index.ts';
import type { ExternalAppRuntime, Services, ZoneServices } from './services.ts';

/** The app key in `zones.<z>.app.keyFile` (hex, ≥ 32 bytes); a missing or bad file stops startup with its config location. */
export function readAppKey(s: Pick<Services, 'topology'>, zone: Zone): Buffer {
  const file = zone.external!.keyFile;
  const at = ['zones', zone.name, 'app', 'keyFile'];
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw configInvalid([
      s.topology.problem(
        at,
        `cannot read the app key ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); write one with \`openssl rand -hex 32 > ${file}\` and give the app the same file`,
      ),
    ]);
  }
  const hex = text.trim();
  if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length % 2 !== 0 || hex.length < 2 * MIN_SECRET_BYTES)
    throw configInvalid([
      s.topology.problem(
        at,
        `${file} must hold at least ${2 * MIN_SECRET_BYTES} hex characters (${MIN_SECRET_BYTES} random bytes), e.g. from \`openssl rand -hex 32\``,
      ),
    ]);
  return Buffer.from(hex, 'hex');
}

/**
 * Starts the zone's watch over its external app (before its router, which answers by it).
 * `lease` is called with false when the app goes down and true when it is back.
 */
export function startExternalApp(s: Services, zone: Zone, here: ZoneServices): ExternalAppRuntime {
  const ext = zone.external!;
  const h = s.topology.config.health;
  const signer = new RequestSigner({ secret: readAppKey(s, zone), zone: zone.name, clock: s.clock });
  const watch = new AppWatch({
    zone: zone.name,
    host: ext.host,
    port: ext.port,
    path: ext.health,
    clock: s.clock,
    intervalMs: h.intervalMs,
    timeoutMs: h.timeoutMs,
    rise: h.rise,
    fall: h.fall,
    onChange: (up) => {
      const keeper = here.view?.keeper;
      if (up) {
        s.logger.info({ zone: zone.name, app: ext.url }, `${zone.name}: the app answers its health path again`);
        // a zone the drill killed stays down until it is restored
        if (here.killed !== true) void keeper?.start().catch(() => {});
      } else {
        s.logger.warn(
          { zone: zone.name, app: ext.url, error: watch.lastError },
          `${zone.name}: the app fails its health path; the zone answers 503 and gives up its lease`,
        );
        keeper?.stop();
      }
      void s.failover.audit
        .append({
          action: 'verdict',
          zone: zone.name,
          reason: up ? `app ${ext.url} is up again` : `app ${ext.url} is down (${watch.lastError?.code ?? 'failed'})`,
        })
        .catch(() => {});
    },
  });
  watch.start();
  return { signer, watch, up: () => watch.up };
}
