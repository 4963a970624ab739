/** Kv prefix of the load records: `load.<zone>.<process id>`. */
export const LOAD_PREFIX = 'load.';

/** What a process publishes for one zone it runs: its listeners' requests/s and when it measured them. */
export interface LoadRecord {
  edge: number;
  router: number;
  /** Wall ms of the measurement; receivers judge freshness by it. */
  at: number;
}

export function loadKey(zone: string, processId: string): string {
  return `${LOAD_PREFIX}${zone}.${processId}`;
}

/** `load.<zone>.<process>` → its parts, or null for a key of another shape. */
export function parseLoadKey(key: string): { zone: string; process: string } | null {
  if (!key.startsWith(LOAD_PREFIX)) return null;
  const parts = key.slice(LOAD_PREFIX.length).split('.');
  if (parts.length !== 2 || !parts[0] || !parts[1]) return null;
  return { zone: parts[0], process: parts[1] };
}

export function encodeLoad(r: LoadRecord): string {
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return JSON.stringify({ edge: r2(r.edge), router: r2(r.router), at: r.at });
}

/** A record read from the Kv, or null when it is not one: never trusted blindly. */
export function decodeLoad(text: string): LoadRecord | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (!v || typeof v !== 'object') return null;
  const { edge, router, at } = v as Record<string, unknown>;
  const ok = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0;
  if (!ok(edge) || !ok(router) || typeof at !== 'number' || !Number.isFinite(at)) return null;
  return { edge, router, at };
}
