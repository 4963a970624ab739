import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DrillReport } from '../drill/index.ts';
import { rtoQuantile } from './drill.ts';

const run = (rtoMs: number | null) => ({ rtoMs }) as DrillReport;

describe('lab: drill runs in a row', () => {
  it('lab: RTO quantiles over runs; a run that never recovered counts as the worst', () => {
    const table: [(number | null)[], number, number | null][] = [
      [[2000], 0.5, 2000],
      [[2400, 1900, 2100], 0.5, 2100],
      [[2400, 1900, 2100], 0.99, 2400],
      [[2400, null, 2100], 0.5, 2400],
      [[2400, null, 2100], 0.99, null],
      [[], 0.5, null],
    ];
    for (const [rtos, q, want] of table) assert.equal(rtoQuantile(rtos.map(run), q), want, `${rtos} q${q}`);
  });
});
