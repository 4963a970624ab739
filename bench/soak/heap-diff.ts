/**
 * Compares heap snapshots (`--snapshots` of the soak, or any .heapsnapshot): objects counted
 * by constructor (closures by function name, strings together), and what grew between the
 * first and the last file.
 *
 *   node --max-old-space-size=4096 --import ./bin/ts.mjs bench/soak/heap-diff.ts A.heapsnapshot B.heapsnapshot [--top 30]
 *   … heap-diff.ts A B --retainers Object [--depth 4]   where the new Objects of B hang from
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/** Count and self size per group of one snapshot. */
export type Census = Map<string, { count: number; bytes: number }>;

/** The group a node is counted in: its constructor, `closure NAME`, `(string)`, `(array) NAME`, or `(TYPE)`. */
export function groupOf(type: string, name: string): string {
  switch (type) {
    case 'object':
      return name.split(' ')[0] ?? name;
    case 'closure':
      return `closure ${name || '(anonymous)'}`;
    case 'string':
    case 'concatenated string':
    case 'sliced string':
      return '(string)';
    case 'array':
      return `(array) ${name}`;
    default:
      return `(${type})`;
  }
}

/** Counts the nodes of a parsed snapshot by group. */
export function census(s: Snapshot): Census {
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const out: Census = new Map();
  for (let i = 0; i < s.nodes.length; i += width) {
    const g = groupOf(types[s.nodes[i + iType]!] ?? '?', s.strings[s.nodes[i + iName]!] ?? '');
    const e = out.get(g);
    if (e) {
      e.count++;
      e.bytes += s.nodes[i + iSize]!;
    } else out.set(g, { count: 1, bytes: s.nodes[i + iSize]! });
  }
  return out;
}

/** Groups by how much they grew from a to b (bytes, then count), largest first. */
export function growth(a: Census, b: Census): { group: string; count: [number, number]; bytes: [number, number] }[] {
  const groups = new Set([...a.keys(), ...b.keys()]);
  return [...groups]
    .map((group) => ({
      group,
      count: [a.get(group)?.count ?? 0, b.get(group)?.count ?? 0] as [number, number],
      bytes: [a.get(group)?.bytes ?? 0, b.get(group)?.bytes ?? 0] as [number, number],
    }))
    .sort(
      (x, y) =>
        y.bytes[1] - y.bytes[0] - (x.bytes[1] - x.bytes[0]) || y.count[1] - y.count[0] - (x.count[1] - x.count[0]),
    );
}

/**
 * Where the objects of `group` that are in `b` but not in `a` (node ids are stable within one
 * process) hang from: counted by retainer path, `depth` retainers up (weak edges skipped).
 */
export function retainers(a: Snapshot, b: Snapshot, group: string, depth: number): Map<string, number> {
  const nf = b.snapshot.meta.node_fields;
  const w = nf.length;
  const ef = b.snapshot.meta.edge_fields;
  const ew = ef.length;
  const types = b.snapshot.meta.node_types[0];
  const etypes = b.snapshot.meta.edge_types[0];
  const [iType, iName, iId, iEdges] = ['type', 'name', 'id', 'edge_count'].map((f) => nf.indexOf(f)) as [
    number,
    number,
    number,
    number,
  ];
  const [eType, eName, eTo] = ['type', 'name_or_index', 'to_node'].map((f) => ef.indexOf(f)) as [
    number,
    number,
    number,
  ];
  const old = new Set<number>();
  const aw = a.snapshot.meta.node_fields.length;
  const aId = a.snapshot.meta.node_fields.indexOf('id');
  for (let i = 0; i < a.nodes.length; i += aw) old.add(a.nodes[i + aId]!);
  const n = b.nodes.length / w;
  // one retainer per node (the first strong edge found), enough to see where growth hangs
  const parent = new Int32Array(n).fill(-1);
  const via = new Array<string>(n);
  let e = 0;
  for (let i = 0; i < n; i++) {
    const count = b.nodes[i * w + iEdges]!;
    for (let k = 0; k < count; k++, e += ew) {
      const t = etypes[b.edges[e + eType]!];
      if (t === 'weak' || t === 'shortcut') continue;
      const to = b.edges[e + eTo]! / w;
      if (parent[to] !== -1) continue;
      parent[to] = i;
      const nm = b.edges[e + eName]!;
      // element indexes and a Map's table slots (".46103") would make every path its own
      const name = t === 'element' || t === 'hidden' ? '' : (b.strings[nm] ?? '?');
      via[to] = name === '' || /^\.?\d+$/.test(name) ? '[i]' : name;
    }
  }
  const label = (i: number) =>
    groupOf(types[b.nodes[i * w + iType]!] ?? '?', b.strings[b.nodes[i * w + iName]!] ?? '').slice(0, 40);
  const out = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    if (label(i) !== group || old.has(b.nodes[i * w + iId]!)) continue;
    const path: string[] = [];
    let at = i;
    for (let d = 0; d < depth && parent[at] !== -1; d++) {
      const edgeName = via[at]!;
      at = parent[at]!;
      path.push(`${label(at)}.${edgeName}`);
    }
    const key = path.join(' <- ');
    out.set(key, (out.get(key) ?? 0) + 1);
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      top: { type: 'string', default: '30' },
      retainers: { type: 'string' },
      depth: { type: 'string', default: '4' },
    },
  });
  if (values.retainers && positionals.length >= 2) {
    const [fa, fb] = [positionals[0]!, positionals[positionals.length - 1]!];
    const read = (f: string) => JSON.parse(readFileSync(f, 'utf8')) as Snapshot;
    const r = retainers(read(fa), read(fb), values.retainers, Number(values.depth));
    const rows = [...r].sort((x, y) => y[1] - x[1]).slice(0, Number(values.top));
    console.log(`new ${values.retainers} in ${fb} (not in ${fa}), by retainer path:`);
    for (const [path, c] of rows) console.log(`${String(c).padStart(8)}  ${path}`);
    process.exit(0);
  }
  if (positionals.length < 2) {
    console.error('usage: heap-diff.ts A.heapsnapshot B.heapsnapshot [C…] [--top N]');
    process.exit(64);
  }
  const top = Number(values.top);
  const censuses = positionals.map((f) => {
    const c = census(JSON.parse(readFileSync(f, 'utf8')) as Snapshot);
    let n = 0;
    let bytes = 0;
    for (const e of c.values()) {
      n += e.count;
      bytes += e.bytes;
    }
    console.log(`${f}: ${n} objects, ${(bytes / 1048576).toFixed(1)} MB self size`);
    return c;
  });
  const rows = growth(censuses[0]!, censuses[censuses.length - 1]!).slice(0, top);
  console.log(`\n${'group'.padEnd(48)} ${'count'.padStart(22)} ${'self size KB'.padStart(24)}`);
  for (const r of rows)
    console.log(
      `${r.group.slice(0, 48).padEnd(48)} ${`${r.count[0]} → ${r.count[1]}`.padStart(22)} ${`${(r.bytes[0] / 1024).toFixed(0)} → ${(r.bytes[1] / 1024).toFixed(0)}`.padStart(24)}`,
    );
}
