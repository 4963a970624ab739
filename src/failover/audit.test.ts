import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { ManualClock } from '../core/clock.ts';
import { MemoryKv } from '../shardmap/index.ts';
import { AUDIT_KEEP, AuditLog, describeAudit } from './audit.ts';

describe('audit log lines', () => {
  it('says what moved where, in which term, and from when writes start', () => {
    const at = Date.UTC(2026, 11, 4, 20, 49, 1, 234);
    const line = describeAudit({
      seq: 7,
      at,
      action: 'move',
      zone: 'gz-a',
      from: 'gz-a',
      to: 'sh-b',
      shards: [
        [1, 2],
        [5, 2],
        ['global', 3],
      ],
      notBefore: at,
      term: 4,
      reason: 'zone down for ≥ 1000 ms',
    });
    assert.equal(
      line,
      'move: 2 shards and the global writer gz-a → sh-b (term 4; writes from 20:49:01.234): zone down for ≥ 1000 ms',
    );
    assert.equal(
      describeAudit({ seq: 1, at, action: 'failback', zone: 'gz-a', count: 64 }),
      'failback gz-a (64 shards)',
    );
    assert.equal(
      describeAudit({ seq: 2, at, action: 'drill', zone: 'bj-a', reason: 'partition' }),
      'drill bj-a: partition',
    );
  });

  it('logs every appended entry at info', async () => {
    const lines: { msg: string; audit: { seq: number } }[] = [];
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
    const log = new AuditLog(new MemoryKv(), new ManualClock(), logger);
    await log.append({ action: 'verdict', zone: 'sh-a', reason: 'zone down for ≥ 600 ms' });
    await log.append({ action: 'failback', zone: 'sh-a', count: 3 });
    assert.deepEqual(
      lines.map((l) => [l.audit.seq, l.msg]),
      [
        [1, 'verdict sh-a: zone down for ≥ 600 ms'],
        [2, 'failback sh-a (3 shards)'],
      ],
    );
  });

  it('keeps the last AUDIT_KEEP entries in the Kv, trimming an older history on the first append', async () => {
    const kv = new MemoryKv();
    const pad = (n: number) => `audit.${String(n).padStart(10, '0')}`;
    // a history from before the bound: 5 more entries than it keeps
    for (let i = 1; i <= AUDIT_KEEP + 5; i++)
      await kv.put(pad(i), JSON.stringify({ seq: i, at: 0, action: 'verdict' }));
    const log = new AuditLog(kv, new ManualClock());
    const e = await log.append({ action: 'failback', zone: 'sh-a' });
    assert.equal(e.seq, AUDIT_KEEP + 6);
    const keys = await kv.keys('audit.');
    assert.equal(keys.length, AUDIT_KEEP);
    assert.equal(keys[0], pad(7));
    const last = await log.list(3);
    assert.deepEqual(
      last.map((x) => x.seq),
      [AUDIT_KEEP + 4, AUDIT_KEEP + 5, AUDIT_KEEP + 6],
    );
  });
});
