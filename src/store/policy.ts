import type { Topology } from '../topology/index.ts';
import { storeErrors } from './errors.ts';
import type { WriteFence } from './fence.ts';
import type { Candidate, ResourceClass } from './types.ts';
import { type ConflictPolicy, type MergeFn, stableJson } from './versions.ts';

/**
 * Built-in merge functions for `conflict: merge:NAME`.
 * - `union`: array values become the sorted union of every candidate's elements.
 */
export const BUILTIN_MERGES: Record<string, MergeFn> = {
  union: (cs: readonly Candidate[]) => {
    const seen = new Map<string, unknown>();
    for (const c of cs)
      if (!c.deleted && Array.isArray(c.value)) for (const x of c.value as unknown[]) seen.set(stableJson(x), x);
    return { value: [...seen.keys()].sort().map((k) => seen.get(k)), deleted: false };
  },
};

/** What the store needs to know about resources: class and conflict policy. */
export interface ResourcePolicies {
  classOf(resource: string): ResourceClass;
  policyOf(resource: string): ConflictPolicy;
}

/**
 * Reads each resource's class and `conflict:` policy from the topology. owner-wins asks the
 * fence for a sharded record's owner; a global record's owner is the core zone. An unknown
 * merge name fails here, at startup.
 */
export function resourcePolicies(
  topology: Topology,
  fence: WriteFence,
  merges: Record<string, MergeFn> = {},
): ResourcePolicies {
  const fns = { ...BUILTIN_MERGES, ...merges };
  const policies = new Map<string, ConflictPolicy>();
  for (const [name, r] of Object.entries(topology.config.resources)) {
    const c = r.conflict;
    if (c === 'lock') policies.set(name, { kind: 'lock' });
    else if (c === 'owner-wins')
      policies.set(name, {
        kind: 'owner-wins',
        owner: r.class === 'global' ? () => topology.coreZone : (s) => fence.owner(s),
      });
    else {
      const mergeName = c.slice('merge:'.length);
      const fn = fns[mergeName];
      if (!fn)
        throw storeErrors.ERR_STORE_UNKNOWN_MERGE(
          `resource ${name}: unknown merge function "${mergeName}" (known: ${Object.keys(fns).join(', ')})`,
        );
      policies.set(name, { kind: 'merge', name: mergeName, fn });
    }
  }
  return {
    classOf(resource) {
      const r = topology.config.resources[resource];
      if (!r)
        throw storeErrors.ERR_STORE_UNKNOWN_RESOURCE(
          `unknown resource "${resource}" (declared: ${Object.keys(topology.config.resources).join(', ')})`,
        );
      return r.class;
    },
    policyOf: (resource) => policies.get(resource) ?? { kind: 'lock' },
  };
}
