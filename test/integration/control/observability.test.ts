/**
 * deploy/observability: the Prometheus alert rules pass `promtool check rules` and their unit
 * tests (`promtool test rules`), and every metric the rules and the Grafana dashboard use is one
 * the code registers. With CI=true a missing promtool (Debian package prometheus) fails the
 * test; elsewhere it skips.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const DIR = 'deploy/observability';
const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));
if (!PROMTOOL && process.env.CI === 'true')
  throw new Error('observability test: no promtool (CI must have the Debian package prometheus)');

/** Every `mz_*` metric name registered in src/ (the `name: 'mz_…'` of prom-client, or a counter helper's first argument). */
function registeredMetrics(): Set<string> {
  const out = new Set<string>();
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts') && !p.endsWith('.test.ts'))
        for (const m of readFileSync(p, 'utf8').matchAll(/'(mz_[a-z0-9_]+)'/g)) out.add(m[1]!);
    }
  };
  walk('src');
  return out;
}

/** Metric names an expression uses (names before `{`, `[` or `)`; functions and labels are not `mz_*`). */
function usedMetrics(text: string): Set<string> {
  return new Set([...text.matchAll(/\b(mz_[a-z0-9_]+)\b/g)].map((m) => m[1]!));
}

describe('observability: alert rules and the Grafana dashboard', () => {
  it('observability: promtool checks the rules and passes their unit tests', {
    skip: PROMTOOL ? false : 'no promtool',
  }, () => {
    const check = spawnSync(PROMTOOL!, ['check', 'rules', 'alerts.yml'], { cwd: DIR, encoding: 'utf8' });
    assert.equal(check.status, 0, check.stdout + check.stderr);
    assert.match(check.stdout, /SUCCESS: 5 rules found/);
    const test = spawnSync(PROMTOOL!, ['test', 'rules', 'alerts.test.yml'], { cwd: DIR, encoding: 'utf8' });
    assert.equal(test.status, 0, test.stdout + test.stderr);
  });

  it('observability: every metric of the rules and the dashboard is registered by the code', () => {
    const known = registeredMetrics();
    const rules = readFileSync(join(DIR, 'alerts.yml'), 'utf8');
    const dash = JSON.parse(readFileSync(join(DIR, 'grafana-dashboard.json'), 'utf8')) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    const exprs = dash.panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n');
    const used = new Set([...usedMetrics(rules), ...usedMetrics(exprs)]);
    for (const alert of ['ZoneDown', 'ReplicationLag', 'LeaseAboutToExpire', 'ConflictsOpen', 'DnsServfail'])
      assert.match(rules, new RegExp(`alert: Multizone${alert}\\b`));
    const missing = [...used].filter((m) => !known.has(m));
    assert.deepEqual(missing, [], 'metrics used but not registered');
    assert.ok(used.size >= 12, `the dashboard and rules use ${used.size} metrics`);
  });
});
