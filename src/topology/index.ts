/** Topology: regions, zones, services, policies, shards, resources; validated YAML. See README.md. */

export { topologyErrors } from './errors.ts';
export {
  type AppRun,
  checkTopology,
  DEFAULT_TOPOLOGY_FILE,
  type ExternalApp,
  type HostPort,
  loadTopology,
  parseHostPort,
  parseTopology,
  type Topology,
  type Zone,
} from './model.ts';
export { processUrl } from './process-url.ts';
export {
  type KeySource,
  type PolicyConfig,
  type ResourceConfig,
  ROLES,
  type Role,
  type ServiceConfig,
  type Tier,
  type TopologyConfig,
  type TopologyInput,
  topologySchema,
  type ZoneConfig,
} from './schema.ts';
export type { AnycastConfig, AnycastPrefixConfig, AnycastZoneConfig } from './sections/anycast.ts';
export { APP_PLACEHOLDERS } from './sections/app.ts';
export type { ReplicatedTableConfig, ReplicationTablesConfig } from './sections/replication-tables.ts';
export { zoneUrl } from './zone-url.ts';
