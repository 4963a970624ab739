/** The runtime: starts a zone process (or all zones) in a fixed order, with the app passed in. See README.md. */

export { echoAppRole, startEchoApp } from './echo-app.ts';
export {
  type Endpoint,
  type LinkSummary,
  PROC_PREFIX,
  type ProcessRecord,
  ProcessRegistry,
  type ProcessView,
} from './registry.ts';
export type {
  AppContext,
  AppRole,
  AppServer,
  DataServices,
  FailoverServices,
  Foundation,
  ListenerInfo,
  Services,
  ShardMapServices,
  Started,
  ZoneServices,
} from './services.ts';
export { type ClusterOptions, type RunningCluster, startCluster } from './start-cluster.ts';
