/** Control plane: admin API, metrics, dashboard. See README.md. */

export { DASHBOARD_HTML, DASHBOARD_SCRIPT, registerDashboard } from './dashboard.ts';
export { controlErrors } from './errors.ts';
export { readBody, readParams, sendError, sendJson } from './http-json.ts';
export { type ControlApi, type ControlHandler, ControlServer } from './server.ts';
