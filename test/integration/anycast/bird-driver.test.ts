// The BIRD driver against a real BIRD 2 (Debian package bird2): start with nothing announced,
// announce, prepend and withdraw through bird.conf + `birdc configure`, read the sessions,
// stop, and the coded errors (bird missing, configuration refused, socket unreachable). No
// network namespaces needed: the export filter's effect is read with `birdc show route filter`.
// Skips without bird (fails when CI=true); the end-to-end test with real sessions is
// anycast-lab.test.ts.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { birdFiles, birdSpeaker, findProgram, type Speaker } from '../../../src/anycast/index.ts';
import { systemClock } from '../../../src/core/clock.ts';
import type { AnycastConfig } from '../../../src/topology/index.ts';
import { until } from '../../support/until.ts';

const why =
  findProgram('bird') && findProgram('birdc') ? undefined : 'bird/birdc not installed (apt-get install bird2)';
if (why && process.env.CI === 'true') throw new Error(`the BIRD driver test cannot run and CI=true: ${why}`);

function config(dir: string, o: Partial<AnycastConfig> = {}): AnycastConfig {
  // a port of its own above 10000 (BIRD listens on its local port), so parallel runs do not collide
  const port = 20_000 + (process.pid % 20_000);
  return {
    localAs: 65001,
    prefixes: {
      dns: { prefix: '10.79.9.53/32', role: 'dns', communities: ['65001:100'] },
      edge: { prefix: '10.79.9.0/24', role: 'edge', communities: [] },
    },
    zones: {
      'drv-a': {
        routerId: '10.79.0.11',
        port,
        neighbors: [{ address: '10.79.0.1', as: 65000, port: port + 1 }],
        prepend: 1,
        med: 20,
      },
    },
    onDown: 'prepend',
    downPrepend: 3,
    riseMs: 0,
    checkMs: 500,
    withdrawGraceMs: 0,
    bgp: { holdTimeS: 9, keepaliveS: 3, connectRetryS: 5 },
    bird: { bin: 'bird', birdc: 'birdc', dir },
    ...o,
  };
}

/** What the zone's BIRD exports through its filter: prefix → AS path, MED and communities. */
function exported(cfg: AnycastConfig): Map<string, string> {
  const out = execFileSync(
    'birdc',
    ['-s', birdFiles(cfg, 'drv-a').sock, 'show', 'route', 'all', 'filter', 'mz_export'],
    {
      encoding: 'utf8',
    },
  );
  const routes = new Map<string, string>();
  let cur = '';
  for (const line of out.split('\n')) {
    const m = /^(\d+\.\d+\.\d+\.\d+\/\d+)\s/.exec(line);
    if (m) {
      cur = m[1]!;
      routes.set(cur, '');
    } else if (cur && /BGP\.(as_path|med|community):/.test(line)) routes.set(cur, `${routes.get(cur)}${line.trim()}; `);
  }
  return routes;
}

