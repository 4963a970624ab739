// `node --import ./bin/ts.mjs file.ts`: runs TypeScript sources through bin/ts-hooks.mjs,
// with stack traces mapped back to the .ts lines.
import { register } from 'node:module';

process.setSourceMapsEnabled(true);
register('./ts-hooks.mjs', import.meta.url);
