import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { ManualClock } from '../core/clock.ts';
import { MemoryKv } from '../shardmap/index.ts';
import { AuditLog, describeAudit } from './audit.ts';

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
});
