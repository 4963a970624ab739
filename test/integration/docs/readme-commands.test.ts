/**
 * The docs as a user follows them: every `sh` block of README.md and examples/*\/README.md is
 * marked in the Markdown, on the line before it, `<!-- docs-test: run [--app NAME] -->` or
 * `<!-- docs-test: skip: why -->`. A run block is executed line by line against a real
 * `multizone up` (default topology, a fresh folder), in one bash so variables carry over;
 * `npx multizone` and `multizone` are this checkout's CLI. Each command must exit 0 (or the
 * code its comment allows: "exit 1 when …"), and each claim `→ A, B` in its comment must be in
 * its output (case-insensitive; a claim ends at " (" or the end; "→ X (…) first" means the
 * first line of output holds X). An unmarked `sh` block fails the test, so a new one cannot
 * slip past.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { redisAvailable } from '../../../examples/delivery/delivery-support.ts';
import { BIN, startCli, stopCli } from '../../support/cli.ts';
import { pgAvailable } from '../replication/tables-support.ts';

const ROOT = process.cwd();

/** One command of a run block: the text bash runs and what its comment promises. */
export interface DocCommand {
  file: string;
  line: number;
  text: string;
  claims: { text: string; first: boolean }[];
  exitCodes: number[];
}

interface DocBlock {
  file: string;
  line: number;
  mark: { run: true; app?: string } | { run: false; why: string } | undefined;
  commands: DocCommand[];
}

/** The trailing `# comment` of a shell line (a `#` outside quotes, after a space). */
function splitComment(line: string): [string, string] {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"') i++;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return [line.slice(0, i).trimEnd(), line.slice(i + 1)];
  }
  return [line, ''];
}

/** `→ A, B (…) first`: the claims of a comment. */
export function claimsOf(comment: string): { text: string; first: boolean }[] {
  const at = comment.indexOf('→');
  if (at < 0) return [];
  const rest = comment.slice(at + 1).trim();
  const paren = rest.indexOf(' (');
  const body = paren < 0 ? rest : rest.slice(0, paren);
  const after = paren < 0 ? '' : rest.slice(rest.indexOf(')', paren) + 1);
  let first = /^\s*first\b/.test(after);
  let parts = body.split(/, /).map((s) => s.trim());
  if (parts.length === 1 && / first$/.test(parts[0]!)) {
    parts = [parts[0]!.replace(/ first$/, '')];
    first = true;
  }
  return parts.filter(Boolean).map((text) => ({ text, first }));
}

export function parseDoc(file: string, md: string): DocBlock[] {
  const lines = md.split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```sh') continue;
    const prev = (lines[i - 1] ?? '').trim();
    const m = /^<!-- docs-test: (run(?: --app (\S+))?|skip: (.+?)) -->$/.exec(prev);
    const mark: DocBlock['mark'] = !m
      ? undefined
      : m[1]!.startsWith('run')
        ? { run: true, ...(m[2] ? { app: m[2] } : {}) }
        : { run: false, why: m[3]! };
    const block: DocBlock = { file, line: i + 1, mark, commands: [] };
    let pending: { line: number; text: string[] } | undefined;
    for (i++; i < lines.length && lines[i]!.trim() !== '```'; i++) {
      const raw = lines[i]!;
      if (!pending && (raw.trim() === '' || raw.trim().startsWith('#'))) continue;
      const [code, comment] = splitComment(raw);
      pending ??= { line: i + 1, text: [] };
      if (code.endsWith('\\')) {
        pending.text.push(code.slice(0, -1));
        continue;
      }
      pending.text.push(code);
      block.commands.push({
        file,
        line: pending.line,
        text: pending.text.join(' ').replace(/\s+/g, ' ').trim(),
        claims: claimsOf(comment),
        exitCodes: [0, ...[...comment.matchAll(/exit (\d+) when/g)].map((x) => Number(x[1]))],
      });
      pending = undefined;
    }
    blocks.push(block);
  }
  return blocks;
}

function docFiles(): string[] {
  const out = ['README.md'];
  for (const d of readdirSync(join(ROOT, 'examples'), { withFileTypes: true }))
    if (d.isDirectory())
      try {
        readFileSync(join(ROOT, 'examples', d.name, 'README.md'));
        out.push(join('examples', d.name, 'README.md'));
      } catch {
        // an example without a README
      }
  return out;
}

const blocks = docFiles().flatMap((f) => parseDoc(f, readFileSync(join(ROOT, f), 'utf8')));

