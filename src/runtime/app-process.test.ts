import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort } from '../../test/support/net.ts';
import { until } from '../../test/support/until.ts';
import { systemClock } from '../core/clock.ts';
import { hasCode } from '../core/errors.ts';
import { silentLogger } from '../core/logger.ts';
import type { AppRun, ExternalApp } from '../topology/index.ts';
import { AppProcess, appCommand, ensureAppKey, fillPlaceholders } from './app-process.ts';
import { runtimeErrors } from './errors.ts';

const P = {
  zone: 'sh-a',
  host: '127.0.0.1',
  port: 19001,
  keyFile: '/k/app-key',
  router: 'http://127.0.1.1:18081',
  edge: 'http://127.0.1.1:18080',
  edgeToken: 'tok',
  node: '/usr/bin/node',
};

describe('runtime/app-process: placeholders and the app key', () => {
  it('fills every placeholder of command and env, and leaves other text alone', () => {
    assert.equal(
      fillPlaceholders('db_{zone_}/{zone}:{port}@{host} {keyFile} {router} {edge} {edgeToken} {node}', P),
      'db_sh_a/sh-a:19001@127.0.0.1 /k/app-key http://127.0.1.1:18081 http://127.0.1.1:18080 tok /usr/bin/node',
    );
    const run: AppRun = {
      command: ['{node}', 'app.js', '--port={port}'],
      cwd: '/',
      env: { Z: '{zone}' },
      startTimeoutMs: 1000,
    };
    assert.deepEqual(appCommand(run, P), { argv: ['/usr/bin/node', 'app.js', '--port=19001'], env: { Z: 'sh-a' } });
  });

  it('makes the app key once (64 hex characters, mode 0600) and keeps an existing one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mz-appkey-'));
    try {
      const f = join(dir, 'sub', 'app-key');
      assert.equal(ensureAppKey(f), true);
      const key = readFileSync(f, 'utf8').trim();
      assert.match(key, /^[0-9a-f]{64}$/);
      assert.equal(statSync(f).mode & 0o777, 0o600);
      assert.equal(ensureAppKey(f), false);
      assert.equal(readFileSync(f, 'utf8').trim(), key);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('runtime/app-process: supervising a real process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mz-appproc-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  // a tiny HTTP app: answers /healthz with 200 (or 500 when told), exits when told
  writeFileSync(
    join(dir, 'app.mjs'),
    `import { createServer } from 'node:http';
if (process.env.CRASH) { console.error('boom: ' + process.env.CRASH); process.exit(3); }
createServer((req, res) => { res.statusCode = process.env.SICK ? 500 : 200; res.end(process.env.ZONE); })
  .listen(Number(process.env.PORT), '127.0.0.1', () => console.log('up'));`,
  );

  const proc = async (env: Record<string, string>, startTimeoutMs = 20_000) => {
    const port = await freePort();
    const app: ExternalApp & { run: AppRun } = {
      url: `http://127.0.0.1:${port}`,
      host: '127.0.0.1',
      port,
      health: '/healthz',
      keyFile: join(dir, 'key'),
      name: 'test',
      run: {
        command: ['{node}', 'app.mjs'],
        cwd: dir,
        env: { PORT: '{port}', ZONE: '{zone}', ...env },
        startTimeoutMs,
      },
    };
    return new AppProcess({
      zone: 'sh-a',
      app,
      placeholders: { ...P, port, node: process.execPath },
      logFile: join(dir, `app-${port}.log`),
      clock: systemClock,
      logger: silentLogger,
      at: 'zones.sh-a.app.command (t.yaml:9:7)',
    });
  };

  it('starts the app, waits for its health path, and starts it again after it is killed', async () => {
    const p = await proc({});
    await p.start();
    const first = p.pid!;
    process.kill(first, 'SIGKILL');
    await until('the app started again', () => p.restarts === 1 && p.pid !== first);
    const port = (p as unknown as { o: { app: { port: number } } }).o.app.port;
    await until(
      'the new app answers',
      async () =>
        (await fetch(`http://127.0.0.1:${port}/healthz`)
          .then((r) => r.text())
          .catch(() => '')) === 'sh-a',
    );
    await p.stop();
    await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`));
  });

  it('an app that exits at start stops startup with its config location and the end of its log', async () => {
    const p = await proc({ CRASH: 'no database' });
    await assert.rejects(p.start(), (e) => {
      assert.ok(hasCode(e, runtimeErrors.ERR_RUNTIME_APP_START));
      assert.match((e as Error).message, /zones\.sh-a\.app\.command \(t\.yaml:9:7\): the app exited \(code 3\)/);
      assert.match((e as Error).message, /boom: no database/);
      return true;
    });
    await p.stop();
  });

  it('an app that never answers 2xx stops startup after app.startTimeoutMs, and is stopped', async () => {
    const p = await proc({ SICK: '1' }, 500);
    await assert.rejects(p.start(), (e) => {
      assert.ok(hasCode(e, runtimeErrors.ERR_RUNTIME_APP_START));
      assert.match(
        (e as Error).message,
        /did not answer .*\/healthz within 500 ms \(app\.startTimeoutMs; last: status 500\)/,
      );
      return true;
    });
    const pid = p.pid!;
    assert.throws(() => process.kill(pid, 0), /ESRCH/);
  });

  it('a command that does not exist is named', async () => {
    const p = await proc({});
    (p as unknown as { o: { app: { run: AppRun } } }).o.app.run = {
      command: ['/nonexistent/app'],
      cwd: dir,
      env: {},
      startTimeoutMs: 5000,
    };
    await assert.rejects(p.start(), /the app exited \(ENOENT: \/nonexistent\/app in /);
  });
});
