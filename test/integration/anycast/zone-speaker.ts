// One zone of the anycast end-to-end test, run inside the zone's network namespace:
// `node --import ./bin/ts.mjs zone-speaker.ts CONFIG.json ZONE DIR`. It answers DNS on the
// anycast address (id.server → the zone) and runs the zone's Announcer with a real BIRD. The
// role's health is the file DIR/ZONE.unhealthy (absent = healthy); the lease is held. On
// SIGTERM it shuts down as the runtime does: withdraw, close the listener, stop BIRD; on
// SIGUSR2 it writes its announcer's state to DIR/ZONE.state.json.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Announcer, anycastAddresses, birdSpeaker } from '../../../src/anycast/index.ts';
import { systemClock } from '../../../src/core/clock.ts';
import { startDnsServer } from '../../../src/dns/index.ts';
import { TableGeoDb } from '../../../src/geo/index.ts';
import { createSteering } from '../../../src/steering/index.ts';
import type { AnycastConfig } from '../../../src/topology/index.ts';
import { dnsTopology } from '../dns/helpers.ts';

const [file, zone, dir] = process.argv.slice(2) as [string, string, string];
const config = JSON.parse(readFileSync(file, 'utf8')) as AnycastConfig;
const topology = dnsTopology('dns:\n  rrl: { enabled: false }\n');
const steering = createSteering({ topology, geo: new TableGeoDb([]) });
const servers = await Promise.all(
  anycastAddresses(config, zone, 'dns').map((host) =>
    startDnsServer({ topology, steering, host, port: 53, zone, clock: systemClock }),
  ),
);
const announcer = new Announcer({
  zone,
  config,
  clock: systemClock,
  speaker: birdSpeaker({ config, zone, clock: systemClock }),
  inputs: {
    healthy: () => !existsSync(join(dir, `${zone}.unhealthy`)),
    leaseHeld: () => true,
    failedOver: () => false,
  },
});
await announcer.start();
process.on('SIGTERM', () => {
  void (async () => {
    await announcer.withdrawAll();
    for (const s of servers) await s.close();
    await announcer.stop();
    process.exit(0);
  })();
});
// SIGUSR2: the announcer's state (prefixes, sessions) into DIR/ZONE.state.json, for the test to read
process.on('SIGUSR2', () => writeFileSync(join(dir, `${zone}.state.json`), JSON.stringify(announcer.state())));
console.log(`zone-speaker ${zone} ready`);
