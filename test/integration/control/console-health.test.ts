/**
 * The console's health grid and audit words in Chromium: a cluster whose routers listen on
 * known ports (port 0 is never probed), so every zone probes every router. The grid shows each
 * endpoint × prober with the vote and its age; a zone killed through the drill fault route is
 * declared down, and the audit log says by whom (the probers that voted, of how many, or the
 * control plane's direct check) and what moved where at which epoch. Screenshots go to
 * test-artifacts/console/. Without Chromium (and CI not true) it skips, as console.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { request } from 'undici';
import { silentLogger } from '../../../src/core/logger.ts';
import { type RunningCluster, startCluster } from '../../../src/runtime/index.ts';
import { parseTopology } from '../../../src/topology/index.ts';
import { CHROMIUM, haveChromium, SHOTS } from '../../support/chromium.ts';
import { freePort, testTopologyYaml } from '../../support/net.ts';
import { until } from '../../support/until.ts';
import { FAST_FAILOVER_YAML } from '../router/fixture.ts';

const YAML = `
shards:
  count: 64
  key:
    - header: x-user-id
resources:
  profiles: { class: sharded, paths: [/api/profiles] }
health: { intervalMs: 300, timeoutMs: 250, rise: 2, fall: 2 }
${FAST_FAILOVER_YAML}`;

describe('control: the console’s health grid and audit words in Chromium', {
  skip: haveChromium ? false : `no Chromium at ${CHROMIUM}`,
}, () => {
  let c: RunningCluster;
  let base: string;
  let browser: Browser;
  let page: Page;
  const consoleErrors: string[] = [];

  before(async () => {
    if (!existsSync('dist/console/app.js')) {
      const b = spawnSync(process.execPath, ['scripts/build-console.mjs'], { stdio: 'inherit' });
      assert.equal(b.status, 0, 'building the console');
    }
    mkdirSync(SHOTS, { recursive: true });
    // each router on a port of its own: probed by every zone
    let yaml = testTopologyYaml({ roles: ['app', 'router'], extra: YAML });
    while (yaml.includes('router: 127.0.0.1:0'))
      yaml = yaml.replace('router: 127.0.0.1:0', `router: 127.0.0.1:${await freePort()}`);
    c = await startCluster({
      topology: parseTopology(yaml, 'console-health.yaml'),
      control: { host: '127.0.0.1', port: 0 },
      logger: silentLogger,
    });
    base = `http://${c.control.host}:${c.control.port}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
  });
  after(async () => {
    await browser?.close();
    await c?.close();
  });

  it('console: the health grid shows every endpoint × prober with each vote and its age', async () => {
    await page.goto(`${base}/`);
    const health = page.locator('section[aria-label="health"]');
    await health.locator('tbody tr').first().waitFor();
    const heads = await health.locator('thead th').allTextContents();
    assert.deepEqual(heads.filter((t) => t.startsWith('vote of ')).sort(), [
      'vote of bj-a',
      'vote of gz-a',
      'vote of sh-a',
      'vote of sh-b',
    ]);
    const rows = health.locator('tbody tr');
    const ids = await rows.evaluateAll((trs) => trs.map((tr) => tr.querySelector('td b')?.textContent ?? ''));
    assert.deepEqual([...ids].sort(), ['bj-a/router', 'gz-a/router', 'sh-a/router', 'sh-b/router']);
    // every cell: the prober's vote and how old it is, all fresh and up on a healthy cluster
    await until('every vote is fresh and up', async () => {
      const cells = await rows.evaluateAll((trs) =>
        trs.flatMap((tr) => [...tr.querySelectorAll('td')].slice(2).map((td) => (td.textContent ?? '').trim())),
      );
      return cells.length === 16 && cells.every((x) => /^up\s+[\d.]+ s old/.test(x));
    });
    await health.scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${SHOTS}/health-grid.png` });
    assert.deepEqual(consoleErrors, []);
  });

  it('console: a zone declared down reads in words — by whom, and what moved where', async () => {
    const r = await request(`${base}/api/drill/kill`, { method: 'POST', body: '{"zone":"gz-a","mode":"kill"}' });
    assert.equal(r.statusCode, 200, await r.body.text());
    const said =
      /gz-a declared down by (\d of \d probers \([a-z, -]+\)|the control plane's direct check); 16 shards moved to [a-z, -]+ at epoch \d+/;
    await until('the verdict in words', async () => said.test((await page.textContent('.audit')) ?? ''), 600);
    // the health grid shows gz-a's router voted down
    await until('gz-a/router down in the grid', async () =>
      /down/.test(
        (await page.textContent('section[aria-label="health"] tbody tr:has-text("gz-a/router") td:nth-child(2)')) ?? '',
      ),
    );
    await page.locator('section[aria-label="audit log"]').scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${SHOTS}/audit-words.png` });
    const restore = await request(`${base}/api/drill/restore`, { method: 'POST', body: '{"zone":"gz-a"}' });
    await restore.body.dump();
    assert.deepEqual(consoleErrors, []);
  });
});
