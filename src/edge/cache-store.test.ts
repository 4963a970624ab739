import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { seededRandom } from '../core/random.ts';
import { primaryKey } from './cache-key.ts';
import { CacheStore } from './cache-store.ts';
import { makeMeta, materialize } from './cached-object.ts';
import { DEFAULT_FRESHNESS } from './freshness.ts';
import { RingStore } from './ring-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'mz-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

function obj(path: string, size: number, tags: string[] = [], variant = '') {
  const headers: Record<string, string> = { 'cache-control': 'max-age=60' };
  if (tags.length) headers['surrogate-key'] = tags.join(' ');
  const meta = makeMeta({
    key: primaryKey('h', path),
    variant,
    status: 200,
    headers,
    requestTime: 0,
    responseTime: 0,
    opts: DEFAULT_FRESHNESS,
  });
  return materialize(meta, Buffer.alloc(size, path.length));
}

const kinds: [string, () => CacheStore][] = [
  ['memory', () => new CacheStore({ memoryBytes: 1 << 20 })],
  [
    'memory+disk',
    () =>
      new CacheStore({
        memoryBytes: 1 << 20,
        disk: RingStore.open({ path: join(dir, `r${n++}`), sizeBytes: 4 << 20 }),
      }),
  ],
];

// one contract, every store configuration
for (const [name, make] of kinds) {
  describe(`edge/store (${name})`, () => {
    test('edge/store: variants of a key are kept apart and returned together', () => {
      const s = make();
      s.put(obj('/a', 10, [], 'accept-language=en\n'));
      s.put(obj('/a', 11, [], 'accept-language=fr\n'));
      s.put(obj('/b', 12));
      assert.equal(s.variants(primaryKey('h', '/a')).length, 2);
      assert.equal(s.variants(primaryKey('h', '/b'))[0]?.body.length, 12);
    });

    test('edge/store: purge by key, prefix and surrogate key; soft purge marks stale', () => {
      const s = make();
      s.put(obj('/img/1', 10, ['img']));
      s.put(obj('/img/2', 10, ['img', 'p1']));
      s.put(obj('/css/1', 10, ['p1']));
      s.put(obj('/js/1', 10));
      assert.equal(s.purgeSurrogate('p1', true), 2);
      assert.equal(s.variants(primaryKey('h', '/css/1'))[0]?.invalidated, true);
      assert.equal(s.purgePrefix('h/img/', false), 2);
      assert.equal(s.variants(primaryKey('h', '/img/1')).length, 0);
      assert.equal(s.purgeKey(primaryKey('h', '/js/1'), false), 1);
      assert.equal(s.size, 1);
    });
  });
}

test('edge/store: objects evicted from memory are served from the disk tier', () => {
  const disk = RingStore.open({ path: join(dir, `r${n++}`), sizeBytes: 8 << 20 });
  const s = new CacheStore({ memoryBytes: 64 * 1024, disk });
  for (let i = 0; i < 40; i++) s.put(obj(`/o${i}`, 8000));
  const first = s.variants(primaryKey('h', '/o0'))[0];
  assert.equal(first?.body.length, 8000);
  assert.ok(s.stats.diskHits >= 1);
  assert.ok(s.stats.memEvictions > 0);
});

test('edge/store: a restarted store finds its disk objects again (index rebuilt from the ring)', () => {
  const path = join(dir, `r${n++}`);
  const a = new CacheStore({ memoryBytes: 1 << 20, disk: RingStore.open({ path, sizeBytes: 4 << 20 }) });
  a.put(obj('/keep', 100, ['t']));
  const b = new CacheStore({ memoryBytes: 1 << 20, disk: RingStore.open({ path, sizeBytes: 4 << 20 }) });
  assert.equal(b.variants(primaryKey('h', '/keep'))[0]?.body.length, 100);
  assert.equal(b.purgeSurrogate('t', false), 1);
});

/** Zipf(s) sampler over ranks 0..n-1 by inverse CDF. */
function zipf(nObjects: number, s: number, rnd: () => number): () => number {
  const cdf: number[] = [];
  let sum = 0;
  for (let i = 1; i <= nObjects; i++) {
    sum += 1 / i ** s;
    cdf.push(sum);
  }
  return () => {
    const x = rnd() * sum;
    let lo = 0;
    let hi = nObjects - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

test('edge/store: Zipf workload with the memory tier at 10 % of the working set', () => {
  const random = seededRandom(42);
  const objects = 2000;
  const size = 4096;
  const memoryBytes = (objects * (size + 512)) / 10;
  const disk = RingStore.open({ path: join(dir, `r${n++}`), sizeBytes: 32 << 20 });
  const s = new CacheStore({ memoryBytes, disk });
  const pick = zipf(objects, 0.9, () => random.next());
  const requests = 30_000;
  let misses = 0;
  for (let i = 0; i < requests; i++) {
    const path = `/z${pick()}`;
    if (s.variants(primaryKey('h', path)).length === 0) {
      misses++;
      s.put(obj(path, size));
    }
  }
  const memRatio = s.stats.memHits / requests;
  const hitRatio = 1 - misses / requests;
  console.log(
    `# zipf s=0.9, ${objects} objects of ${size} B, memory tier 10 % of the working set, seed ${random.seed}: memory hit ratio ${(memRatio * 100).toFixed(1)} %, memory+disk ${(hitRatio * 100).toFixed(1)} %`,
  );
  // LRU on a skewed workload beats the 10 % a uniform one would get from memory
  assert.ok(memRatio > 0.35, `memory hit ratio ${memRatio}`);
  assert.ok(hitRatio > memRatio);
});
