/** The soak's pure parts (bench/soak): slopes, the verdict, the topology it generates, the metric census. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { seriesPerFamily } from '../../bench/soak/soak.ts';
import { type Sample, sampleAt, secondHalf, slope, slopesPerMinute, verdict } from '../../bench/soak/stats.ts';
import { soakTopologyYaml } from '../../bench/soak/topology.ts';
import { DEFAULT_TOPOLOGY_FILE, parseTopology } from '../../src/topology/index.ts';

const MB = 1024 * 1024;
const sample = (t: number, heapMb: number, rssMb = 300): Sample => ({
  t,
  rss: rssMb * MB,
  heapUsed: heapMb * MB,
  heapTotal: 2 * heapMb * MB,
  external: 20 * MB,
  arrayBuffers: 0,
  handles: 100,
  lagP50: 1,
  lagP99: 5,
  lagMax: 10,
});

test('soak: slope is the least-squares fit', () => {
  assert.equal(slope([0, 60, 120], [10, 13, 16]), 0.05);
  assert.equal(slope([0], [1]), 0);
  assert.equal(slope([5, 5], [1, 2]), 0, 'no spread in x');
  // noise around a flat line fits flat
  assert.ok(Math.abs(slope([0, 1, 2, 3, 4, 5], [10, 11, 9, 10, 11, 9])) < 0.2);
});

test('soak: slopes come from the second half only, per minute, in MB', () => {
  // warm-up: +10 MB over the first 5 minutes, then flat
  const samples = Array.from({ length: 61 }, (_, i) => sample(i * 10, i < 30 ? 40 + i / 3 : 50));
  assert.equal(secondHalf(samples)[0]!.t, 300);
  const s = slopesPerMinute(samples);
  assert.ok(Math.abs(s.heapUsed) < 1e-9, `${s.heapUsed}`);
  // a leak of 2 MB/min throughout shows as 2
  const leak = Array.from({ length: 61 }, (_, i) => sample(i * 10, 40 + (i * 10 * 2) / 60));
  assert.ok(Math.abs(slopesPerMinute(leak).heapUsed - 2) < 1e-9);
});

test('soak: the verdict names a heap slope over the bound and a stream that failed too often', () => {
  const flat = slopesPerMinute([sample(0, 50), sample(60, 50)]);
  const ok = [{ name: 'dns', sent: 1000, failed: 5 }];
  assert.deepEqual(verdict(flat, ok, { heapMbPerMin: 1, errorRatio: 0.01 }), []);
  const why = verdict(
    { ...flat, heapUsed: 2.5 },
    [...ok, { name: 'edge', sent: 100, failed: 2 }, { name: 'x', sent: 0, failed: 0 }],
    {
      heapMbPerMin: 1,
      errorRatio: 0.01,
    },
  );
  assert.equal(why.length, 3);
  assert.match(why[0]!, /heap used grows 2\.500 MB\/min/);
  assert.match(why[1]!, /^edge: 2 of 100/);
  assert.match(why[2]!, /^x: nothing was sent/);
});

test('soak: sampleAt finds the nearest sample, none when too far', () => {
  const s = [sample(0, 1), sample(290, 2), sample(310, 3)];
  assert.equal(sampleAt(s, 300)!.t, 290);
  assert.equal(sampleAt(s, 900), undefined);
});

test('soak: the topology is the default one on ports of its own, its stores in its own folder', () => {
  const yaml = readFileSync(DEFAULT_TOPOLOGY_FILE, 'utf8');
  const fixed = parseTopology(soakTopologyYaml(yaml, { portBase: 26000, dataDir: '/tmp/soak-x' }), 'soak.yaml');
  const def = parseTopology(yaml, 'default.yaml');
  assert.deepEqual(
    fixed.zones.map((z) => z.name),
    def.zones.map((z) => z.name),
  );
  const shA = fixed.zone('sh-a').listen;
  assert.deepEqual(
    [shA.dns, shA.httpdns, shA.edge, shA.router, shA.app].map((h) => `${h!.host}:${h!.port}`),
    ['127.0.1.1:26000', '127.0.1.1:26001', '127.0.1.1:26002', '127.0.1.1:26003', '127.0.1.1:26004'],
  );
  assert.equal(fixed.zone('bj-a').listen.dns!.host, '127.0.3.1');
  assert.equal(fixed.config.control.listen, '127.0.0.1:26010');
  assert.equal(fixed.config.store.dataDir, '/tmp/soak-x');
  assert.deepEqual(Object.keys(fixed.config.services), Object.keys(def.config.services));
  // base 0: every listener on a free port
  const free = parseTopology(soakTopologyYaml(yaml, { portBase: 0, dataDir: '/tmp/soak-y' }), 'soak.yaml');
  assert.ok(free.zones.every((z) => Object.values(z.listen).every((h) => h!.port === 0)));
  assert.throws(() => soakTopologyYaml(yaml, { portBase: 65530, dataDir: '/tmp' }), RangeError);
});

test('soak: series are counted per metric family (histogram buckets with their family)', () => {
  const text = [
    '# HELP mz_x_total x',
    'mz_x_total{zone="a"} 1',
    'mz_x_total{zone="b"} 2',
    'mz_y_seconds_bucket{le="1"} 1',
    'mz_y_seconds_bucket{le="+Inf"} 1',
    'mz_y_seconds_sum 1',
    'mz_y_seconds_count 1',
    'mz_z 3',
  ].join('\n');
  assert.deepEqual(
    [...seriesPerFamily(text)],
    [
      ['mz_x_total', 2],
      ['mz_y_seconds', 4],
      ['mz_z', 1],
    ],
  );
});
