import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { ConfigProblem } from '../core/config.ts';
import { isPlatformError } from '../core/errors.ts';
import { loadTopology, parseTopology } from './index.ts';
import { DEFAULT_TOPOLOGY_FILE } from './model.ts';

const base = readFileSync(DEFAULT_TOPOLOGY_FILE, 'utf8');

function problems(text: string): ConfigProblem[] {
  try {
    parseTopology(text, 'bad.yaml');
  } catch (e) {
    assert.ok(isPlatformError(e));
    assert.equal(e.code, 'ERR_CONFIG_INVALID');
    return ((e.details?.problems ?? []) as ConfigProblem[]).filter((p) => p.severity === 'error');
  }
  assert.fail('expected the topology to be rejected');
}

test('topology: the bundled default loads with four zones and sh-a as core', () => {
  const t = loadTopology();
  assert.deepEqual(
    t.zones.map((z) => z.name),
    ['sh-a', 'sh-b', 'bj-a', 'gz-a'],
  );
  assert.equal(t.coreZone, 'sh-a');
  assert.equal(t.warnings.length, 0);
  assert.equal(t.zone('bj-a').listen.dns?.host, '127.0.3.1');
  assert.ok(Object.isFrozen(t.config.zones));
});

test('topology: initial owners cover every shard, split by capacity', () => {
  const t = loadTopology();
  const owners = t.initialOwners();
  assert.equal(owners.length, 1024);
  const counts = new Map<string, number>();
  for (const z of owners) counts.set(z, (counts.get(z) ?? 0) + 1);
  assert.deepEqual([...counts.values()], [256, 256, 256, 256]);
  assert.equal(owners[t.fenceShard('north-china')], 'bj-a');
});

// table-driven bad configs: an edit to the default file, then the expected path, line and rule
const cases: { name: string; edit: (s: string) => string; path: string; line?: number; includes: string }[] = [
  {
    name: 'unknown region',
    edit: (s) => s.replace('region: north', 'region: nroth'),
    path: 'zones.bj-a.region',
    includes: 'unknown region "nroth" (valid: east, north, south)',
  },
  {
    name: 'two core zones',
    edit: (s) => s.replace('region: north\n', 'region: north\n    core: true\n'),
    path: 'zones.bj-a.core',
    includes: 'two core zones',
  },
  {
    name: 'no core zone',
    edit: (s) => s.replace('core: true ', 'core: false '),
    path: 'zones',
    includes: 'exactly one zone must be the core zone',
  },
  {
    name: 'zone backs itself up',
    edit: (s) => s.replace('backups: [sh-a, sh-b, gz-a]', 'backups: [bj-a, sh-b]'),
    path: 'zones.bj-a.backups.0',
    includes: 'cannot back itself up',
  },
  {
    name: 'unknown backup zone',
    edit: (s) => s.replace('backups: [sh-a, sh-b, gz-a]', 'backups: [xx-a]'),
    path: 'zones.bj-a.backups.0',
    includes: 'unknown zone "xx-a"',
  },
  {
    name: 'two listeners on one port',
    edit: (s) => s.replace('dns: 127.0.2.1:15353', 'dns: 127.0.1.1:15353'),
    path: 'zones.sh-b.listen.dns',
    includes: 'already used by zones.sh-a.listen.dns',
  },
  {
    name: 'unknown key is an error',
    edit: (s) => s.replace('    capacity: 1000\n    isps: [unicom]', '    capacty: 1000\n    isps: [unicom]'),
    path: 'zones.bj-a.capacty',
    includes: 'unknown key "capacty" (valid keys: region, core, backups, capacity',
  },
  {
    name: 'wrong type',
    edit: (s) => s.replace('count: 1024', 'count: lots'),
    path: 'shards.count',
    includes: 'expected number, found "lots"',
  },
  {
    name: 'bad enum lists the choices',
    edit: (s) => s.replace('isps: [unicom]', 'isps: [unicorn]'),
    path: 'zones.bj-a.isps.0',
    includes: 'expected one of',
  },
  {
    name: 'unknown province code',
    edit: (s) => s.replace('provinces: [CN-SH, CN-JS', 'provinces: [CN-XX, CN-JS'),
    path: 'policies.nearest.rules.3.provinces.0',
    includes: '"CN-SH"',
  },
  {
    name: 'unknown zone in a policy',
    edit: (s) => s.replace('default: [[sh-a, sh-b], gz-a, bj-a]', 'default: [[sh-a, sh-c], gz-a, bj-a]'),
    path: 'policies.nearest.default.0.1',
    includes: 'unknown zone "sh-c"',
  },
  {
    name: 'unknown policy in a service',
    edit: (s) =>
      s.replace(
        'api.shop.test: { role: edge, ttl: 60, policy: nearest }',
        'api.shop.test: { role: edge, ttl: 60, policy: nearst }',
      ),
    path: 'services.api.shop.test.policy',
    includes: 'unknown policy "nearst" (valid: nearest)',
  },
  {
    name: 'open polygon',
    edit: (s) =>
      s.replace(
        '[[[105, 35], [135, 35], [135, 54], [105, 54], [105, 35]]]',
        '[[[105, 35], [135, 35], [135, 54], [105, 54], [105, 36]]]',
      ),
    path: 'shards.fences.north-china.geometry',
    includes: 'not closed',
  },
  {
    name: 'polygon with too few points',
    edit: (s) =>
      s.replace('[[[105, 35], [135, 35], [135, 54], [105, 54], [105, 35]]]', '[[[105, 35], [135, 35], [105, 35]]]'),
    path: 'shards.fences.north-china.geometry',
    includes: 'at least 4 positions',
  },
  {
    name: 'fence for an unknown zone',
    edit: (s) => s.replace('zone: bj-a\n      geometry', 'zone: tj-a\n      geometry'),
    path: 'shards.fences.north-china.zone',
    includes: 'unknown zone "tj-a"',
  },
  {
    name: 'bad listen address',
    edit: (s) => s.replace('app: 127.0.4.1:18082', 'app: 127.0.4.1'),
    path: 'zones.gz-a.listen.app',
    includes: 'must be "host:port"',
  },
  {
    name: 'bad mapping regex',
    edit: (s) => s.replace("pattern: '^o(?<shard>\\d{1,5})-'", "pattern: '^o(\\d+)-'"),
    path: 'shards.mappings.order.pattern',
    includes: 'named group',
  },
  {
    name: 'YAML syntax error has a line',
    edit: (s) => s.replace('regions:\n', 'regions:\n  bad: [unclosed\n'),
    path: '',
    includes: 'YAML syntax',
  },
];

