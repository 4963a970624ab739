/**
 * The CLI as people meet it: `bin/multizone.js` run as a process, with its real stdout and
 * stderr. No cluster runs here; a small HTTP server stands in for a control API where one is
 * needed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freePort } from '../../support/net.ts';

const BIN = join(process.cwd(), 'bin', 'multizone.js');

interface Run {
  code: number | null;
  out: string;
  err: string;
}

/** Runs the CLI (asynchronously: the fake control API answers from this process). */
function run(args: string[], o: { closeStdout?: boolean } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    // the reader of stdout goes away before the CLI writes (as `| head -1` does after its line)
    if (o.closeStdout) p.stdout.destroy();
    else p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('close', (code) => resolve({ code, out, err }));
  });
}

const STACK = /^\s+at .*:\d+:\d+\)?$/m;

/** A stand-in control API with many open conflicts (more than a pipe buffer of output). */
let fake: Server;
let fakeUrl = '';
before(async () => {
  const conflicts = Array.from({ length: 3000 }, (_, i) => ({
    id: `profiles/u${i}`,
    shard: i % 64,
    zones: ['sh-a', 'bj-a'],
    candidates: [
      { origin: 'sh-a', version: 10, value: { name: `a${i}` }, deleted: false },
      { origin: 'bj-a', version: 11, value: { name: `b${i}` }, deleted: false },
    ],
  }));
  const body = JSON.stringify({ conflicts });
  fake = createServer((req, res) => {
    if (req.url === '/api/conflicts') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    } else {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"ERR_CONTROL_NOT_FOUND","message":"no route"}');
    }
  });
  await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
  fakeUrl = `http://127.0.0.1:${(fake.address() as { port: number }).port}`;
});
after(() => new Promise<void>((r) => fake.close(() => r())));

test('cli: conflicts with no cluster reachable is one line naming the URL and how to point elsewhere', async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  for (const args of [
    ['conflicts', '--control', url],
    ['conflicts', 'resolve', 'profiles/u1', '--pick', 'sh-a', '--control', url],
    ['conflicts', 'resolve', '--all', '--pick-zone', 'sh-a', '--control', url],
    ['failover', '--zone', 'sh-a', '--control', url],
    ['drill', '--zone', 'sh-a', '--control', url],
  ]) {
    const r = await run(args);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.notEqual(r.code, 64, args.join(' '));
    assert.doesNotMatch(r.err, STACK, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, /ERR_CLI_CONTROL_UNREACHABLE/, args.join(' '));
    assert.equal(r.err.trim().split('\n').length, 1, `${args.join(' ')}: one line: ${r.err}`);
    assert.ok(r.err.includes(url), `${args.join(' ')}: names the URL tried: ${r.err}`);
    assert.match(r.err, /ECONNREFUSED/, args.join(' '));
    assert.match(r.err, /--control URL/, args.join(' '));
  }
});

test('cli: a reader that goes away (| head -1) ends the output quietly, not with EPIPE', async () => {
  for (const args of [['help'], ['conflicts', '--control', fakeUrl]]) {
    const r = await run(args, { closeStdout: true });
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.err}`);
    assert.doesNotMatch(r.err, /EPIPE|unexpected error/, args.join(' '));
    assert.doesNotMatch(r.err, STACK, args.join(' '));
  }
  // with the reader there, the whole list arrives
  const all = await run(['conflicts', '--control', fakeUrl]);
  assert.equal(all.code, 0, all.err);
  assert.match(all.out, /profiles\/u2999/);
  assert.match(all.out, /sh-a v10/);
});

test('cli: COMMAND --help prints that command’s help; help lists every command’s options', async () => {
  const drill = await run(['drill', '--help']);
  assert.equal(drill.code, 0, drill.err);
  assert.match(drill.out, /^usage: multizone drill --zone Z/m);
  assert.match(drill.out, /--read-back-timeout S/);
  assert.doesNotMatch(drill.out, /multizone lab up/, 'not the global help');
  const geo = await run(['help', 'geo']);
  assert.equal(geo.code, 0, geo.err);
  assert.match(geo.out, /^usage: multizone geo IP/m);
  assert.match(geo.out, /--json/);
  const help = await run(['help']);
  assert.equal(help.code, 0, help.err);
  for (const opt of ['--read-back-timeout', '--allow-conflicts', '--fault-cmd', '--writes', '--pick-zone', '--soft'])
    assert.ok(help.out.includes(opt), `help lists ${opt}`);
  // geo's --json and purge are listed too
  assert.match(help.out, /multizone geo IP\[\/PREFIX\] \[--config FILE\] \[--json\]/);
  assert.match(help.out, /multizone purge /);
});

test('cli: usage errors exit 64 with ERR_CLI_USAGE and the command’s usage', async () => {
  for (const args of [
    ['drill'],
    ['drill', '--zone', 'sh-a', '--bogus'],
    ['geo'],
    ['publish'],
    ['purge'],
    ['help', 'nope'],
    ['lab', 'nope'],
    ['conflicts', 'frobnicate'],
    ['failover'],
  ]) {
    const r = await run(args);
    assert.equal(r.code, 64, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, /\(ERR_CLI_USAGE\)/, args.join(' '));
    assert.doesNotMatch(r.err, STACK, args.join(' '));
  }
  const bad = await run(['drill', '--zone', 'sh-a', '--bogus']);
  assert.match(bad.err, /usage: multizone drill /);
  assert.doesNotMatch(bad.err, /multizone lab up/, 'the command’s usage, not the whole help');
});
