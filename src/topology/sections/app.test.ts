import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isPlatformError } from '../../core/errors.ts';
import { parseTopology } from '../model.ts';
import { appSection } from './app.ts';

test('topology/app: an upstream and a key file are enough; health defaults to /healthz', () => {
  const c = appSection.parse({ upstream: 'http://127.0.0.1:19001', keyFile: '/etc/mz/app-key' });
  assert.equal(c.health, '/healthz');
  assert.equal(
    appSection.parse({ upstream: 'http://app-{zone}.internal:8080', keyFile: 'k-{zone_}' }).keyFile,
    'k-{zone_}',
  );
});

test('topology/app: a command with its environment; placeholders kept for the runtime to fill', () => {
  const c = appSection.parse({
    upstream: 'http://127.0.0.1:19001',
    keyFile: 'k',
    name: 'delivery',
    command: ['{node}', 'service.ts'],
    env: { PORT: '{port}', PG: 'postgres://db/app_{zone_}', TOKEN: '{edgeToken}', JSON: '{"leaseMs": 10}' },
  });
  assert.deepEqual(c.command, ['{node}', 'service.ts']);
  assert.equal(c.env.PG, 'postgres://db/app_{zone_}');
  assert.equal(c.env.JSON, '{"leaseMs": 10}'); // braces that name no placeholder are text
  assert.equal(c.startTimeoutMs, 30_000);
  assert.deepEqual(appSection.parse({ upstream: 'http://127.0.0.1:19001', keyFile: 'k' }).env, {});
});

test('topology/app: bad config is rejected at the right path', () => {
  const ok = { upstream: 'http://127.0.0.1:19001', keyFile: 'k' };
  const cases: [unknown, string][] = [
    [{ keyFile: 'k' }, 'upstream'],
    [{ upstream: 'http://127.0.0.1:19001' }, 'keyFile'],
    [{ ...ok, upstream: 'http://127.0.0.1' }, 'upstream'], // no port
    [{ ...ok, upstream: 'https://127.0.0.1:443' }, 'upstream'],
    [{ ...ok, upstream: 'http://127.0.0.1:8080/base' }, 'upstream'],
    [{ ...ok, upstream: 'http://u:p@127.0.0.1:8080' }, 'upstream'],
    [{ ...ok, upstream: 'http://{region}:8080' }, 'upstream'],
    [{ ...ok, health: 'healthz' }, 'health'],
    [{ ...ok, keyFile: '/etc/{host}/key' }, 'keyFile'],
    [{ ...ok, typo: 1 }, ''],
    [{ ...ok, command: [] }, 'command'],
    [{ ...ok, command: ['{python}', 'app.py'] }, 'command.0'],
    [{ ...ok, command: ['node'], env: { PORT: '{region}' } }, 'env.PORT'],
    [{ ...ok, command: ['node'], env: { 'BAD-NAME': 'x' } }, 'env.BAD-NAME'],
    [{ ...ok, name: 'Delivery' }, 'name'],
    [{ ...ok, startTimeoutMs: 5 }, 'startTimeoutMs'],
  ];
  for (const [input, path] of cases) {
    const r = appSection.safeParse(input);
    assert.equal(r.success, false, JSON.stringify(input));
    if (!r.success) assert.equal(r.error.issues[0]!.path.join('.'), path, JSON.stringify(input));
  }
});

const yaml = (zoneExtra: string) => `name: t
apex: t.test
regions: { east: {} }
zones:
  sh-a:
    region: east
    core: true
    backups: [sh-b]
    listen: { router: 127.0.0.1:18081 }
    app: { upstream: 'http://app-{zone}:18082', keyFile: '/keys/{zone_}' }
  sh-b:
    region: east
    backups: [sh-a]
${zoneExtra}
services:
  api.t.test: { role: router }
policies:
  nearest: { default: [sh-a, sh-b] }
`;

test('topology/app: placeholders name the zone; the upstream becomes the zone’s app listener', () => {
  const t = parseTopology(yaml('    listen: { router: 127.0.0.2:18081, app: 127.0.0.2:18082 }'));
  const a = t.zone('sh-a');
  assert.deepEqual(a.external, {
    url: 'http://app-sh-a:18082',
    host: 'app-sh-a',
    port: 18082,
    health: '/healthz',
    keyFile: '/keys/sh_a',
    name: undefined,
    run: undefined,
  });
  assert.deepEqual(a.listen.app, { host: 'app-sh-a', port: 18082 });
  assert.equal(t.zone('sh-b').external, undefined);
});

test('topology/app: app together with listen.app, or on another listener’s port, is refused with its line', () => {
  const both = yaml(
    '    listen: { router: 127.0.0.2:18081, app: 127.0.0.2:18082 }\n    app: { upstream: "http://127.0.0.2:18083", keyFile: k }',
  );
  const clash = yaml(
    '    listen: { router: 127.0.0.2:18081 }\n    app: { upstream: "http://127.0.0.2:18081", keyFile: k }',
  );
  for (const [text, path, line] of [
    [both, 'zones.sh-b.app', 15],
    [clash, 'zones.sh-b.app.upstream', 15],
  ] as const) {
    try {
      parseTopology(text, 'f.yaml');
      assert.fail('accepted');
    } catch (e) {
      assert.ok(isPlatformError(e));
      assert.equal(e.code, 'ERR_CONFIG_INVALID');
      const problems = (e.details as { problems: { path: string; line: number }[] }).problems;
      const p = problems.find((x) => x.path === path);
      assert.ok(p, JSON.stringify(problems));
      assert.equal(p.line, line);
    }
  }
});
