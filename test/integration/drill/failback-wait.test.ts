// The drill's --failback after a restore: the leader refuses until the zone is up with a valid
// lease (ERR_FAILOVER_NOT_READY); the drill waits and tries again instead of reporting a
// failed failback, and reports any other refusal at once. A real HTTP server plays the
// control API.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, test } from 'node:test';
import { Agent } from 'undici';
import { systemClock } from '../../../src/core/clock.ts';
import { failBack } from '../../../src/drill/fault.ts';

let server: Server;
let base = '';
const dispatcher = new Agent();
/** What the fake leader does: lease valid from the Nth shardmap read, refusals before the Nth POST. */
const script = { validFrom: 3, readyFrom: 2, other: false, reads: 0, posts: 0 };

before(async () => {
  server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.url?.startsWith('/api/shardmap')) {
      script.reads++;
      return send(200, {
        count: 4,
        shards: [],
        states: { 'gz-a': { state: 'healthy', up: true } },
        zones: { 'gz-a': { lease: { valid: script.reads >= script.validFrom } } },
        config: { leaseMs: 2000 },
      });
    }
    if (req.url === '/api/failback' && req.method === 'POST') {
      script.posts++;
      if (script.other) return send(409, { error: 'ERR_FAILOVER_LAG_TIMEOUT', message: 'lag' });
      if (script.posts < script.readyFrom)
        return send(400, {
          error: 'ERR_FAILOVER_NOT_READY',
          message: 'failback: gz-a is not up with a valid lease yet',
        });
      return send(200, { zone: 'gz-a', moved: 256, tookMs: 10 });
    }
    send(404, { error: 'ERR_CONTROL_NOT_FOUND' });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(async () => {
  await dispatcher.close();
  await new Promise<void>((r) => server.close(() => r()));
});

test('drill failback: waits for a valid lease, retries ERR_FAILOVER_NOT_READY, then moves the shards', async () => {
  Object.assign(script, { validFrom: 3, readyFrom: 2, other: false, reads: 0, posts: 0 });
  const r = await failBack({ base, dispatcher, clock: systemClock }, 'gz-a', systemClock);
  assert.deepEqual({ moved: (r as { moved?: number }).moved }, { moved: 256 }, JSON.stringify(r));
  assert.ok(script.reads >= 3, 'it waited for the lease before asking');
  assert.equal(script.posts, 2, 'the NOT_READY refusal was tried again once');
});

test('drill failback: another refusal is reported at once, not retried', async () => {
  Object.assign(script, { validFrom: 1, readyFrom: 1, other: true, reads: 0, posts: 0 });
  const r = await failBack({ base, dispatcher, clock: systemClock }, 'gz-a', systemClock);
  assert.match(String((r as { error?: string }).error), /ERR_FAILOVER_LAG_TIMEOUT/);
  assert.equal(script.posts, 1);
});