for (const c of cases) {
  test(`topology: rejects ${c.name} with its path and line`, () => {
    const text = c.edit(base);
    assert.notEqual(text, base, 'the edit must change the file');
    const ps = problems(text);
    const p = ps.find((x) => x.path === (c.path || x.path) && x.message.includes(c.includes));
    assert.ok(
      p,
      `no problem at ${c.path} containing ${JSON.stringify(c.includes)}; got:\n${ps.map((x) => `${x.path}: ${x.message}`).join('\n')}`,
    );
    assert.equal(p.file, 'bad.yaml');
    assert.ok(p.line > 0 && p.column > 0);
    if (c.path) {
      // the line must be the one the offending key or value is on
      const leaf = c.path.split('.').at(-1)!;
      const lineText = text.split('\n')[p.line - 1]!;
      if (!/^\d+$/.test(leaf) && leaf !== 'geometry' && leaf !== 'zones')
        assert.ok(lineText.includes(leaf), `line ${p.line} "${lineText}" should mention ${leaf}`);
    }
  });
}

test('topology: every problem is reported in one pass', () => {
  const text = base.replace('region: north', 'region: nroth').replace('count: 1024', 'count: -1');
  const ps = problems(text);
  // a schema error (count) does not hide the cross-reference error (region)
  assert.deepEqual(ps.map((p) => p.path).sort(), ['shards.count', 'zones.bj-a.region']);
  const text2 = base
    .replace('region: north', 'region: nroth')
    .replace('backups: [sh-a, sh-b, gz-a]', 'backups: [bj-a]');
  assert.equal(problems(text2).length, 2);
});

test('topology: class that contradicts the data characteristics warns', () => {
  const text = base
    .replace('class: global\n    paths: [/api/accounts', 'class: sharded\n    paths: [/api/accounts')
    .replace('class: local\n    paths: [/api/sessions]', 'class: sharded\n    paths: [/api/sessions]');
  const t = parseTopology(text, 'warn.yaml');
  const msgs = t.warnings.map((w) => `${w.path}: ${w.message}`);
  assert.ok(
    msgs.some((m) => m.startsWith('resources.accounts.class') && m.includes('registration trap')),
    msgs.join('\n'),
  );
  assert.ok(
    msgs.some((m) => m.startsWith('resources.sessions.class') && m.includes("needn't be replicated")),
    msgs.join('\n'),
  );
});
