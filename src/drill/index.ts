/** Drills: fault a zone under traffic and measure RTO, RPO, WRT, misrouted and lost writes. See README.md. */

export type { AckedWrite, ReadBack } from './accounts-workload.ts';
export { commandFault } from './command-fault.ts';
export type { DeliveryFigures } from './delivery-workload.ts';
export { type DrillRun, type DrillRunDeps, registerDrillRuns } from './drill-runs.ts';
export { drillErrors } from './errors.ts';
export { type FaultTargets, registerDrillRoutes, type ZoneSwitch } from './fault-routes.ts';
export { runDrill } from './runner.ts';
export type {
  AnycastFigures,
  ClusterState,
  DrillOptions,
  DrillProgress,
  DrillReport,
  ExternalFault,
  RestoreData,
} from './types.ts';
