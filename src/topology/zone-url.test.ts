import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { ConfigProblem } from '../core/config.ts';
import { coreErrors, hasCode, isPlatformError } from '../core/errors.ts';
import { DEFAULT_TOPOLOGY_FILE, parseTopology, processUrl, zoneUrl } from './index.ts';

const base = readFileSync(DEFAULT_TOPOLOGY_FILE, 'utf8');

/** The default topology with the four URL settings; `urls` overrides any of them. */
function withUrls(urls: Partial<Record<'pg' | 'redis' | 'nats' | 'kv', string>> = {}): string {
  const u = {
    pg: 'postgres://postgres@db-{zone}:5432/test?application_name=mz-{zone}',
    redis: 'redis://redis-{zone}:6379',
    nats: 'nats://nats:4222',
    kv: 'nats://nats:4222',
    ...urls,
  };
  return `${base}
store:
  adapter: postgres
  postgres:
    url: ${JSON.stringify(u.pg)}
replication:
  log: jetstream
  nats:
    url: ${JSON.stringify(u.nats)}
failover:
  kv:
    type: nats
    url: ${JSON.stringify(u.kv)}
session:
  adapter: redis
  redis:
    url: ${JSON.stringify(u.redis)}
`;
}

function problems(text: string): ConfigProblem[] {
  try {
    parseTopology(text, 'urls.yaml');
  } catch (e) {
    assert.ok(hasCode(e, coreErrors.ERR_CONFIG_INVALID), String(e));
    return ((e as { details: { problems: ConfigProblem[] } }).details.problems ?? []).filter(
      (p) => p.severity === 'error',
    );
  }
  assert.fail('expected the topology to be rejected');
}

test('zoneUrl: {zone} is the zone name, {zone_} the name with _ for -', () => {
  assert.equal(zoneUrl('redis://redis-{zone}:6379', 'sh-a'), 'redis://redis-sh-a:6379');
  assert.equal(
    zoneUrl('postgres://db/{zone_}?application_name=mz-{zone}', 'bj-a-2'),
    'postgres://db/bj_a_2?application_name=mz-bj-a-2',
  );
  assert.equal(zoneUrl('nats://{zone}.a:4222,{zone}.b:4222', 'gz-a'), 'nats://gz-a.a:4222,gz-a.b:4222');
  assert.equal(zoneUrl('nats://127.0.0.1:4222', 'gz-a'), 'nats://127.0.0.1:4222');
});

test('topology: {zone} and {zone_} are valid in every URL setting, and kept as written', () => {
  const t = parseTopology(
    withUrls({ nats: 'nats://nats-{zone_}:4222', kv: 'nats://kv-{zone}:4222', redis: 'redis://r/{zone_}' }),
    'urls.yaml',
  );
  assert.equal(t.config.store.postgres.url, 'postgres://postgres@db-{zone}:5432/test?application_name=mz-{zone}');
  assert.equal(t.config.session.redis.url, 'redis://r/{zone_}');
  assert.equal(t.config.replication.nats.url, 'nats://nats-{zone_}:4222');
  assert.equal(t.config.failover.kv.type === 'nats' && t.config.failover.kv.url, 'nats://kv-{zone}:4222');
});

