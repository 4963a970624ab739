import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { parseTopology } from '../../src/topology/index.ts';
import { deliveryTopologyYaml, FENCE_POINT, ZONES } from './delivery-support.ts';

const HERE = new URL('.', import.meta.url).pathname;

it("delivery: start.sh's topology.yaml is valid and has the tests' shards, fences, mappings and resources", () => {
  const file = parseTopology(readFileSync(`${HERE}topology.yaml`, 'utf8'), 'topology.yaml');
  const apps = Object.fromEntries(ZONES.map((z, i) => [z, 20000 + i]));
  const routers = Object.fromEntries(ZONES.map((z, i) => [z, 20010 + i]));
  const edges = Object.fromEntries(ZONES.map((z, i) => [z, 20020 + i]));
  const tests = parseTopology(deliveryTopologyYaml({ apps, routers, edges, keyFile: '/k', shards: 1024 }));
  assert.deepEqual(file.config.shards, tests.config.shards);
  assert.deepEqual(file.config.resources, tests.config.resources);
  assert.equal(file.coreZone, 'sh-a');
  assert.deepEqual(
    file.config.replication.tables?.tables.map((t) => [t.name, t.class, t.conflict]),
    [
      ['dishes', 'global', 'lock'],
      ['menus', 'global', 'lock'],
      ['quota_leases', 'global', 'lock'],
      ['orders', 'sharded', 'lock'],
    ],
  );
  // each zone's sample point falls in that zone's fence, and the fences give distinct shards
  const shards = new Set(Object.keys(file.config.shards.fences).map((f) => file.fenceShard(f)));
  assert.equal(shards.size, 4);
  assert.deepEqual(Object.keys(FENCE_POINT).sort(), [...ZONES].sort());
});
