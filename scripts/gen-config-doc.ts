// Regenerates docs/config.md from the topology schema (src/topology/schema.ts and sections/):
// `npm run docs:config`. A test fails when the file is out of date.
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { topologySchema } from '../src/topology/index.ts';

interface Row {
  path: string;
  type: string;
  def: string;
  rule: string;
}

function unwrap(s: z.ZodTypeAny): { s: z.ZodTypeAny; def?: unknown; optional: boolean } {
  let def: unknown;
  let optional = false;
  for (;;) {
    if (s instanceof z.ZodDefault) {
      def = s._def.defaultValue();
      s = s.removeDefault();
    } else if (s instanceof z.ZodOptional || s instanceof z.ZodNullable) {
      optional = true;
      s = s.unwrap();
    } else if (s instanceof z.ZodEffects) s = s.innerType();
    else return { s, def, optional };
  }
}

function typeName(s: z.ZodTypeAny): string {
  if (s instanceof z.ZodString) return 'string';
  if (s instanceof z.ZodNumber) return s.isInt ? 'integer' : 'number';
  if (s instanceof z.ZodBoolean) return 'boolean';
  if (s instanceof z.ZodEnum) return (s.options as string[]).map((o) => `\`${o}\``).join(' \\| ');
  if (s instanceof z.ZodLiteral) return JSON.stringify(s.value);
  if (s instanceof z.ZodArray) return `list of ${typeName(unwrap(s.element).s)}`;
  if (s instanceof z.ZodRecord) return 'map';
  if (s instanceof z.ZodObject) return 'mapping';
  if (s instanceof z.ZodDiscriminatedUnion) return `mapping by \`${s.discriminator}\``;
  if (s instanceof z.ZodUnion) return (s.options as z.ZodTypeAny[]).map((o) => typeName(unwrap(o).s)).join(' or ');
  return 'any';
}

function rules(s: z.ZodTypeAny): string {
  if (s instanceof z.ZodUnion)
    return (s.options as z.ZodTypeAny[])
      .map((o) => rules(unwrap(o).s))
      .filter(Boolean)
      .join('; ');
  const out: string[] = [];
  for (const c of (s._def.checks ?? []) as { kind: string; value?: unknown; inclusive?: boolean; message?: string }[]) {
    if (c.kind === 'min') out.push(`${c.inclusive === false ? '>' : '≥'} ${c.value}`);
    else if (c.kind === 'max') out.push(`${c.inclusive === false ? '<' : '≤'} ${c.value}`);
    else if (c.kind === 'regex' && c.message) out.push(c.message);
  }
  return out.join(', ');
}

function walk(s0: z.ZodTypeAny, path: string, rows: Row[]): void {
  const { s, def, optional } = unwrap(s0);
  if (path) {
    rows.push({
      path,
      type: typeName(s),
      def: def === undefined ? (optional ? '(optional)' : '**required**') : `\`${JSON.stringify(def)}\``,
      rule: rules(s),
    });
  }
  if (s instanceof z.ZodObject)
    for (const [k, v] of Object.entries(s.shape)) walk(v as z.ZodTypeAny, path ? `${path}.${k}` : k, rows);
  else if (s instanceof z.ZodUnion) {
    // a scalar or a mapping (`capacity: 1000` or `capacity: { rps: 1000 }`): the mapping's fields
    for (const o of s.options as z.ZodTypeAny[]) {
      const u = unwrap(o).s;
      if (u instanceof z.ZodObject)
        for (const [k, v] of Object.entries(u.shape)) walk(v as z.ZodTypeAny, `${path}.${k}`, rows);
    }
  } else if (s instanceof z.ZodDiscriminatedUnion) {
    // one row per variant's field, saying which variant it belongs to
    const key = s.discriminator as string;
    for (const o of s.options as z.ZodObject<z.ZodRawShape>[]) {
      const tag = (o.shape[key] as z.ZodLiteral<unknown>).value;
      rows.push({ path: `${path}.${key}`, type: JSON.stringify(tag), def: '', rule: 'selects this variant' });
      for (const [k, v] of Object.entries(o.shape)) {
        if (k === key) continue;
        const at = rows.length;
        walk(v as z.ZodTypeAny, `${path}.${k}`, rows);
        for (const r of rows.slice(at)) r.rule = [`when ${key}: ${String(tag)}`, r.rule].filter(Boolean).join('; ');
      }
    }
  } else if (s instanceof z.ZodRecord) walk(s.valueSchema, `${path}.<name>`, rows);
  else if (s instanceof z.ZodArray) {
    const el = unwrap(s.element).s;
    if (el instanceof z.ZodObject) walk(el, `${path}[]`, rows);
  }
}

export function renderConfigDoc(): string {
  const rows: Row[] = [];
  walk(topologySchema, '', rows);
  return `# Topology configuration

Generated from the zod schema (\`src/topology/schema.ts\`, \`src/topology/sections/*.ts\`) by
\`npm run docs:config\`; the comment beside each field in those files says what it is for.
Unknown keys are errors. \`multizone validate FILE\` checks a file without starting anything.

| path | type | default | rule |
| --- | --- | --- | --- |
${rows.map((r) => `| \`${r.path}\` | ${r.type} | ${r.def} | ${r.rule.replace(/\|/g, '\\|')} |`).join('\n')}
`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  writeFileSync('docs/config.md', renderConfigDoc());
  console.log('docs/config.md written');
}