// a bad value in each URL setting: the path of the setting, on the line the setting is on
const bad: { value: string; why: string }[] = [
  { value: 'postgres://db-{zon}:5432/test', why: 'a misspelt placeholder' },
  { value: 'redis://{ZONE}:6379', why: 'placeholders are lowercase' },
  { value: 'nats://{region}:4222', why: 'no other placeholder' },
  { value: 'nats://{zone-}:4222', why: 'only {zone_}, not {zone-}' },
  { value: 'nats://{}:4222', why: 'an empty placeholder' },
  { value: 'nats://{zone:4222', why: 'an unclosed placeholder' },
  { value: 'nats://zone}:4222', why: 'a stray closing brace' },
  { value: 'nats://{{zone}}:4222', why: 'doubled braces' },
  { value: '', why: 'an empty URL' },
];
const settings = [
  { key: 'pg', path: 'store.postgres.url' },
  { key: 'redis', path: 'session.redis.url' },
  { key: 'nats', path: 'replication.nats.url' },
  { key: 'kv', path: 'failover.kv.url' },
] as const;
for (const s of settings)
  for (const b of bad)
    test(`topology: ${s.path} rejects ${b.why} (${JSON.stringify(b.value)}) with its path and line`, () => {
      const text = withUrls({ [s.key]: b.value });
      const ps = problems(text);
      assert.deepEqual(
        ps.map((p) => p.path),
        [s.path],
        ps.map((p) => `${p.path}: ${p.message}`).join('\n'),
      );
      const p = ps[0]!;
      assert.equal(p.file, 'urls.yaml');
      assert.ok(p.column > 0);
      assert.equal(text.split('\n')[p.line - 1], `    url: ${JSON.stringify(b.value)}`);
      if (b.value) assert.match(p.message, /no placeholder but \{zone\} .* and \{zone_\}/);
    });

test('topology: an unknown placeholder is reported as file:line:col  path: message', () => {
  try {
    parseTopology(withUrls({ nats: 'nats://nats-{zon}:4222' }), 'urls.yaml');
    assert.fail('expected ERR_CONFIG_INVALID');
  } catch (e) {
    assert.ok(isPlatformError(e) && hasCode(e, coreErrors.ERR_CONFIG_INVALID), String(e));
    assert.match(e.message, /urls\.yaml:\d+:\d+ {2}replication\.nats\.url: .*\(found "nats:\/\/nats-\{zon\}:4222"\)/);
  }
});

test('processUrl: one zone substitutes it; no placeholder is the value itself', () => {
  const t = parseTopology(withUrls({ nats: 'nats://nats-{zone}:4222', kv: 'nats://kv-{zone_}:4222' }), 'urls.yaml');
  assert.equal(processUrl(t, ['replication', 'nats', 'url'], 'the log', ['sh-b']), 'nats://nats-sh-b:4222');
  assert.equal(processUrl(t, ['failover', 'kv', 'url'], 'the Kv', ['bj-a']), 'nats://kv-bj_a:4222');
  const plain = parseTopology(withUrls(), 'urls.yaml');
  assert.equal(processUrl(plain, ['replication', 'nats', 'url'], 'the log'), 'nats://nats:4222');
  assert.equal(processUrl(plain, ['replication', 'nats', 'url'], 'the log', ['sh-a', 'sh-b']), 'nats://nats:4222');
});

test('processUrl: {zone} in a URL several zones of a process share is ERR_CONFIG_INVALID at the setting', () => {
  const text = withUrls({ nats: 'nats://nats-{zone}:4222', kv: 'nats://kv-{zone}:4222' });
  const t = parseTopology(text, 'urls.yaml');
  const lines = text.split('\n');
  for (const [path, zones] of [
    [
      ['replication', 'nats', 'url'],
      ['sh-a', 'sh-b'],
    ],
    [['failover', 'kv', 'url'], undefined], // default: every zone of the topology
  ] as const) {
    try {
      processUrl(t, path, 'the shared thing', zones);
      assert.fail('expected ERR_CONFIG_INVALID');
    } catch (e) {
      assert.ok(isPlatformError(e) && hasCode(e, coreErrors.ERR_CONFIG_INVALID), String(e));
      const [p] = (e.details?.problems ?? []) as ConfigProblem[];
      assert.equal(p?.path, path.join('.'));
      assert.equal(p?.file, 'urls.yaml');
      assert.match(lines[p!.line - 1]!, /^ {4}url: "nats:\/\/(nats|kv)-\{zone\}:4222"$/);
      assert.match(p!.message, /shared by all zones of a process/);
      assert.ok(e.message.includes(`urls.yaml:${p!.line}:${p!.column}  ${path.join('.')}: `), e.message);
      assert.ok(e.message.includes(zones ? 'sh-a, sh-b' : 'sh-a, sh-b, bj-a, gz-a'), e.message);
    }
  }
});
