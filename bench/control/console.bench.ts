// The operator console's cost: page weight (JS, CSS and HTML, gzipped as the control API serves
// them), time to first render in Debian's Chromium (navigation start → every zone card drawn,
// median of 5 cold loads), and the control API's extra CPU with the page open (whole process,
// page open vs. closed over the same window, per snapshot and as a share of one core).
// `npm run bench -- control [--seconds N]` (default 30 s per CPU window).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { silentLogger } from '../../src/core/logger.ts';
import { startCluster } from '../../src/runtime/index.ts';
import { testTopology } from '../../test/support/net.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const at = process.argv.indexOf('--seconds');
const SECONDS = at > 0 ? Number(process.argv[at + 1]) : 30;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function snapshots(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Number(/^mz_control_snapshots_total (\S+)$/m.exec(text)?.[1] ?? 0);
}

/** CPU ms this process used over `seconds` of wall time, and the snapshots built meanwhile. */
async function window(base: string, seconds: number) {
  const s0 = await snapshots(base);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const c1 = process.cpuUsage(c0);
  const wallMs = performance.now() - t0;
  return { cpuMs: (c1.user + c1.system) / 1000, wallMs, snapshots: (await snapshots(base)) - s0 };
}

async function main() {
  const b = spawnSync(process.execPath, ['scripts/build-console.mjs'], { stdio: 'inherit' });
  if (b.status !== 0) throw new Error('building the console failed');
  const weight: Record<string, { raw: number; gzip: number }> = {};
  for (const f of ['app.js', 'app.css', 'index.html']) {
    const body = readFileSync(`dist/console/${f}`);
    weight[f] = { raw: body.length, gzip: gzipSync(body, { level: 9 }).length };
  }
  console.log('page weight (bytes)');
  for (const [f, w] of Object.entries(weight))
    console.log(`  ${f.padEnd(11)} ${String(w.raw).padStart(7)} raw  ${String(w.gzip).padStart(6)} gzip`);

  const topology = testTopology({
    roles: ['app', 'router'],
    extra: 'shards:\n  count: 1024\nresources:\n  profiles: { class: sharded }\n',
  });
  const c = await startCluster({ topology, control: { host: '127.0.0.1', port: 0 }, logger: silentLogger });
  const base = `http://${c.control.host}:${c.control.port}`;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  try {
    const firstRender: number[] = [];
    const parts: string[] = [];
    // one page warms the browser up (its first process start is not the page's cost)
    const warm = await browser.newPage();
    await warm.goto(`${base}/`);
    await warm.waitForSelector('.grid i');
    await warm.close();
    for (let i = 0; i < 5; i++) {
      const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
      const page = await ctx.newPage();
      await page.goto(`${base}/`, { waitUntil: 'commit' });
      await page.waitForSelector('.zone[data-zone="gz-a"]');
      await page.waitForSelector('.grid i');
      const t = await page.evaluate(() => {
        const nav = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined;
        const js = performance.getEntriesByName(`${location.origin}/console/app.js`)[0] as
          | PerformanceResourceTiming
          | undefined;
        const mark = (n: string) => performance.getEntriesByName(n)[0]?.startTime ?? 0;
        return {
          now: performance.now(),
          html: nav?.responseEnd ?? 0,
          js: js?.responseEnd ?? 0,
          snap: mark('mz-first-snapshot'),
          drawn: mark('mz-first-render'),
        };
      });
      firstRender.push(t.drawn || t.now);
      parts.push(
        `html ${t.html.toFixed(0)}, js ${t.js.toFixed(0)}, first snapshot ${t.snap.toFixed(0)}, drawn ${t.drawn.toFixed(0)}`,
      );
      await ctx.close();
    }
    console.log(
      `time to first render (navigation → zones and shard grid drawn): median ${median(firstRender).toFixed(0)} ms`,
    );
    for (const p of parts) console.log(`  ${p} ms`);

    // CPU per snapshot, directly: 50 builds to warm up, then three runs of 100 in process one
    // after another; the raw figure, and the figure less what the idle cluster used over the
    // same wall time (the median of each)
    const control = c.services.control;
    for (let i = 0; i < 50; i++) await control.get('/api/snapshot');
    const idleBase = await window(base, 3);
    const idlePerMs = idleBase.cpuMs / idleBase.wallMs;
    const raw: number[] = [];
    const net: number[] = [];
    for (let k = 0; k < 3; k++) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < 100; i++) await control.get('/api/snapshot');
      const used = process.cpuUsage(c0);
      const ms = (used.user + used.system) / 1000;
      raw.push(ms / 100);
      net.push((ms - idlePerMs * (performance.now() - t0)) / 100);
    }
    console.log(
      `snapshot build: ${median(raw).toFixed(2)} ms CPU each raw, ${median(net).toFixed(2)} ms less the idle cluster (runs of 100: ${raw.map((x) => x.toFixed(2)).join(', ')}); one per second with a page open: ${(median(raw) / 10).toFixed(2)} % of one core`,
    );

    // closed and open windows alternate three times: other load on the machine drifts, and the
    // medians of the pairs' differences hold up better than one pair
    const shares: number[] = [];
    const perSnapshot: number[] = [];
    for (let round = 0; round < 3; round++) {
      await sleep(1000);
      const idle = await window(base, SECONDS);
      const ctx = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
      const page = await ctx.newPage();
      await page.goto(`${base}/`);
      await page.waitForSelector('.zone');
      await sleep(1000);
      const open = await window(base, SECONDS);
      await ctx.close();
      const extraMs = open.cpuMs - (idle.cpuMs * open.wallMs) / idle.wallMs;
      shares.push(extraMs / open.wallMs);
      perSnapshot.push(extraMs / Math.max(1, open.snapshots));
      console.log(
        `  round ${round + 1}: closed ${idle.cpuMs.toFixed(0)} ms CPU, open ${open.cpuMs.toFixed(0)} ms CPU over ${SECONDS} s, ${open.snapshots} snapshots`,
      );
    }
    console.log(
      `control API extra CPU with the page open (median of 3): ${(median(shares) * 100).toFixed(2)} % of one core (goal < 2 %), ${median(perSnapshot).toFixed(2)} ms per snapshot`,
    );
    console.log(`  node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} × ${cpus().length}`);
  } finally {
    await browser.close();
    await c.close();
  }
}

await main();
