/**
 * The CLI as people meet it: `bin/multizone.js` run as a process, with its real stdout and
 * stderr. No cluster runs here; a small HTTP server stands in for a control API where one is
 * needed.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { COMMANDS } from '../../../src/cli/commands.ts';
import { OPTIONS, type OptionsSpec } from '../../../src/cli/options.ts';
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
    ['drill', '--zone', 'sh-a', '--workload', 'nope'],
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

/**
 * The option specs each command's parseArgs calls take (src/cli/options.ts), by command: what
 * its help must list. Kept here, apart from the command table, so a spec the table forgets fails.
 */
const PARSER_SPECS: Record<string, readonly OptionsSpec[]> = {
  up: [OPTIONS.up],
  zone: [OPTIONS.zone],
  validate: [OPTIONS.validate],
  geo: [OPTIONS.geo],
  cert: [OPTIONS.cert],
  conflicts: [OPTIONS.conflicts],
  drill: [OPTIONS.drill],
  failover: [OPTIONS.failover],
  failback: [OPTIONS.failback],
  publish: [OPTIONS.publish],
  purge: [OPTIONS.purge],
  lab: [OPTIONS.labUp, OPTIONS.labDrill, OPTIONS.labOutage, OPTIONS.labRestart, OPTIONS.labDown, OPTIONS.labProxy],
  help: [],
};

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Every option of the specs has its row in `text`: `--KEY ARG`, two spaces or more, its help (a
 * key several lab subcommands share is listed once, as one of them has it).
 */
function assertListsOptions(text: string, specs: readonly OptionsSpec[], where: string): void {
  const lines = text.split('\n');
  for (const key of new Set(specs.flatMap((s) => Object.keys(s)))) {
    const rows = specs.flatMap((s) => {
      const o = s[key];
      return o
        ? [new RegExp(`^ +--${escapeRe(key)}${o.arg ? ` ${escapeRe(o.arg)}` : ''} {2,}${escapeRe(o.help)}$`)]
        : [];
    });
    assert.ok(
      lines.some((l) => rows.some((r) => r.test(l))),
      `${where} lists --${key} with its help; its rows: ${JSON.stringify(lines.filter((l) => l.includes(`--${key}`)))}`,
    );
  }
}

test('cli: help and COMMAND --help list every option of the command’s parser, with its help', async () => {
  // every command has its parsers' specs above, and every spec is some command's
  assert.deepEqual(Object.keys(PARSER_SPECS).sort(), COMMANDS.map((c) => c.name).sort());
  const mapped = new Set(Object.values(PARSER_SPECS).flat());
  for (const [name, spec] of Object.entries(OPTIONS)) assert.ok(mapped.has(spec), `OPTIONS.${name} is in PARSER_SPECS`);
  const help = await run(['help']);
  assert.equal(help.code, 0, help.err);
  // the global help's part of one command: its usage lines, summary and options, between blank lines
  const sections = help.out.split('\n\n');
  const ones = await Promise.all(COMMANDS.map((c) => run([c.name, '--help'])));
  COMMANDS.forEach((c, i) => {
    const specs = PARSER_SPECS[c.name]!;
    const section = sections.find((s) => s.split('\n').includes(`  multizone ${c.usage[0]}`));
    assert.ok(section, `multizone help has a part for ${c.name}`);
    assertListsOptions(section, specs, `multizone help (${c.name})`);
    const one = ones[i]!;
    assert.equal(one.code, 0, `${c.name} --help: ${one.err}`);
    assert.match(one.out, new RegExp(`^usage: multizone ${escapeRe(c.name)}\\b`, 'm'), `${c.name} --help is its own`);
    assertListsOptions(one.out, specs, `multizone ${c.name} --help`);
  });
});

/** The text of a call's arguments: from just after its `(` to the matching `)`. */
function callArgs(src: string, from: number): string {
  let depth = 1;
  for (let i = from; i < src.length; i++) {
    if (src[i] === '(') depth++;
    else if (src[i] === ')' && --depth === 0) return src.slice(from, i);
  }
  return src.slice(from);
}

test('cli: every parseArgs call in src/cli takes its options from options.ts, none inline', () => {
  const dir = join(process.cwd(), 'src', 'cli');
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));
  let calls = 0;
  for (const f of files) {
    const src = readFileSync(join(dir, f), 'utf8');
    assert.doesNotMatch(src, /import\s*\{[^}]*\bparseArgs\s+as\b/, `${f}: parseArgs imported under another name`);
    for (const m of src.matchAll(/\bparseArgs\s*\(/g)) {
      calls++;
      const call = callArgs(src, m.index + m[0].length);
      const where = `${f}: parseArgs(${call.replace(/\s+/g, ' ').trim()})`;
      assert.doesNotMatch(call, /\boptions\s*:\s*\{/, `${where}: an inline options object bypasses options.ts`);
      assert.match(
        call,
        /\boptions\s*:\s*OPTIONS(?:\.[\w$]+|\[[\w$.'"-]+\])+\s*[,}]/,
        `${where}: options must be OPTIONS.<spec> (src/cli/options.ts)`,
      );
    }
  }
  assert.ok(calls > 0, 'found the parseArgs calls');
});
