/** The lab: a multi-zone cluster in network namespaces on one Linux box, and drills against it. See README.md. */

export type { AnycastFigures } from '../drill/index.ts';
export {
  AnycastWatch,
  anycastAnsweredBy,
  anycastAvailable,
  routerRoutes,
} from './anycast-lab.ts';
export {
  healthBoundMs,
  type LabOutageOptions,
  type LabOutageReport,
  type LabRestartReport,
  runLabOutage,
  runLabRestart,
} from './checks.ts';
export { type DelayProxy, type DelayProxyOptions, startDelayProxy } from './delay-proxy.ts';
export {
  failBackAndWait,
  LAB_FAULTS,
  type LabDrillOptions,
  type LabFault,
  rtoQuantile,
  runLabDrills,
} from './drill.ts';
export { labErrors } from './errors.ts';
export {
  DEFAULT_LAB_DIR,
  type LabDownOptions,
  type LabInfo,
  type LabUpOptions,
  labDown,
  labInfo,
  labUp,
  preflight,
} from './lab.ts';
export { type LabState, type LabTiming, readState } from './state.ts';
export {
  LAB_ANYCAST,
  type LabLayout,
  type LabZone,
  labLayout,
  renderLabYaml,
  renderNatsConf,
  renderRouterBirdConf,
} from './topology-gen.ts';
