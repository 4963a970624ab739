import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { ManualClock } from '../core/clock.ts';
import type { Logger } from '../core/logger.ts';
import { seededRandom } from '../core/random.ts';
import { type Kv, MemoryKv, PartitionableKv } from '../shardmap/index.ts';
import {
  clusterView,
  decodeRecord,
  mergeEndpoints,
  PRUNE_MS,
  type ProcessRecord,
  ProcessRegistry,
  processId,
  procKey,
  VIEW_TIMEOUT_MS,
} from './registry.ts';
import type { ListenerInfo } from './services.ts';

const INTERVAL = 2000;

function record(id: string, zones: string[], at: number, listeners: ListenerInfo[]): ProcessRecord {
  return { id, zones, control: 'http://x', pid: 1, hostname: 'h', startedAt: at, at, listeners, links: [] };
}

const router = (zone: string, port: number): ListenerInfo => ({
  zone,
  role: 'router',
  protocol: 'http',
  host: '127.0.0.1',
  port,
});
const control = (port: number): ListenerInfo => ({
  zone: null,
  role: 'control',
  protocol: 'http',
  host: '127.0.0.1',
  port,
});

function capture(): { logger: Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  return { logger: pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s)) }), lines };
}

function registry(kv: Kv, clock: ManualClock, logger: Logger = capture().logger) {
  const listeners = [router('sh-a', 1001), control(7001)];
  return new ProcessRegistry({
    kv,
    clock,
    logger,
    id: 'sh-a_x',
    zones: ['sh-a'],
    control: () => 'http://127.0.0.1:7001',
    listeners: () => listeners,
    links: async () => [{ origin: 'sh-a', dest: 'sh-b', records: 3, seconds: 1.5, down: false }],
    intervalMs: INTERVAL,
    pid: 42,
    hostname: 'host-a',
  });
}

test('registry: process ids are key-safe, carry the zones and differ per run', () => {
  const r = seededRandom(7);
  const a = processId(['sh-a', 'sh-b'], r);
  const b = processId(['sh-a', 'sh-b'], r);
  assert.match(a, /^sh-a_sh-b_[0-9a-z]+$/);
  assert.notEqual(a, b);
  assert.match(processId(['odd.zone/x'], r), /^odd-zone-x_[0-9a-z]+$/);
});

test('registry: a record is alive within 3 intervals; own first and always alive, then the live, then the dead (listed)', () => {
  const now = 1_000_000;
  const own = record('b', ['sh-b'], now - 100 * INTERVAL, [router('sh-b', 2)]);
  const view = clusterView(
    own,
    [
      record('0', ['gz-a'], now - 3 * INTERVAL - 1, []),
      record('c', ['bj-a'], now, []),
      record('a', ['sh-a'], now - 3 * INTERVAL, []),
      own,
    ],
    now,
    INTERVAL,
  );
  assert.deepEqual(
    view.map((p) => [p.id, p.alive, p.here]),
    [
      ['b', true, true],
      ['a', true, false],
      ['c', true, false],
      ['0', false, false],
    ],
  );
});

test('registry: endpoints are every live process’s listeners, deduplicated; control entries carry the zones', () => {
  const now = 1_000_000;
  const view = clusterView(
    record('a', ['sh-a'], now, [router('sh-a', 1), control(7)]),
    [
      record('b', ['sh-b', 'bj-a'], now, [router('sh-b', 2), router('sh-a', 1), control(8)]),
      record('dead', ['gz-a'], now - 10 * INTERVAL, [router('gz-a', 4)]),
    ],
    now,
    INTERVAL,
  );
  assert.deepEqual(mergeEndpoints(view), [
    { ...router('sh-a', 1), process: 'a' },
    { ...control(7), process: 'a', zones: ['sh-a'] },
    { ...router('sh-b', 2), process: 'b' },
    { ...control(8), process: 'b', zones: ['sh-b', 'bj-a'] },
  ]);
});

test('registry: records that are not ours decode to null', () => {
  assert.equal(decodeRecord('not json'), null);
  assert.equal(decodeRecord('"up"'), null);
  assert.equal(decodeRecord('{"id":"a"}'), null);
  const r = decodeRecord(JSON.stringify({ id: 'a', at: 1, control: '', zones: [], listeners: [] }));
  assert.deepEqual(r?.links, []);
});

