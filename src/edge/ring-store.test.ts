import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { RingStore, zoneRingPath } from './ring-store.ts';

const dir = mkdtempSync(join(tmpdir(), 'mz-ring-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = () => join(dir, `ring-${n++}`);

function body(i: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  for (let j = 0; j < len; j++) b[j] = (i * 31 + j) & 0xff;
  return b;
}

test('edge/ring: put and get round-trip meta and body', () => {
  const r = RingStore.open({ path: file(), sizeBytes: 1 << 20 });
  assert.ok(r.put('a', Buffer.from('{"m":1}'), body(1, 3000)));
  const got = r.get('a');
  assert.equal(got?.meta.toString(), '{"m":1}');
  assert.deepEqual(got?.body, body(1, 3000));
  assert.equal(r.get('missing'), undefined);
  r.close();
});

test('edge/ring: the index is rebuilt by scanning after reopening; the newest version wins', () => {
  const p = file();
  const r = RingStore.open({ path: p, sizeBytes: 1 << 20 });
  r.put('a', Buffer.from('1'), body(1, 100));
  r.put('b', Buffer.from('1'), body(2, 100));
  r.put('a', Buffer.from('2'), body(3, 100));
  r.delete('b');
  r.close();
  const again = RingStore.open({ path: p, sizeBytes: 1 << 20 });
  assert.equal(again.get('a')?.meta.toString(), '2');
  assert.deepEqual(again.get('a')?.body, body(3, 100));
  assert.equal(again.get('b'), undefined, 'a tombstone survives the restart');
  again.close();
});

test('edge/ring: when the head wraps the oldest records are overwritten and dropped from the index', () => {
  const p = file();
  const r = RingStore.open({ path: p, sizeBytes: 64 * 1024 });
  const dropped: string[] = [];
  r.onOverwrite = (id) => dropped.push(id);
  for (let i = 0; i < 40; i++) r.put(`k${i}`, Buffer.from(String(i)), body(i, 4000));
  assert.ok(r.stats.wraps >= 1);
  assert.ok(dropped.includes('k0'));
  assert.equal(r.get('k0'), undefined);
  assert.deepEqual(r.get('k39')?.body, body(39, 4000));
  const live = [...r.keys()];
  for (const k of live) assert.deepEqual(r.get(k)?.body, body(Number(k.slice(1)), 4000), k);
  r.close();
  // after a restart, exactly the same live set, all intact
  const again = RingStore.open({ path: p, sizeBytes: 64 * 1024 });
  assert.deepEqual([...again.keys()].sort(), live.sort());
  for (const k of live) assert.deepEqual(again.get(k)?.body, body(Number(k.slice(1)), 4000), k);
  // and writing on continues the ring without corrupting the survivors
  again.put('new', Buffer.from('n'), body(99, 4000));
  assert.deepEqual(again.get('new')?.body, body(99, 4000));
  for (const k of [...again.keys()]) assert.ok(again.get(k), k);
  again.close();
});

test('edge/ring: a torn record (payload bytes missing) is detected by checksum and dropped', () => {
  const p = file();
  const r = RingStore.open({ path: p, sizeBytes: 1 << 20, blockBytes: 512 });
  r.put('good', Buffer.from('g'), body(1, 1000));
  r.put('torn', Buffer.from('t'), body(2, 5000));
  r.close();
  // zero the tail of the second record, as if the process died mid-write
  const fd = openSync(p, 'r+');
  const probe = Buffer.alloc(4);
  let torn = -1;
  for (let off = 512; off < 1 << 20 && torn < 0; off += 512) {
    readSync(fd, probe, 0, 4, off);
    if (probe.readUInt32LE(0) === 0x31435a4d) torn = off;
  }
  assert.ok(torn > 0);
  writeSync(fd, Buffer.alloc(2000), 0, 2000, torn + 3000);
  closeSync(fd);
  const again = RingStore.open({ path: p, sizeBytes: 1 << 20, blockBytes: 512 });
  assert.deepEqual(again.get('good')?.body, body(1, 1000));
  assert.equal(again.get('torn'), undefined);
  assert.equal(again.stats.corrupt, 1);
  again.close();
});

test('edge/ring: a record corrupted after the scan is caught on read', () => {
  const p = file();
  const r = RingStore.open({ path: p, sizeBytes: 1 << 20 });
  r.put('x', Buffer.from('m'), body(5, 2000));
  const fd = openSync(p, 'r+');
  writeSync(fd, Buffer.from('XXXX'), 0, 4, 1000);
  closeSync(fd);
  assert.equal(r.get('x'), undefined);
  assert.equal(r.stats.corrupt, 1);
  r.close();
});

test('edge/ring: records larger than a quarter of the ring are refused', () => {
  const r = RingStore.open({ path: file(), sizeBytes: 64 * 1024 });
  assert.equal(r.put('big', Buffer.alloc(0), Buffer.alloc(20_000)), false);
  assert.equal(r.has('big'), false);
  r.close();
});

test('edge/ring: each zone of a process gets a ring of its own; {zone} names it', () => {
  assert.equal(zoneRingPath('/var/cache/mz/ring', 'sh-a', 1), '/var/cache/mz/ring', 'one zone: the path as given');
  assert.equal(zoneRingPath('/var/cache/mz/ring', 'sh-a', 4), '/var/cache/mz/ring.sh-a');
  assert.equal(zoneRingPath('/var/cache/{zone}/ring', 'gz-a', 1), '/var/cache/gz-a/ring');
  assert.equal(zoneRingPath('/r-{zone}-{zone}', 'bj-a', 4), '/r-bj-a-bj-a');
  assert.equal(zoneRingPath('', 'sh-a', 4), '', 'no disk tier');
});
