import { type ControlApi, controlErrors, readParams } from '../control/index.ts';
import type { Announcer } from './announcer.ts';
import { anycastErrors } from './errors.ts';

/**
 * Anycast's control routes: `GET /api/anycast` (each local zone's prefixes, actions, reasons
 * and BGP sessions) and `POST /api/anycast/drain {zone, drain}` (an operator's drain: the zone
 * withdraws, or prepends with `onDown: prepend`, until undrained with `drain: false`).
 */
export function registerAnycastRoutes(control: ControlApi, announcers: ReadonlyMap<string, Announcer>): void {
  control.route('GET', '/api/anycast', () => ({
    enabled: announcers.size > 0,
    zones: [...announcers.values()].map((a) => a.state()),
  }));
  control.route('POST', '/api/anycast/drain', async (req, url) => {
    const p = await readParams(req, url);
    if (!p.zone) throw controlErrors.ERR_CONTROL_BAD_REQUEST('need a zone: {"zone":"NAME","drain":"true|false"}');
    const a = announcers.get(p.zone);
    if (!a)
      throw anycastErrors.ERR_ANYCAST_NOT_CONFIGURED(
        `anycast: zone "${p.zone}" announces nothing from this process (local: ${[...announcers.keys()].join(', ') || 'none'})`,
      );
    const on = p.drain === undefined || p.drain === 'true' || p.drain === '1';
    await a.drain(on);
    return a.state();
  });
}
