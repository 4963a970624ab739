import type { ControlApi } from '../../control/index.ts';
import type { ZoneLoads } from './zone-loads.ts';

/** GET /api/load: every zone's load, capacity and shed share as this process steers by them. */
export function registerLoadRoutes(control: ControlApi, loads: ZoneLoads): void {
  control.route('GET', '/api/load', () => loads.report());
}
