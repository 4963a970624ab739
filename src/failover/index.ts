/** Failover: zone verdicts, the controller that moves shards with epochs, planned switchover and failback. See README.md. */

export { type AuditEntry, AuditLog, describeAudit } from './audit.ts';
export {
  type ControllerOptions,
  FailoverController,
  type HealthVerdicts,
  type ReplicationHook,
  type ZoneState,
} from './controller.ts';
export { failoverErrors } from './errors.ts';
export { planGlobal, planMoves } from './placement.ts';
export { registerFailoverRoutes, zoneOf } from './routes.ts';
export { steeringMarks } from './steering-marks.ts';
export { routerProbe } from './zone-probe.ts';
