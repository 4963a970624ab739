#!/usr/bin/env node
// Builds the operator console (web/console: preact + htm + uPlot) into dist/console with
// esbuild: one minified ES module, one stylesheet (uPlot's and ours), the page. Run by
// `npm run build`; the control API serves the result at GET /.
import { copyFileSync, mkdirSync } from 'node:fs';
import { build } from 'esbuild';

const out = 'dist/console';
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: 'web/console/main.js' },
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome100', 'firefox100', 'safari15'],
  outdir: out,
  legalComments: 'none',
  logLevel: 'warning',
});
await build({
  entryPoints: { app: 'web/console/app.css' },
  bundle: true,
  minify: true,
  outdir: out,
  logLevel: 'warning',
});
copyFileSync('web/console/index.html', `${out}/index.html`);
