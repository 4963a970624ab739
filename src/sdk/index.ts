/**
 * `multizone/sdk` for Node: the browser-safe resolver (browser.ts) plus the system
 * resolver fallback and IP-direct connection helpers (node.ts). See README.md.
 */
export * from './browser.ts';
export {
  createDispatcher,
  createLookup,
  createNodeAgent,
  createNodeResolver,
  type DispatcherOptions,
  systemLookupFrom,
} from './node.ts';
