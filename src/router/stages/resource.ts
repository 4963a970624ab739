import type { MatchedResource, Stage } from '../types.ts';

/** Matches the request path to a resource by its longest path prefix (enriches ctx.resource). */
export const resourceStage: Stage = {
  name: 'resource',
  create(_config, { topology }) {
    const table: [string, MatchedResource][] = [];
    for (const [name, r] of Object.entries(topology.config.resources))
      for (const p of r.paths) table.push([p.endsWith('/') && p.length > 1 ? p.slice(0, -1) : p, { ...r, name }]);
    table.sort((a, b) => b[0].length - a[0].length);
    if (table.length === 0) return null;
    return (ctx, next) => {
      const path = ctx.path;
      for (const [prefix, r] of table) {
        if (path === prefix || (path.startsWith(prefix) && (prefix === '/' || path.charCodeAt(prefix.length) === 47))) {
          ctx.resource = r;
          break;
        }
      }
      return next();
    };
  },
};
