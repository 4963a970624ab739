// Module hooks that run our TypeScript sources directly: esbuild strips the types, nothing else.
// We don't use tsx for this: it compiles with esbuild's keepNames, which wraps every closure in
// an Object.defineProperty(fn, 'name') call each time the closure is created — a few thousand
// instructions per request on hot paths (measured with callgrind on HTTPDNS /d).
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';

const options = {
  loader: 'ts',
  format: 'esm',
  target: `node${process.versions.node}`,
  sourcemap: 'inline',
  // the tsconfig.json options that change emitted code
  tsconfigRaw: { compilerOptions: { verbatimModuleSyntax: true, useDefineForClassFields: true } },
};

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !/\.[cm]?ts$/.test(url)) return nextLoad(url, context);
  const file = fileURLToPath(url);
  const source = await readFile(file, 'utf8');
  const out = await transform(source, { ...options, sourcefile: file });
  return { format: url.endsWith('.cts') ? 'commonjs' : 'module', source: out.code, shortCircuit: true };
}
