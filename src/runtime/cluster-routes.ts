import { controlErrors } from '../control/index.ts';
import type { Foundation } from './services.ts';

/**
 * The foundation's control routes: topology, steering for debugging. GET /api/endpoints and
 * GET /api/cluster come with the process registry (registry.ts), once the control Kv is open.
 */
export function registerClusterRoutes(f: Foundation): void {
  const { control, topology, steering, state } = f;
  control.route('GET', '/api/topology', () => ({
    name: topology.config.name,
    apex: topology.config.apex,
    coreZone: topology.coreZone,
    regions: topology.config.regions,
    // an app's environment may hold secrets: its names only
    zones: topology.zones.map((z) =>
      z.external?.run
        ? { ...z, external: { ...z.external, run: { ...z.external.run, env: Object.keys(z.external.run.env) } } }
        : z,
    ),
    services: topology.config.services,
    policies: topology.config.policies,
    shards: { count: topology.config.shards.count, fences: Object.keys(topology.config.shards.fences) },
    resources: topology.config.resources,
    /** The zones' application (`echo` or `accounts`): `multizone drill` drives the matching workload. */
    app: f.app,
    /** What the external app is (`zones.<z>.app.name`, e.g. `delivery`), when the topology says. */
    appName: f.localZones.map((z) => topology.zone(z).external?.name).find((n) => n !== undefined),
  }));
  control.route('GET', '/api/steer', (_req, url) => {
    const service = url.searchParams.get('service');
    const ip = url.searchParams.get('ip');
    if (!service || !ip) throw controlErrors.ERR_CONTROL_BAD_REQUEST('need ?service=NAME&ip=ADDRESS[/PREFIX]');
    const fam = url.searchParams.get('family') ?? '4';
    if (fam !== '4' && fam !== '6') throw controlErrors.ERR_CONTROL_BAD_REQUEST(`family must be 4 or 6, not "${fam}"`);
    const family = fam === '6' ? 6 : 4;
    const a = steering.decide({ service, client: ip, family }, state);
    return { ...a, down: state.downEndpoints() };
  });
}