test('registry: publishes its record with links, refreshes it on the clock, deletes it on stop', async () => {
  const clock = new ManualClock();
  const kv = new MemoryKv();
  const reg = registry(kv, clock);
  await reg.start();
  const first = decodeRecord((await kv.get(procKey('sh-a_x')))!.value!)!;
  assert.equal(first.control, 'http://127.0.0.1:7001');
  assert.deepEqual(first.zones, ['sh-a']);
  assert.equal(first.pid, 42);
  assert.deepEqual(first.links, [{ from: 'sh-a', to: 'sh-b', records: 3, seconds: 1.5, state: 'behind' }]);
  assert.equal(first.listeners.length, 2);
  await clock.advanceAsync(INTERVAL, INTERVAL);
  await reg.tick();
  const second = decodeRecord((await kv.get(procKey('sh-a_x')))!.value!)!;
  assert.equal(second.at - first.at, INTERVAL);
  await reg.stop();
  assert.equal(await kv.get(procKey('sh-a_x')), null);
});

test('registry: an unreachable Kv is warned about once per outage, retried each tick, and the API still answers', async () => {
  const clock = new ManualClock();
  const kv = new PartitionableKv(new MemoryKv(), 'test');
  const { logger, lines } = capture();
  const reg = registry(kv, clock, logger);
  kv.setIsolated(true);
  await reg.start(); // does not throw
  for (let i = 0; i < 5; i++) {
    await clock.advanceAsync(INTERVAL, INTERVAL);
    await reg.tick();
  }
  const warns = () => lines.filter((l) => l.level === 40);
  assert.equal(warns().length, 1, 'one warning for the outage');
  const eps = await reg.endpoints();
  assert.deepEqual(
    eps.map((e) => `${e.process} ${e.role}`),
    ['sh-a_x router', 'sh-a_x control'],
  );
  kv.setIsolated(false);
  await clock.advanceAsync(INTERVAL, INTERVAL);
  await reg.tick();
  assert.ok(await kv.get(procKey('sh-a_x')), 'published once the Kv answers');
  assert.ok(lines.some((l) => l.level === 30 && /answers again/.test(l.msg)));
  kv.setIsolated(true);
  await clock.advanceAsync(INTERVAL, INTERVAL);
  await reg.tick();
  assert.equal(warns().length, 2, 'a new outage, a new warning');
  await reg.stop(); // does not throw either
});

test('registry: a Kv that never answers holds neither start, nor stop, nor an API answer beyond the bound', async () => {
  const clock = new ManualClock();
  const hang = new Promise<never>(() => {});
  const calls = { put: 0 };
  const kv = {
    get: () => hang,
    put: () => {
      calls.put++;
      return hang;
    },
    delete: () => hang,
    watch: () => hang,
    keys: () => hang,
    close: async () => {},
  };
  const { logger, lines } = capture();
  const reg = registry(kv, clock, logger);
  let started = false;
  const s = reg.start().then(() => (started = true));
  await clock.advanceAsync(999);
  assert.equal(started, false);
  await clock.advanceAsync(1);
  await s;
  const view = reg.view();
  await clock.advanceAsync(VIEW_TIMEOUT_MS);
  assert.deepEqual(
    (await view).map((p) => p.id),
    ['sh-a_x'],
  );
  // a hung call counts as a failure: warned once, and the next tick tries again
  // (the view waited until 6 s: the ticks at 2, 4 and 6 s ran meanwhile)
  await clock.advanceAsync(INTERVAL, 100);
  assert.equal(calls.put, 5, 'a put at start, then one per tick: at 2, 4, 6 and 8 s');
  assert.equal(lines.filter((l) => l.level === 40).length, 1);
  const stop = reg.stop();
  await clock.advanceAsync(2000);
  await stop;
});

test('registry: a record dead for longer than PRUNE_MS is deleted by the next reader', async () => {
  const clock = new ManualClock();
  const kv = new MemoryKv();
  await kv.put(procKey('old'), JSON.stringify(record('old', ['gz-a'], clock.wallTime() - PRUNE_MS - 1, [])));
  await kv.put(procKey('dead'), JSON.stringify(record('dead', ['bj-a'], clock.wallTime() - 10 * INTERVAL, [])));
  const reg = registry(kv, clock);
  await reg.start();
  assert.deepEqual(
    (await reg.view()).map((p) => [p.id, p.alive]),
    [
      ['sh-a_x', true],
      ['dead', false],
    ],
  );
  assert.equal(await kv.get(procKey('old')), null);
  await reg.stop();
});
