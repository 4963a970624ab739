import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testTopology } from '../../test/support/net.ts';
import { isPlatformError } from '../core/errors.ts';

/** Bad `edge:` sections: the YAML, then the path the error must name. */
const BAD: [string, string][] = [
  ['edge:\n  origin: ftp://x\n', 'edge.origin'],
  ['edge:\n  cache: { memoryBytes: 10 }\n', 'edge.cache.memoryBytes'],
  ['edge:\n  cache: { heuristicFraction: 2 }\n', 'edge.cache.heuristicFraction'],
  ['edge:\n  limits: { maxUrlBytes: 10 }\n', 'edge.limits.maxUrlBytes'],
  ['edge:\n  dynamicPrefixes: [api]\n', 'edge.dynamicPrefixes.0'],
  ['edge:\n  parents: [not-a-url]\n', 'edge.parents.0'],
  ['edge:\n  tls: { cert: a.pem }\n', 'edge.tls.key'],
  ['edge:\n  demoOrigin: nowhere\n', 'edge.demoOrigin'],
  ['edge:\n  cache: { ttl: 5 }\n', 'edge.cache.ttl'],
  ['edge:\n  colour: blue\n', 'edge.colour'],
  ['edge:\n  hosts: ["shop test"]\n', 'edge.hosts.0'],
  ['edge:\n  hosts: [a/b]\n', 'edge.hosts.0'],
];

test('edge/config: each bad edge section fails validation at its path', () => {
  for (const [yaml, path] of BAD) {
    assert.throws(
      () => testTopology({ roles: ['edge'], extra: yaml }),
      (e: unknown) => {
        assert.ok(isPlatformError(e));
        assert.equal(e.code, 'ERR_CONFIG_INVALID');
        const problems = (e.details?.problems ?? []) as { path: string }[];
        assert.ok(
          problems.some((p) => p.path === path),
          `${yaml.trim()} → ${problems.map((p) => p.path).join(', ')}`,
        );
        return true;
      },
    );
  }
});

test('edge/config: an empty section takes every default', () => {
  const t = testTopology({ roles: ['edge'] });
  assert.equal(t.config.edge.cache.memoryBytes, 64 * 1024 * 1024);
  assert.deepEqual(t.config.edge.dynamicPrefixes, ['/api/']);
  assert.equal(t.config.edge.adminToken, '');
  assert.deepEqual(t.config.edge.hosts, []);
  assert.equal(t.config.edge.cache.negative5xxSeconds, 0);
});
