import assert from 'node:assert/strict';
import { test } from 'node:test';
import { replicationTablesSection } from './replication-tables.ts';

test('topology/replication-tables: defaults fill class, conflict policy and batchMax', () => {
  const c = replicationTablesSection.parse({ url: 'postgres://app@db-{zone}/shop', tables: [{ name: 'orders' }] });
  assert.equal(c?.batchMax, 1000);
  assert.equal(c?.tables[0]?.class, 'sharded');
  assert.equal(c?.tables[0]?.conflict, 'lock');
  assert.equal(replicationTablesSection.parse(undefined), undefined);
});

test('topology/replication-tables: bad config is rejected at the right path', () => {
  const cases: [unknown, string][] = [
    [{ tables: [] }, 'tables'],
    [{ url: 'postgres://x/{zone}{oops}', tables: [{ name: 'a' }] }, 'url'],
    [{ tables: [{ name: 'Orders' }] }, 'tables.0.name'],
    [{ tables: [{ name: 'a.b.c' }] }, 'tables.0.name'],
    [{ tables: [{ name: 'a', class: 'regional' }] }, 'tables.0.class'],
    [{ tables: [{ name: 'a', key: [] }] }, 'tables.0.key'],
    [{ tables: [{ name: 'a', shard: { pattern: '^(\\d+)$' } }] }, 'tables.0.shard.pattern'],
    [{ tables: [{ name: 'a', shard: { column: 'x', pattern: '(?<shard>\\d+)' } }] }, 'tables.0.shard'],
    [{ tables: [{ name: 'a', conflict: 'owner-wins' }] }, 'tables.0.conflict'],
    [{ tables: [{ name: 'a', conflict: { merge: { qty: 'sum' } } }] }, 'tables.0.conflict'],
    [{ tables: [{ name: 'a' }], batchMax: 0 }, 'batchMax'],
    [{ tables: [{ name: 'a', typo: 1 }] }, 'tables.0'],
  ];
  for (const [input, path] of cases) {
    const r = replicationTablesSection.safeParse(input);
    assert.equal(r.success, false, JSON.stringify(input));
    if (!r.success) assert.equal(r.error.issues[0]!.path.join('.'), path, JSON.stringify(input));
  }
});