describe('anycast/bird: the driver against a real BIRD', { skip: why }, () => {
  let dir = '';
  const speakers: Speaker[] = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'mz-anycast-drv-'));
  });
  after(async () => {
    for (const s of speakers) await s.stop().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it('anycast/bird: announces, prepends and withdraws through birdc configure; reads its sessions; stops', async () => {
    const cfg = config(dir);
    const s = birdSpeaker({ config: cfg, zone: 'drv-a', clock: systemClock });
    speakers.push(s);
    await s.start();
    assert.equal(exported(cfg).size, 0, 'starts with nothing announced');
    const sessions = await s.sessions();
    assert.deepEqual(
      sessions.map((x) => [x.name, x.established]),
      [['mz_up1', false]],
    );

    await s.apply([
      { name: 'dns', prefix: '10.79.9.53/32', action: 'announce' },
      { name: 'edge', prefix: '10.79.9.0/24', action: 'withdraw' },
    ]);
    assert.deepEqual(
      [...exported(cfg)],
      [['10.79.9.53/32', 'BGP.as_path: 65001; BGP.med: 20; BGP.community: (65001,100); ']],
      'the zone prepends once (zones.drv-a.prepend), sends its MED and the prefix’s community',
    );

    await s.apply([
      { name: 'dns', prefix: '10.79.9.53/32', action: 'prepend' },
      { name: 'edge', prefix: '10.79.9.0/24', action: 'announce' },
    ]);
    const e = exported(cfg);
    assert.equal(
      e.get('10.79.9.53/32'),
      'BGP.as_path: 65001 65001 65001 65001; BGP.med: 20; BGP.community: (65001,100); ',
    );
    assert.equal(e.get('10.79.9.0/24'), 'BGP.as_path: 65001; BGP.med: 20; ');

    await s.apply([
      { name: 'dns', prefix: '10.79.9.53/32', action: 'withdraw' },
      { name: 'edge', prefix: '10.79.9.0/24', action: 'withdraw' },
    ]);
    assert.equal(exported(cfg).size, 0);

    await s.stop();
    await assert.rejects(s.sessions(), { code: 'ERR_ANYCAST_BIRDC_UNREACHABLE' });
  });

  it('anycast/bird: a BIRD killed under the zone is started again with the last plan; stop does not restart it', async () => {
    const cfg = config(dir);
    const events: boolean[] = [];
    const s = birdSpeaker({ config: cfg, zone: 'drv-a', clock: systemClock, onRestart: (e) => events.push(e.ok) });
    speakers.push(s);
    await s.start();
    await s.apply([
      { name: 'dns', prefix: '10.79.9.53/32', action: 'announce' },
      { name: 'edge', prefix: '10.79.9.0/24', action: 'withdraw' },
    ]);
    const pidFile = birdFiles(cfg, 'drv-a').pid;
    const first = Number(readFileSync(pidFile, 'utf8'));
    process.kill(first, 'SIGKILL');
    await until('BIRD started again', async () => {
      try {
        return s.restarts() === 1 && (await s.sessions()).length === 1;
      } catch {
        return false;
      }
    });
    assert.notEqual(Number(readFileSync(pidFile, 'utf8')), first);
    assert.deepEqual([...exported(cfg).keys()], ['10.79.9.53/32'], 'it announces what the zone announced');
    assert.deepEqual(events, [true]);
    await s.stop();
    await new Promise((r) => setTimeout(r, 1500)); // past the first restart wait
    await assert.rejects(s.sessions(), { code: 'ERR_ANYCAST_BIRDC_UNREACHABLE' });
    assert.equal(s.restarts(), 1);
  });

  it('anycast/bird: a configuration BIRD refuses is ERR_ANYCAST_BIRD_CONFIG, and BIRD keeps the last good one', async () => {
    const cfg = config(join(dir, 'bad'));
    const s = birdSpeaker({ config: cfg, zone: 'drv-a', clock: systemClock });
    speakers.push(s);
    await s.start();
    await s.apply([{ name: 'dns', prefix: '10.79.9.53/32', action: 'announce' }]);
    // a prefix the schema would refuse, written anyway: BIRD's parser says no
    await assert.rejects(s.apply([{ name: 'dns', prefix: '10.79.9.53/40', action: 'announce' }]), {
      code: 'ERR_ANYCAST_BIRD_CONFIG',
    });
    assert.deepEqual([...exported(cfg).keys()], ['10.79.9.53/32']);
    await s.stop();
  });

  it('anycast/bird: without bird installed, start names the package', async () => {
    const cfg = config(join(dir, 'missing'), {
      bird: { bin: '/nonexistent/bird', birdc: 'birdc', dir: join(dir, 'missing') },
    });
    await assert.rejects(birdSpeaker({ config: cfg, zone: 'drv-a', clock: systemClock }).start(), {
      code: 'ERR_ANYCAST_BIRD_MISSING',
    });
  });
});
