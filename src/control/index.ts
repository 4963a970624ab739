/** Control plane: admin API, metrics, the console (and the classic dashboard). See README.md. */

export { ClusterCalls, FORWARD_TIMEOUT_MS, loopback, type Peer, type Unreached } from './cluster-calls.ts';
export { type ConsoleOptions, type ConsoleSample, registerConsole } from './console.ts';
export { DASHBOARD_HTML, DASHBOARD_SCRIPT, registerDashboard } from './dashboard.ts';
export { controlErrors } from './errors.ts';
export { readBody, readParams, sendError, sendJson } from './http-json.ts';
export { type ResolveAllReply, type ResolvedAcross, resolveAcross } from './resolve-across.ts';
export { type ControlApi, type ControlHandler, ControlServer, FORWARDED_HEADER, isForwarded } from './server.ts';
