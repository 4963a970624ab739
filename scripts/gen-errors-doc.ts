// Regenerates docs/errors.md from every src/*/errors.ts registry: `npm run docs:errors`.
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { errorRegistry } from '../src/core/errors.ts';

export async function loadAllErrorModules(root = 'src'): Promise<Map<string, string>> {
  for (const dir of readdirSync(root)) {
    const f = join(root, dir, 'errors.ts');
    if (existsSync(f)) await import(pathToFileURL(join(process.cwd(), f)).href);
  }
  return errorRegistry;
}

export function renderErrorsDoc(reg: Map<string, string>): string {
  const rows = [...reg.entries()].sort(([a], [b]) => a.localeCompare(b));
  return `# Error codes

Every error multizone raises on purpose carries one of these codes. A code never changes
meaning once shipped; messages may. Generated from \`src/*/errors.ts\` by
\`npm run docs:errors\`; a test fails when this file and the code disagree.

Codes keep the name they shipped with, wherever the code that raises them lives now: the
control Kv's \`ERR_FAILOVER_KV_*\` are raised by the shard map (\`src/shardmap\`) and
\`ERR_FAILOVER_DRILL\` by the drill (\`src/drill\`), which had no folders of their own when
those codes shipped.

| code | meaning |
| --- | --- |
${rows.map(([c, m]) => `| \`${c}\` | ${m} |`).join('\n')}
`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const reg = await loadAllErrorModules();
  writeFileSync('docs/errors.md', renderErrorsDoc(reg));
  console.log(`docs/errors.md: ${reg.size} codes`);
}