/** Runs a block's commands in one bash; each command's output and exit code, in order. */
function runBlock(dir: string, cmds: DocCommand[]): Promise<{ out: string; code: number }[]> {
  const script = [
    `multizone() { node ${JSON.stringify(BIN)} "$@"; }`,
    'npx() { if [ "$1" = multizone ]; then shift; multizone "$@"; else command npx "$@"; fi; }',
    ...cmds.map((c, i) => `{ ${c.text} ; } > out.${i} 2>&1; echo $? > rc.${i}`),
  ].join('\n');
  writeFileSync(join(dir, 'block.sh'), script);
  return new Promise((resolve, reject) => {
    const p = spawn('bash', ['block.sh'], { cwd: dir, stdio: 'ignore' });
    p.on('error', reject);
    p.on('exit', () =>
      resolve(
        cmds.map((_, i) => ({
          out: readFileSync(join(dir, `out.${i}`), 'utf8'),
          code: Number(readFileSync(join(dir, `rc.${i}`), 'utf8')),
        })),
      ),
    );
  });
}

/** Why the delivery example cannot run here (undefined: it can); in CI a missing server is a failure. */
async function deliveryServers(): Promise<string | undefined> {
  const why = !(await pgAvailable())
    ? 'no PostgreSQL at 127.0.0.1:5432'
    : !(await redisAvailable())
      ? 'no Redis at 127.0.0.1:6379'
      : undefined;
  if (why && process.env.CI === 'true') throw new Error(`${why}: the delivery example's docs need it in CI`);
  return why;
}

// the delivery service keeps its data in PostgreSQL and Redis (examples/delivery)
const deliveryMissing = blocks.some((b) => b.mark?.run && b.mark.app === 'delivery')
  ? await deliveryServers()
  : undefined;

describe('docs: the README and the examples’ commands run as written', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('docs: every sh block is marked run or skip', () => {
    const unmarked = blocks.filter((b) => !b.mark).map((b) => `${b.file}:${b.line}`);
    assert.deepEqual(unmarked, [], 'mark each with <!-- docs-test: run --> or <!-- docs-test: skip: why -->');
    assert.ok(
      blocks.some((b) => b.mark?.run),
      'at least one block runs',
    );
  });

  it('docs: the comment claims parse as the README means them', () => {
    assert.deepEqual(claimsOf(' a Beijing subnet → 127.0.3.1 (bj-a) first'), [{ text: '127.0.3.1', first: true }]);
    assert.deepEqual(claimsOf(' → "userId", "zone":"sh-a"'), [
      { text: '"userId"', first: false },
      { text: '"zone":"sh-a"', first: false },
    ]);
    assert.deepEqual(claimsOf(' no claim here'), []);
  });

  for (const app of [undefined, 'accounts', 'delivery']) {
    const mine = blocks.filter((b) => b.mark?.run && b.mark.app === app);
    if (mine.length === 0) continue;
    const needs = app === 'delivery' ? deliveryMissing : undefined;
    it(`docs: ${mine.map((b) => `${b.file}:${b.line}`).join(', ')} against multizone up${app ? ` --app ${app}` : ''}`, {
      timeout: 300_000,
      ...(needs ? { skip: needs } : {}),
    }, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'mz-docs-'));
      dirs.push(dir);
      const cluster = (await startCli(['up', '--json', ...(app ? ['--app', app] : [])], { cwd: dir })).child;
      try {
        const cmds = mine.flatMap((b) => b.commands);
        const results = await runBlock(dir, cmds);
        const failures: string[] = [];
        cmds.forEach((c, i) => {
          const r = results[i]!;
          const where = `${c.file}:${c.line} \`${c.text}\``;
          if (!c.exitCodes.includes(r.code)) failures.push(`${where} exited ${r.code}:\n${r.out.slice(0, 2000)}`);
          for (const claim of c.claims) {
            const hay = (claim.first ? (r.out.split('\n').find((l) => l.trim()) ?? '') : r.out).toLowerCase();
            if (!hay.includes(claim.text.toLowerCase()))
              failures.push(
                `${where}: the text says it shows "${claim.text}"${claim.first ? ' first' : ''}; it printed:\n${r.out.slice(0, 2000)}`,
              );
          }
        });
        assert.deepEqual(failures, [], failures.join('\n\n'));
      } finally {
        await stopCli(cluster);
      }
    });
  }
});
