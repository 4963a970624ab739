import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/** Every module browser.ts reaches, by relative imports (type-only imports included, to be strict). */
function graph(entry: string): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    const text = readFileSync(file, 'utf8');
    const specs = [...text.matchAll(/(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/g)].map((m) => m[1]!);
    seen.set(file, specs);
    for (const s of specs) if (s.startsWith('.')) visit(resolve(dirname(file), s));
  };
  visit(entry);
  return seen;
}

test('sdk/browser: the browser entry reaches no Node-only module', () => {
  const g = graph(fileURLToPath(new URL('./browser.ts', import.meta.url)));
  const bare = [...g.entries()].flatMap(([f, specs]) =>
    specs.filter((s) => !s.startsWith('.')).map((s) => `${f}: ${s}`),
  );
  assert.deepEqual(bare, [], 'browser.ts must import only relative, browser-safe modules');
  assert.ok([...g.keys()].some((f) => f.endsWith('resolver.ts')));
  assert.ok(![...g.keys()].some((f) => f.endsWith('node.ts')));
});
