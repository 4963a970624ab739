import { Counter, Gauge, type Registry } from 'prom-client';
import type { BgpSession } from './bird-conf.ts';
import type { AnycastAction } from './decision.ts';

/** Anycast's metrics: what each zone announces, its BGP sessions, changes and speaker failures. */
export interface AnycastMetrics {
  setPrefix(zone: string, prefix: string, action: AnycastAction): void;
  changed(zone: string, prefix: string, action: AnycastAction): void;
  setSessions(zone: string, sessions: readonly BgpSession[]): void;
  failed(zone: string): void;
}

/** Registers mz_anycast_* on `reg` (once per process; every local zone shares them). */
export function anycastMetrics(reg: Registry): AnycastMetrics {
  const announced = new Gauge({
    name: 'mz_anycast_announced',
    help: 'Whether the zone announces the prefix: 1 announced (prepended or not), 0 withdrawn',
    labelNames: ['zone', 'prefix'],
    registers: [reg],
  });
  const prepended = new Gauge({
    name: 'mz_anycast_prepended',
    help: 'Whether the zone announces the prefix with its down prepends (onDown: prepend)',
    labelNames: ['zone', 'prefix'],
    registers: [reg],
  });
  const changes = new Counter({
    name: 'mz_anycast_changes_total',
    help: 'Changes of a prefix’s action in a zone, by the new action',
    labelNames: ['zone', 'prefix', 'action'],
    registers: [reg],
  });
  const session = new Gauge({
    name: 'mz_anycast_bgp_session_up',
    help: 'Whether the zone’s BGP session to a neighbour is established (1) or not (0)',
    labelNames: ['zone', 'session'],
    registers: [reg],
  });
  const errors = new Counter({
    name: 'mz_anycast_speaker_errors_total',
    help: 'Failures to apply a plan to the zone’s BIRD or to read its sessions',
    labelNames: ['zone'],
    registers: [reg],
  });
  return {
    setPrefix(zone, prefix, action) {
      announced.set({ zone, prefix }, action === 'withdraw' ? 0 : 1);
      prepended.set({ zone, prefix }, action === 'prepend' ? 1 : 0);
    },
    changed: (zone, prefix, action) => changes.inc({ zone, prefix, action }),
    setSessions(zone, sessions) {
      for (const s of sessions) session.set({ zone, session: s.name }, s.established ? 1 : 0);
    },
    failed: (zone) => errors.inc({ zone }),
  };
}
